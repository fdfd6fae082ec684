import type { Logger, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { isConsentryError } from '../../../src/core/errors.js';
import type { Clock } from '../../../src/ports/clock.js';
import {
  ACTIONS_BY_EVENT_TYPE,
  ALERT_ID_PATTERN,
  type AlertClaim,
  type AlertResolution,
  type AlertStore,
  type SlackActionHandler,
  type SlackActionId,
  type SlackActionResult,
  type SlackAlert,
} from '../actions-port.js';
import type { AlertMessageInput } from '../blocks/common.js';
import { erasedAlertMessage } from '../blocks/erased.js';
import { noticeModal } from '../blocks/notice-modal.js';
import { notInEffectMessage, resolutionLine, resolvedMessage } from '../blocks/resolved.js';
import { escapeInline } from '../escape.js';
import { UNPARSED_TEXT, type WebClient } from '../web.js';

/** What every listener needs; built once by createSlackApp. */
export interface ListenerDeps {
  workspaceId: string;
  allowedUserIds: ReadonlySet<string>;
  handler: SlackActionHandler;
  alerts: AlertStore;
  clock: Clock;
  logger: Logger;
  /** Registers work that outlives the HTTP acknowledgement, so shutdown (and tests) can wait for it. */
  track(work: () => Promise<void>): Promise<void>;
}

export const SlackUserIdSchema = z.string().regex(/^[UW][A-Z0-9]{2,30}$/);
export const SlackChannelIdSchema = z.string().regex(/^[CDG][A-Z0-9]{2,30}$/);
export const SlackTsSchema = z.string().regex(/^\d{1,12}\.\d{1,8}$/);

/**
 * The parts of a block_actions payload a button listener reads
 * (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload). Parsed, not cast:
 * the signature proves the request came from Slack, not that it has the shape we expect.
 */
const ButtonClickSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: SlackUserIdSchema }),
  trigger_id: z.string().min(1).optional(),
  container: z.object({ type: z.literal('message'), channel_id: SlackChannelIdSchema, message_ts: SlackTsSchema }),
  actions: z
    .array(z.object({ type: z.literal('button'), action_id: z.string(), value: z.string().regex(ALERT_ID_PATTERN) }))
    .length(1),
});

export interface ButtonClick {
  userId: string;
  channel: string;
  messageTs: string;
  alertId: string;
  actionId: string;
  triggerId: string | null;
}

export function parseButtonClick(body: unknown): ButtonClick | null {
  const parsed = ButtonClickSchema.safeParse(body);
  if (!parsed.success) return null;
  const [action] = parsed.data.actions;
  if (!action) return null;
  return {
    userId: parsed.data.user.id,
    channel: parsed.data.container.channel_id,
    messageTs: parsed.data.container.message_ts,
    alertId: action.value,
    actionId: action.action_id,
    triggerId: parsed.data.trigger_id ?? null,
  };
}

export const MESSAGES = {
  notAllowed:
    'You are not allowed to act on Consentry alerts, so nothing was changed. Ask a Consentry admin to add your Slack user to the allowed list.',
  // Retention deletes an alert once it is closed and older than RETENTION_DAYS (alert-store.ts
  // alertExpired); a button left on its message, or a modal opened before, comes here.
  notFound: 'Consentry no longer knows this alert: a closed alert is deleted once it is older than the retention period. Nothing was changed.',
  inProgress: 'Someone is handling this alert right now; nothing was changed.',
  notApplicable: 'This button does not apply to this alert; nothing was changed.',
  failed: 'The action failed; try again in a moment.',
  doneButOpen:
    'Done, but Consentry could not mark this alert as handled, so its buttons stay. Using one again changes nothing more.',
  erased: 'The contact of this alert was erased, so the alert is closed; nothing was changed.',
} as const;

export function alertMessageInput(alert: SlackAlert): AlertMessageInput {
  return { alertId: alert.id, event: alert.event, contactName: alert.contactName, contactUrl: alert.contactUrl };
}

export function idempotencyKey(alertId: string, action: SlackActionId): string {
  return `slack:${alertId}:${action}`;
}

/** The person who clicked or submitted, and the ways to answer them privately. */
export interface Recipient {
  client: WebClient;
  userId: string;
  /** The channel of the alert message. */
  channel: string;
  /** Bolt's `respond`, bound to the interaction's `response_url`; a modal submission has none. */
  respond?: RespondFn | undefined;
  /** The interaction's trigger id, which can open one modal within 3 seconds of it. */
  triggerId?: string | null;
}

/**
 * Tells one person something only they see. First through the interaction's `response_url` as an
 * ephemeral reply that leaves the alert as it is: it reaches the person whether or not they are in
 * the channel (https://docs.slack.dev/interactivity/handling-user-interaction: up to 5 replies
 * within 30 minutes). Then chat.postEphemeral, which needs them to be in the channel
 * (`user_not_in_channel`: https://docs.slack.dev/reference/methods/chat.postEphemeral); anyone can
 * open a public channel and click without joining it. Last, while the trigger id is fresh, a modal
 * with the message.
 */
export async function tellUser(deps: ListenerDeps, to: Recipient, text: string): Promise<void> {
  if (to.respond) {
    try {
      await to.respond({ response_type: 'ephemeral', replace_original: false, text, ...UNPARSED_TEXT });
      return;
    } catch (error) {
      deps.logger.warn('Could not answer through the response_url; posting an ephemeral message instead', error);
    }
  }
  try {
    await to.client.chat.postEphemeral({ channel: to.channel, user: to.userId, text, ...UNPARSED_TEXT });
    return;
  } catch (error) {
    if (!to.triggerId) {
      deps.logger.error('Could not post an ephemeral message to Slack', error);
      return;
    }
    deps.logger.warn('Could not post an ephemeral message to Slack; opening a modal instead', error);
  }
  try {
    await to.client.views.open({ trigger_id: to.triggerId, view: noticeModal(text) });
  } catch (error) {
    deps.logger.error('Could not tell the Slack user: the response_url, chat.postEphemeral and views.open all failed', error);
  }
}

/**
 * Replaces the alert with its resolved form: same facts, who did what and when, no buttons. An
 * alert whose contact was erased meanwhile gets its erased form instead (blocks/erased.ts), so this
 * edit never puts back what the erasure took out.
 */
export async function showResolved(
  deps: ListenerDeps,
  client: WebClient,
  target: { channel: string; ts: string },
  alert: SlackAlert,
  resolution: AlertResolution,
): Promise<void> {
  const message = alert.erased
    ? erasedAlertMessage({ alert: alertMessageInput(alert), resolution })
    : resolvedMessage({ alert: alertMessageInput(alert), resolution });
  try {
    await client.chat.update({ channel: target.channel, ts: target.ts, text: message.text, blocks: message.blocks, ...UNPARSED_TEXT });
  } catch (error) {
    deps.logger.error('Could not update the Slack alert message', error);
  }
}

export type AlertCheck =
  | { ok: true; alert: SlackAlert }
  | { ok: false; message: string; resolved?: { alert: SlackAlert; resolution: AlertResolution } };

/** Who may act, whether the alert exists, is still open and offers this action. Changes nothing. */
export async function checkAlert(
  deps: ListenerDeps,
  input: { userId: string; alertId: string; action: SlackActionId },
): Promise<AlertCheck> {
  if (!deps.allowedUserIds.has(input.userId)) return { ok: false, message: MESSAGES.notAllowed };
  const alert = await deps.alerts.get(deps.workspaceId, input.alertId);
  if (!alert) return { ok: false, message: MESSAGES.notFound };
  if (alert.erased) return { ok: false, message: MESSAGES.erased };
  if (alert.resolution) {
    return {
      ok: false,
      message: `Already handled: ${resolutionLine(alert.resolution)}`,
      resolved: { alert, resolution: alert.resolution },
    };
  }
  if (!ACTIONS_BY_EVENT_TYPE[alert.event.type].includes(input.action)) return { ok: false, message: MESSAGES.notApplicable };
  return { ok: true, alert };
}

export type ClaimCheck =
  | { ok: true; alert: SlackAlert; claim: AlertClaim }
  | { ok: false; message: string; resolved?: { alert: SlackAlert; resolution: AlertResolution } };

/** The compare-and-set that makes a second click change nothing. */
export async function claimAlert(
  deps: ListenerDeps,
  input: { userId: string; alertId: string; action: SlackActionId },
): Promise<ClaimCheck> {
  const claim: AlertClaim = { action: input.action, slackUserId: input.userId, at: deps.clock.now().toISOString() };
  const result = await deps.alerts.claim(deps.workspaceId, input.alertId, claim);
  switch (result.status) {
    case 'claimed':
      return { ok: true, alert: result.alert, claim };
    case 'already_resolved':
      return {
        ok: false,
        message: `Already handled: ${resolutionLine(result.resolution)}`,
        resolved: { alert: result.alert, resolution: result.resolution },
      };
    case 'in_progress':
      return { ok: false, message: MESSAGES.inProgress };
    case 'erased':
      return { ok: false, message: MESSAGES.erased };
    case 'not_found':
      return { ok: false, message: MESSAGES.notFound };
  }
}

function failureMessage(error: unknown): string {
  if (isConsentryError(error)) return `Nothing was changed: ${escapeInline(error.message, 300)}`;
  return MESSAGES.failed;
}

/**
 * Carries out a claimed action once: on success the alert is resolved and its message updated; on
 * a refusal or an error the claim is given back (so someone can try again) and the user is told why.
 * DESIGN §1: expected refusals are results, failures are ConsentryErrors, both end as a private answer.
 */
export async function performClaimed(
  deps: ListenerDeps,
  to: Recipient,
  input: {
    claimed: { alert: SlackAlert; claim: AlertClaim };
    target: { channel: string; ts: string };
    perform: (alert: SlackAlert) => Promise<SlackActionResult>;
    resolution?: Partial<Pick<AlertResolution, 'legalBasis'>>;
  },
): Promise<void> {
  const { alert, claim } = input.claimed;
  let result: SlackActionResult;
  try {
    result = await input.perform(alert);
  } catch (error) {
    deps.logger.error(`Slack action ${claim.action} failed for alert ${alert.id}`, error);
    await deps.alerts.release(deps.workspaceId, alert.id, claim);
    await tellUser(deps, to, failureMessage(error));
    return;
  }
  if (result.outcome === 'refused') {
    await deps.alerts.release(deps.workspaceId, alert.id, claim);
    await tellUser(deps, to, `Nothing was changed: ${escapeInline(result.message, 300)}`);
    return;
  }
  const resolution: AlertResolution = { ...claim, ...input.resolution, ...(result.supersededBy ? { supersededBy: result.supersededBy } : {}) };
  let resolved: SlackAlert;
  try {
    resolved = await deps.alerts.resolve(deps.workspaceId, alert.id, resolution);
  } catch (error) {
    // The action succeeded but the alert stays open, its claim held until it expires; a later click
    // then acts again. That is harmless for the decisions, whose idempotency key records nothing
    // twice, and for a resend, which the handler refuses once a run started after the failure
    // (engine-actions.ts): the engine's startWorkflow takes no idempotency key.
    deps.logger.error(`Could not mark Slack alert ${alert.id} as handled`, error);
    await tellUser(deps, to, result.supersededBy ? `${MESSAGES.doneButOpen} ${notInEffectMessage(result.supersededBy)}` : MESSAGES.doneButOpen);
    return;
  }
  await showResolved(deps, to.client, input.target, resolved, resolution);
  // The message says so to everyone; the person who clicked also hears it at once.
  if (result.supersededBy) await tellUser(deps, to, notInEffectMessage(result.supersededBy));
}

/**
 * The whole flow of a button that acts at once (resend, apply opt-out, not an opt-out): acknowledge
 * within Slack's 3 seconds, then check, claim, act, and update the message.
 */
export async function runButtonAction(
  deps: ListenerDeps,
  args: { body: unknown; client: WebClient; ack: () => Promise<void>; respond?: RespondFn | undefined },
  action: SlackActionId,
  perform: (alert: SlackAlert, click: ButtonClick) => Promise<SlackActionResult>,
): Promise<void> {
  await deps.track(async () => {
    await args.ack();
    const click = parseButtonClick(args.body);
    if (!click || click.actionId !== action) {
      deps.logger.warn(`Ignored a malformed ${action} payload`);
      return;
    }
    const to = recipientOf(args.client, click, args.respond);
    await reportingFailures(deps, to, click, () => handleButtonClick(deps, to, click, action, perform));
  });
}

/** Who clicked, and how to answer them. */
export function recipientOf(client: WebClient, click: ButtonClick, respond: RespondFn | undefined): Recipient {
  return { client, userId: click.userId, channel: click.channel, respond, triggerId: click.triggerId };
}

/** A store or network failure after the acknowledgement still reaches the user, privately. */
export async function reportingFailures(
  deps: ListenerDeps,
  to: Recipient,
  click: Pick<ButtonClick, 'actionId' | 'alertId'>,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    deps.logger.error(`Slack action ${click.actionId} failed for alert ${click.alertId}`, error);
    await tellUser(deps, to, MESSAGES.failed);
  }
}

async function handleButtonClick(
  deps: ListenerDeps,
  to: Recipient,
  click: ButtonClick,
  action: SlackActionId,
  perform: (alert: SlackAlert, click: ButtonClick) => Promise<SlackActionResult>,
): Promise<void> {
  const target = { channel: click.channel, ts: click.messageTs };
  const check = await checkAlert(deps, { userId: click.userId, alertId: click.alertId, action });
  if (!check.ok) {
    await tellUser(deps, to, check.message);
    // Someone may have handled it without the message being updated (a failed chat.update): heal it.
    if (check.resolved) await showResolved(deps, to.client, target, check.resolved.alert, check.resolved.resolution);
    return;
  }
  const claimed = await claimAlert(deps, { userId: click.userId, alertId: click.alertId, action });
  if (!claimed.ok) {
    await tellUser(deps, to, claimed.message);
    if (claimed.resolved) await showResolved(deps, to.client, target, claimed.resolved.alert, claimed.resolved.resolution);
    return;
  }
  await performClaimed(deps, to, { claimed, target, perform: (alert) => perform(alert, click) });
}
