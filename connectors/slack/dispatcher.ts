import type { Engine } from '../../src/engine.js';
import type { Clock } from '../../src/ports/clock.js';
import type { IdGenerator } from '../../src/ports/ids.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { WorkerLogger } from '../../src/worker/logger.js';
import { silentLogger } from '../../src/worker/logger.js';
import { PollingLoop } from '../../src/worker/polling-loop.js';
import { SLACK_ALERT_EVENT_TYPES, type SlackAlert, type SlackAlertEventType } from './actions-port.js';
import { SlackAlertEventSchema, type AlertPlanner, type SlackAlertRecord, type SlackAlertStore, type SlackMessageRef } from './alert-store.js';
import type { AlertMessageInput, SlackMessage } from './blocks/common.js';
import { consentFailedMessage } from './blocks/consent-failed.js';
import { digestMessage } from './blocks/digest.js';
import { erasedAlertMessage } from './blocks/erased.js';
import { optoutReviewMessage } from './blocks/optout-review.js';
import { syncFailedMessage } from './blocks/sync-failed.js';
import { hubspotContactUrl, resolveAllSlackConfigs, type SlackEnv, type SlackWorkspaceConfig } from './config.js';
import { alertContactId, erasedAlert } from './erasure.js';
import { boltLogger } from './logger.js';
import { AlertPacer, DEFAULT_DIGEST_WINDOW_MS, type DigestSnapshot, type PacerStep, type ResumedDigest } from './pacer.js';
import { createSlackWebClient, slackMessenger, type PostedMessage, type SlackCallOutcome, type SlackMessenger } from './web.js';

/**
 * Posts Consentry's alerts to Slack: a BackgroundWorker beside the server.
 *
 * Each pass (`runOnce`):
 * 1. reads the outbox after its own cursor and turns consent.failed, optout.review_needed and
 *    sync.failed events into alert rows, in the transaction that advances the cursor
 *    (alert-store.ts: at least once, one alert per event). Rows are made for the workspaces whose
 *    Slack is on, and for the one whose environment names only part of the set-up: its alerts wait,
 *    pending, until the set-up is complete (DESIGN §1: nothing is lost). A workspace with no Slack
 *    set-up at all gets none, so rows never pile up where nobody will read them; turning Slack on
 *    later does not alert what happened before;
 * 2. hands every pending alert to its workspace's pacer (pacer.ts: about one message per second
 *    per channel; a burst of consent and sync failures folded into one digest edited in place,
 *    opt-out reviews always posted one by one, since only their own message has the buttons a
 *    person needs to decide on them, DESIGN §3);
 * 3. makes the calls the pacers allow now (chat.postMessage, chat.update) and records each outcome
 *    on the alert, so an alert that was posted is never posted again, after a restart included.
 *
 * Slack's answers (https://docs.slack.dev/apis/web-api/rate-limits): a 429 on chat.postMessage
 * pauses the channel for its Retry-After; a 429 on chat.update (a Tier 3 method, limited per
 * workspace) pauses digest edits only. A network failure, a 5xx or an error Slack calls temporary
 * (an Enterprise migration included) pauses the channel with an exponential backoff. An error of the
 * workspace's set-up (invalid_auth, token_revoked, not_in_channel, restricted_action …) is no fault
 * of the alert: every alert would meet it, so all of them stay pending, the log says how to fix it,
 * and the workspace's alerts are tried again as soon as its Slack settings change, or after `holdMs`
 * (a bot invited back to the channel changes no setting). Alerts an earlier version marked failed
 * for such an error, or for its digest's message, are put back to pending then too. A digest whose
 * message is gone or can no longer be edited is dropped, and the alerts it did not show yet are
 * posted one by one. Only an error of the alert itself (blocks Slack will not take, a text too
 * long, an answer that may hide a post) marks it failed for good.
 * The one gap left is a crash between Slack accepting a message and the alert being marked posted:
 * chat.postMessage has no idempotency key, so that alert is posted again after the restart.
 *
 * A contact's erasure (GDPR Art. 17) read from the outbox redacts and closes its stored alerts
 * (alert-store.ts) and the alerts of that contact waiting in the pacers, so nothing posted
 * afterwards names or quotes the person: such an alert goes out in its erased form ("Contact
 * erased", no buttons: blocks/erased.ts), as does one planned for a contact erased already. Every
 * message Slack already shows of them is edited with chat.update
 * (https://docs.slack.dev/reference/methods/chat.update): an alert posted on its own becomes its
 * erased form, a digest that listed one is shown again, from the alerts it showed, with
 * "Contact erased" for its line. The store marks those messages in the transaction that reads the
 * erasure, and each edit is paced like the digest edits and retried like them; only once Slack
 * accepted it, or answered that the message is gone (`message_not_found`, `cant_update_message`)
 * or can no longer be edited (`edit_window_closed`, logged), is it marked done. An edit Slack
 * refuses otherwise waits, still marked, for the workspace's next lane (a settings change, a
 * restart) rather than being retried every second.
 *
 * A workspace's lane (its pacer, its open digest) lives in memory and is built again on start(),
 * when the worker lease comes back, when the Slack settings change and after a hold. A new lane
 * takes up the burst from the store before it enqueues anything (`resume`): the alerts its channel
 * showed within the digest window still count towards the burst, and the newest digest there,
 * while open (its last alert within the window), is edited in place with the alerts it already
 * listed and the new ones. A digest posted with another bot token or in another channel is not
 * taken up: it cannot be edited, so the burst goes on in a new message.
 */

export interface SlackDispatcherOptions {
  engine: Pick<Engine, 'listWorkspaces'>;
  alerts: SlackAlertStore;
  clock: Clock;
  /** The environment's Slack values, for the default workspace (config.ts). */
  env: SlackEnv;
  ids?: IdGenerator;
  logger?: WorkerLogger;
  /** Defaults to https://slack.com/api/. */
  slackApiUrl?: string;
  /** Replaces the Web API client per workspace (tests, proxies). */
  messengerFor?: (config: SlackWorkspaceConfig) => SlackMessenger;
  /** How often the loop looks for new events when the pacers have nothing scheduled sooner. */
  intervalMs?: number;
  /** Outbox events read per ingesting transaction. */
  batchSize?: number;
  /** Events older than this when first read are not alerted: a late alert about old news is noise. */
  maxEventAgeMs?: number;
  /** Pacer settings; the digest threshold comes from each workspace's settings. */
  minIntervalMs?: number;
  digestWindowMs?: number;
  /** Minimum gap between two edits of one digest message. */
  digestUpdateIntervalMs?: number;
  /** Longest pause after repeated network failures. */
  maxBackoffMs?: number;
  /** How long a workspace's alerts wait after a set-up error before one is tried again (a settings change retries at once). */
  holdMs?: number;
}

export interface SlackDispatchSummary {
  /** Outbox events read. */
  events: number;
  /** Alerts created from them. */
  alerts: number;
  posted: number;
  digestsPosted: number;
  digestsUpdated: number;
  /** Digests whose message Slack refused to post or edit; the alerts they had not shown are posted one by one. */
  digestsDropped: number;
  rateLimited: number;
  retried: number;
  /** Alerts marked failed for good (only those that were still pending). */
  failed: number;
  /** Alerts left pending because the workspace's Slack set-up is broken. */
  held: number;
  /** Messages edited (or found gone) because they showed a contact erased since. */
  redacted: number;
}

export const DEFAULT_SLACK_INTERVAL_MS = 250;
const DEFAULT_BATCH_SIZE = 500;
const MAX_BATCHES_PER_PASS = 20;
const DEFAULT_MAX_EVENT_AGE_MS = 24 * 60 * 60 * 1000;
const DEFAULT_MAX_BACKOFF_MS = 5 * 60 * 1000;
const DEFAULT_HOLD_MS = 15 * 60 * 1000;
/** Alerts taken from the store per workspace and pass; the rest follow on the next passes. */
const PENDING_PER_PASS = 1000;
/** A digest keeps every folded alert, so each one can be marked as shown when the digest goes out. */
const DIGEST_ITEM_LIMIT = 10_000;

/**
 * Slack error codes that a later attempt may not meet (https://docs.slack.dev/reference/methods/chat.postMessage#errors):
 * `org_login_required` and `team_added_to_org` say the workspace is being migrated to an
 * Enterprise organisation and is unavailable until the migration completes.
 */
const TRANSIENT_SLACK_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
  'org_login_required',
  'team_added_to_org',
]);

/**
 * What to tell the operator for the errors a set-up causes: every alert would meet them, and they
 * end when someone changes the workspace, the channel or the app
 * (https://docs.slack.dev/reference/methods/chat.postMessage#errors).
 */
const SETUP_HINTS: Readonly<Record<string, string>> = {
  not_in_channel: 'invite the bot to the alert channel (/invite @consentry)',
  channel_not_found: 'set the alert channel to a channel id the bot can see',
  is_archived: 'choose an alert channel that is not archived',
  invalid_auth: 'the bot token is wrong or revoked',
  not_authed: 'the bot token is missing',
  account_inactive: 'the bot token belongs to a deactivated app or workspace',
  token_revoked: 'the bot token was revoked: reinstall the app',
  token_expired: 'the bot token expired (token rotation is on): turn token rotation off for the app and set its new token',
  missing_scope: 'reinstall the app from `consentry slack manifest` to grant chat:write',
  no_permission: 'the app may not post in the alert channel: add the app to the channel or reinstall it',
  restricted_action: 'a workspace preference stops the bot from posting: a Slack admin must allow apps to post in the alert channel',
  restricted_action_read_only_channel: 'the alert channel is read-only: let the bot post there or choose another channel',
  restricted_action_thread_only_channel: 'the alert channel takes replies in threads only: choose a channel that takes messages',
  ekm_access_denied: 'Slack Enterprise Key Management suspended posting: an admin must restore access to the workspace key',
};

/** The errors of a workspace's set-up, not of one alert. */
const SETUP_ERRORS: ReadonlySet<string> = new Set(Object.keys(SETUP_HINTS));

/**
 * The errors an alert can have been marked failed for, by an earlier version, although nothing was
 * wrong with the alert: set-up errors, errors now known to be temporary, and chat.update's errors
 * about a digest message (https://docs.slack.dev/reference/methods/chat.update#errors), which an
 * alert folded into it met only because of the digest. They are put back to pending.
 */
const REQUEUED_FAILURES: readonly string[] = [
  ...SETUP_ERRORS,
  'org_login_required',
  'team_added_to_org',
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
];

/**
 * chat.update's answers for a message that cannot show the contact any more, or can no longer be
 * edited at all (https://docs.slack.dev/reference/methods/chat.update#errors): the redaction of that
 * message is done.
 */
const MESSAGE_GONE_ERRORS: ReadonlySet<string> = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

/** Opt-out reviews need a person to decide, with the review's own buttons: never folded into a digest. */
export function isFoldableAlert(alert: SlackAlert): boolean {
  return alert.event.type !== 'optout.review_needed';
}

/** Where the alerts of a workspace go, as far as its set-up says (complete or not). */
interface AlertDestination {
  /** Empty while the environment does not name the channel yet: alerts go to the channel set when they are posted. */
  alertChannel: string;
  hubspotPortalId: string | null;
}

interface ResolvedConfigs {
  /** Workspaces whose Slack is on. */
  on: Map<string, SlackWorkspaceConfig>;
  /** Every workspace whose alerts are recorded: those on, and the one whose set-up is incomplete. */
  recorded: Map<string, AlertDestination>;
}

interface Lane {
  key: string;
  config: SlackWorkspaceConfig;
  pacer: AlertPacer<SlackAlert>;
  messenger: SlackMessenger;
  /** Alerts handed to the pacer and not yet recorded as posted, digested or failed. */
  enqueued: Set<string>;
  /** Messages (messageKey) handed to the pacer to be redacted and not yet recorded as done. */
  redacting: Set<string>;
  /** Consecutive transient failures per channel, for the backoff. */
  failures: Map<string, number>;
  /** When the pacer allows the next call (epoch ms), or null when it has nothing to send. */
  nextAt: number | null;
  /** Set after a set-up error: nothing is sent before then (epoch ms) unless the settings change. */
  heldUntil: number | null;
  /** The set-up error that holds the lane, logged as an error once and as a warning when it recurs. */
  heldError: string | null;
  /**
   * Set while the pacer is new and has not taken up the burst from the store yet (`resume`);
   * `digest` says whether the open digest may be taken up too: not after the bot token or the
   * alert channel changed, since the old message cannot be edited then.
   */
  resume: { digest: boolean } | null;
}

/** The alert's own message: a text fallback, header, fields, the event id and its buttons (blocks/*); its erased form once its contact was erased. */
export function alertMessage(alert: SlackAlert): SlackMessage {
  const base = { alertId: alert.id, contactName: alert.contactName, contactUrl: alert.contactUrl };
  if (alert.erased) return erasedAlertMessage({ alert: { ...base, event: alert.event, erased: true }, resolution: alert.resolution });
  switch (alert.event.type) {
    case 'consent.failed':
      return consentFailedMessage({ ...base, event: alert.event });
    case 'optout.review_needed':
      return optoutReviewMessage({ ...base, event: alert.event });
    case 'sync.failed':
      return syncFailedMessage({ ...base, event: alert.event });
  }
}

function digestLine(alert: SlackAlert): AlertMessageInput {
  return { alertId: alert.id, event: alert.event, contactName: alert.contactName, contactUrl: alert.contactUrl, erased: alert.erased };
}

function digestOf(digest: Pick<DigestSnapshot<SlackAlert>, 'items' | 'total' | 'openedAt'>): SlackMessage {
  return digestMessage({ alerts: digest.items.map(digestLine), total: digest.total, since: digest.openedAt.toISOString() });
}

/**
 * What a message that showed an erased contact becomes, from the alerts it shows (listShownIn): the
 * alert's erased form when it was posted on its own, the digest again (from the alerts it showed,
 * since the first of them was made) when it is a digest. Null when no alert is shown there any more.
 */
function redactedMessage(shown: readonly SlackAlertRecord[]): SlackMessage | null {
  const own = shown.find((alert) => alert.delivery === 'posted');
  if (own) return alertMessage(own);
  const digest = shownDigest(shown);
  return digest === null ? null : digestOf(digest);
}

/** A digest message as a new pacer takes it up, from the alerts it shows (listShownIn); null when it shows none. */
function resumedDigest(ts: string, shown: readonly SlackAlertRecord[]): ResumedDigest<SlackAlert> | null {
  const digest = shownDigest(shown);
  return digest === null ? null : { ts, ...digest };
}

/** The digest the alerts a message shows (listShownIn) make up, as the pacer held it; null when it shows none. */
function shownDigest(shown: readonly SlackAlertRecord[]): Omit<ResumedDigest<SlackAlert>, 'ts'> | null {
  const digested = shown.filter((alert) => alert.delivery === 'digested');
  const [first] = digested;
  if (first === undefined) return null;
  let openedAt = first.createdAt;
  let lastFoldAt = first.createdAt;
  for (const alert of digested) {
    if (alert.createdAt < openedAt) openedAt = alert.createdAt;
    if (alert.createdAt > lastFoldAt) lastFoldAt = alert.createdAt;
  }
  return {
    items: digested.slice(-DIGEST_ITEM_LIMIT),
    total: digested.length,
    openedAt: new Date(openedAt),
    lastFoldAt: new Date(lastFoldAt),
  };
}

function messageKey(message: SlackMessageRef): string {
  return `${message.channel}\u0000${message.ts}`;
}

function alertIdsOf(step: PacerStep<SlackAlert>): string[] {
  if (step.kind === 'edit') return [];
  return step.kind === 'post' ? [step.item.id] : step.digest.items.map((alert) => alert.id);
}

function isAlertEventType(type: string): type is SlackAlertEventType {
  return (SLACK_ALERT_EVENT_TYPES as readonly string[]).includes(type);
}

export class SlackAlertDispatcher {
  private readonly engine: Pick<Engine, 'listWorkspaces'>;
  private readonly alerts: SlackAlertStore;
  private readonly clock: Clock;
  private readonly env: SlackEnv;
  private readonly ids: IdGenerator;
  private readonly logger: WorkerLogger;
  private readonly messengerFor: (config: SlackWorkspaceConfig) => SlackMessenger;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly maxEventAgeMs: number;
  private readonly minIntervalMs: number | undefined;
  private readonly digestWindowMs: number | undefined;
  private readonly digestUpdateIntervalMs: number | undefined;
  private readonly maxBackoffMs: number;
  private readonly holdMs: number;
  private readonly lanes = new Map<string, Lane>();
  private readonly warned = new Set<string>();
  private passes: Promise<unknown> = Promise.resolve();
  private readonly loop: PollingLoop;
  /** Whether this process may post now; given by the worker lease (sendOnlyWhile), always true without one. */
  private holdsLease: () => boolean = () => true;

  constructor(options: SlackDispatcherOptions) {
    this.engine = options.engine;
    this.alerts = options.alerts;
    this.clock = options.clock;
    this.env = options.env;
    this.ids = options.ids ?? ulidGenerator();
    this.logger = options.logger ?? silentLogger;
    const slackApiUrl = options.slackApiUrl;
    const logger = this.logger;
    // The Web API client's own warnings ("http request failed") go to the same log.
    const clientLogger = boltLogger({
      debug: () => undefined,
      info: () => undefined,
      warn: (details, message) => logger.warn(details, message),
      error: (details, message) => logger.error(details, message),
    });
    this.messengerFor =
      options.messengerFor ??
      ((config) =>
        slackMessenger(createSlackWebClient({ token: config.botToken, logger: clientLogger, ...(slackApiUrl ? { slackApiUrl } : {}) })));
    this.intervalMs = Math.max(1, options.intervalMs ?? DEFAULT_SLACK_INTERVAL_MS);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.maxEventAgeMs = options.maxEventAgeMs ?? DEFAULT_MAX_EVENT_AGE_MS;
    this.minIntervalMs = options.minIntervalMs;
    this.digestWindowMs = options.digestWindowMs;
    this.digestUpdateIntervalMs = options.digestUpdateIntervalMs;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.loop = new PollingLoop({
      pass: () => this.runOnce(),
      idleMs: () => this.nextDelayMs(),
      onError: (error) => this.logger.error({ err: error }, 'slack alert dispatcher pass failed'),
    });
  }

  /** One pass at the clock's time: ingest, enqueue, send what may be sent now. Tests drive it on a fake clock. */
  runOnce(): Promise<SlackDispatchSummary> {
    const next = this.passes.then(() => this.pass());
    this.passes = next.catch(() => undefined);
    return next;
  }

  /** Lanes are built afresh from the store: alerts queued before a stop may have been posted by another process since. */
  start(): void {
    this.lanes.clear();
    this.loop.start();
  }

  /**
   * Every Slack call asks `holdsLease` first: a process that lost the worker lease (or outlived it
   * by its own clock, a paused VM) posts nothing more, since the new holder reads the same pending
   * alerts and would post them too.
   */
  sendOnlyWhile(holdsLease: () => boolean): void {
    this.holdsLease = holdsLease;
  }

  /** Resolves once the pass in progress (and the Slack call it is making) has finished. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.passes;
  }

  /** Alerts handed to the pacers and not yet sent, per workspace (for tests and metrics). */
  pending(workspaceId: string): number {
    return this.lanes.get(workspaceId)?.pacer.pending() ?? 0;
  }

  /** Sooner than the polling interval when a pacer has a call scheduled before it. */
  private nextDelayMs(): number {
    const now = this.clock.now().getTime();
    let delay = this.intervalMs;
    for (const lane of this.lanes.values()) {
      if (lane.nextAt !== null) delay = Math.min(delay, Math.max(1, lane.nextAt - now));
    }
    return delay;
  }

  private async pass(): Promise<SlackDispatchSummary> {
    const summary: SlackDispatchSummary = {
      events: 0,
      alerts: 0,
      posted: 0,
      digestsPosted: 0,
      digestsUpdated: 0,
      digestsDropped: 0,
      rateLimited: 0,
      retried: 0,
      failed: 0,
      held: 0,
      redacted: 0,
    };
    const configs = await this.configs();
    await this.ingest(configs.recorded, summary);
    for (const workspaceId of [...this.lanes.keys()]) if (!configs.on.has(workspaceId)) this.lanes.delete(workspaceId);
    for (const config of configs.on.values()) {
      const lane = await this.laneFor(config);
      if (lane.heldUntil !== null && this.clock.now().getTime() < lane.heldUntil) {
        lane.nextAt = lane.heldUntil;
        continue;
      }
      if (lane.resume !== null) await this.resume(lane, lane.resume);
      await this.enqueuePending(lane);
      await this.enqueueRedactions(lane);
      await this.sendAllowed(lane, summary);
    }
    return summary;
  }

  /**
   * Only the default workspace can be incomplete (config.ts: a workspace's own settings are
   * validated whole), so its HubSpot portal is its own setting or HUBSPOT_PORTAL_ID, as config.ts
   * resolves it once the set-up is complete.
   */
  private async configs(): Promise<ResolvedConfigs> {
    const on = new Map<string, SlackWorkspaceConfig>();
    const recorded = new Map<string, AlertDestination>();
    for (const { workspace, resolution } of resolveAllSlackConfigs(await this.engine.listWorkspaces(), this.env)) {
      if (resolution.status === 'on') {
        on.set(workspace.id, resolution.config);
        recorded.set(workspace.id, resolution.config);
      } else if (resolution.status === 'incomplete') {
        recorded.set(workspace.id, {
          alertChannel: this.env.SLACK_ALERT_CHANNEL ?? '',
          hubspotPortalId: workspace.settings.hubspot?.portalId ?? this.env.HUBSPOT_PORTAL_ID ?? null,
        });
        const message = `Slack alerts of workspace ${workspace.id} wait until its Slack set-up is complete: set ${resolution.missing.join(', ')}`;
        if (!this.warned.has(message)) {
          this.warned.add(message);
          this.logger.warn({ workspaceId: workspace.id, missing: resolution.missing }, message);
        }
      }
    }
    return { on, recorded };
  }

  private async ingest(destinations: ReadonlyMap<string, AlertDestination>, summary: SlackDispatchSummary): Promise<void> {
    const now = this.clock.now();
    const planner: AlertPlanner = async (tx, event) => {
      if (!isAlertEventType(event.type)) return null;
      const config = destinations.get(event.workspaceId);
      if (!config) return null;
      if (now.getTime() - Date.parse(event.occurredAt) > this.maxEventAgeMs) return null;
      const parsed = SlackAlertEventSchema.safeParse(event);
      if (!parsed.success) {
        this.logger.warn({ eventId: event.id, type: event.type }, 'skipped an outbox event that does not have the shape of its type');
        return null;
      }
      const contactId = event.contactId ?? parsed.data.data.contactId;
      const contact = contactId ? await tx.getContact(event.workspaceId, contactId) : undefined;
      const live = contact && contact.erasedAt === null ? contact : undefined;
      const eventName = parsed.data.type === 'consent.failed' ? parsed.data.data.contactName : null;
      const alert = {
        id: this.ids.next(now),
        workspaceId: event.workspaceId,
        event: parsed.data,
        contactName: eventName ?? live?.name ?? null,
        contactUrl: hubspotContactUrl(config.hubspotPortalId, live?.hubspotId ?? null),
        slackChannel: config.alertChannel,
        createdAt: now.toISOString(),
      };
      // The engine redacts the events of an erased contact in the outbox, but leaves a sync failure's reason as it is.
      return contact && contact.erasedAt !== null ? erasedAlert(alert) : alert;
    };
    for (let batch = 0; batch < MAX_BATCHES_PER_PASS; batch += 1) {
      const result = await this.alerts.ingest(planner, this.batchSize);
      summary.events += result.events;
      summary.alerts += result.created;
      for (const { workspaceId, contactId } of result.erased) {
        this.lanes
          .get(workspaceId)
          ?.pacer.mapItems((alert) => (alert.workspaceId === workspaceId && alertContactId(alert) === contactId ? erasedAlert(alert) : alert));
      }
      if (result.events < this.batchSize) break;
    }
  }

  /**
   * A workspace's pacer and client; rebuilt, and any hold lifted, when its token, channel or
   * digest threshold changes. A new lane first puts back to pending the alerts that failed for a
   * set-up error: the set-up they met may be fixed now.
   */
  private async laneFor(config: SlackWorkspaceConfig): Promise<Lane> {
    const key = JSON.stringify([config.botToken, config.alertChannel, config.digestThreshold]);
    const current = this.lanes.get(config.workspaceId);
    if (current && current.key === key) {
      current.config = config;
      return current;
    }
    const lane: Lane = {
      key,
      config,
      pacer: this.pacerFor(config),
      messenger: this.messengerFor(config),
      enqueued: new Set(),
      redacting: new Set(),
      failures: new Map(),
      nextAt: null,
      heldUntil: null,
      heldError: null,
      // The lane this one replaces posted with its token in its channel: with either changed, its digest cannot be edited.
      resume: { digest: !current || (current.config.botToken === config.botToken && current.config.alertChannel === config.alertChannel) },
    };
    this.lanes.set(config.workspaceId, lane);
    const requeued = await this.alerts.requeueFailed(config.workspaceId, REQUEUED_FAILURES);
    if (requeued > 0) this.logger.warn({ workspaceId: config.workspaceId, alerts: requeued }, 'Slack alerts that failed for no fault of their own (a set-up error, a lost digest) are posted again');
    return lane;
  }

  private pacerFor(config: SlackWorkspaceConfig): AlertPacer<SlackAlert> {
    return new AlertPacer<SlackAlert>({
      clock: this.clock,
      digestThreshold: config.digestThreshold,
      digestItemLimit: DIGEST_ITEM_LIMIT,
      foldable: isFoldableAlert,
      ...(this.minIntervalMs !== undefined ? { minIntervalMs: this.minIntervalMs } : {}),
      ...(this.digestWindowMs !== undefined ? { digestWindowMs: this.digestWindowMs } : {}),
      ...(this.digestUpdateIntervalMs !== undefined ? { digestUpdateIntervalMs: this.digestUpdateIntervalMs } : {}),
    });
  }

  /**
   * Takes up, in a new pacer, the burst the alert channel is in, from what the store says Slack
   * shows there (pacer.ts `resume`): the alerts shown within the digest window count towards it,
   * each from its `createdAt` (an alert is enqueued in the pass that ingests it, so this is when it
   * arrived, or a little before), and the newest digest among them is the one still open, listed
   * from the alerts it shows (as a redaction renders it: `since` is its first alert's `createdAt`).
   * Done before the pending alerts are enqueued, so they fold into that digest; after a store
   * failure it is tried again on the next pass.
   */
  private async resume(lane: Lane, options: { digest: boolean }): Promise<void> {
    const { workspaceId, alertChannel: channel } = lane.config;
    const since = new Date(this.clock.now().getTime() - (this.digestWindowMs ?? DEFAULT_DIGEST_WINDOW_MS)).toISOString();
    const shown = await this.alerts.listShownSince(workspaceId, channel, since, DIGEST_ITEM_LIMIT);
    const newest = options.digest ? shown.filter((alert) => alert.delivery === 'digested').at(-1)?.message : undefined;
    const digest = newest ? resumedDigest(newest.ts, await this.alerts.listShownIn(workspaceId, newest)) : null;
    lane.pacer.resume(channel, { arrivals: shown.map((alert) => new Date(alert.createdAt)), digest });
    lane.resume = null;
  }

  /** Pending alerts go to the workspace's alert channel as it is set now, which a fixed set-up may have changed. */
  private async enqueuePending(lane: Lane): Promise<void> {
    for (const alert of await this.alerts.listPending(lane.config.workspaceId, PENDING_PER_PASS)) {
      if (lane.enqueued.has(alert.id)) continue;
      lane.enqueued.add(alert.id);
      lane.pacer.enqueue(lane.config.alertChannel, alert);
    }
  }

  /** The messages that still show an erased contact, each handed to the pacer once per lane. */
  private async enqueueRedactions(lane: Lane): Promise<void> {
    for (const message of await this.alerts.listRedactions(lane.config.workspaceId, PENDING_PER_PASS)) {
      const key = messageKey(message);
      if (lane.redacting.has(key)) continue;
      lane.redacting.add(key);
      lane.pacer.enqueueEdit(message.channel, message.ts);
    }
  }

  private async sendAllowed(lane: Lane, summary: SlackDispatchSummary): Promise<void> {
    for (;;) {
      if (!this.holdsLease()) {
        // What this lane queued may be posted by the new holder meanwhile: should the lease come
        // back, the lane is rebuilt from the alerts the store still holds pending.
        this.lanes.delete(lane.config.workspaceId);
        return;
      }
      const poll = lane.pacer.poll();
      if (poll.kind !== 'send') {
        lane.nextAt = poll.kind === 'wait' ? poll.until.getTime() : null;
        return;
      }
      await this.send(lane, poll.step, summary);
    }
  }

  private async send(lane: Lane, step: PacerStep<SlackAlert>, summary: SlackDispatchSummary): Promise<void> {
    if (step.kind === 'edit') return this.sendRedaction(lane, step, summary);
    let outcome: SlackCallOutcome<PostedMessage>;
    switch (step.kind) {
      case 'post':
        outcome = await lane.messenger.postMessage({ channel: step.channel, ...alertMessage(step.item) });
        break;
      case 'post_digest':
        outcome = await lane.messenger.postMessage({ channel: step.channel, ...digestOf(step.digest) });
        break;
      case 'update_digest':
        outcome = await lane.messenger.updateMessage({ channel: step.channel, ts: step.ts, ...digestOf(step.digest) });
        break;
    }
    if (outcome.ok) {
      lane.failures.delete(step.channel);
      lane.heldUntil = null;
      lane.heldError = null;
      lane.pacer.recordSent(step, { ts: outcome.value.ts });
      await this.record(lane, step, summary, outcome.value);
      return;
    }
    if (outcome.reason === 'slack_error' && SETUP_ERRORS.has(outcome.error)) {
      this.hold(lane, step, outcome.error, summary);
      return;
    }
    if ((step.kind === 'post_digest' || step.kind === 'update_digest') && outcome.reason === 'slack_error' && this.isPermanent(outcome)) {
      this.dropDigest(lane, step, outcome.error, summary);
      return;
    }
    this.recordFailure(lane, step, outcome, summary);
    if (this.isPermanent(outcome)) await this.recordPermanentFailure(lane, step, outcome, summary);
  }

  /**
   * Edits a message that shows a contact erased since into its redacted form, rendered now from the
   * store. Done (marked in the store) once Slack took the edit or the message is gone; a rate limit
   * or a transient failure retries it like a digest edit; a set-up error of the alert channel holds
   * the lane as a post would. Any other refusal, or a set-up error in a channel the workspace no
   * longer posts to, leaves it marked in the store and out of this lane: it is tried again when the
   * lane is rebuilt (a settings change, a restart), not every second.
   */
  private async sendRedaction(lane: Lane, step: Extract<PacerStep<SlackAlert>, { kind: 'edit' }>, summary: SlackDispatchSummary): Promise<void> {
    const workspaceId = lane.config.workspaceId;
    const target = { channel: step.channel, ts: step.ts };
    const message = redactedMessage(await this.alerts.listShownIn(workspaceId, target));
    if (message === null) {
      lane.pacer.recordFailed(step, { retry: false });
      await this.finishRedaction(lane, target);
      return;
    }
    const outcome = await lane.messenger.updateMessage({ ...target, ...message });
    const context = { workspaceId, channel: step.channel, ts: step.ts };
    if (outcome.ok) {
      lane.failures.delete(step.channel);
      lane.pacer.recordSent(step, { ts: step.ts });
      if (await this.finishRedaction(lane, target)) summary.redacted += 1;
      return;
    }
    if (outcome.reason === 'slack_error' && MESSAGE_GONE_ERRORS.has(outcome.error)) {
      lane.pacer.recordFailed(step, { retry: false });
      if (outcome.error === 'edit_window_closed') {
        this.logger.error({ ...context, error: outcome.error }, 'A Slack message still shows an erased contact and can no longer be edited: delete it in Slack');
      } else {
        this.logger.warn({ ...context, error: outcome.error }, 'A Slack message that showed an erased contact is gone; nothing to redact');
      }
      if (await this.finishRedaction(lane, target)) summary.redacted += 1;
      return;
    }
    if (outcome.reason === 'slack_error' && SETUP_ERRORS.has(outcome.error) && step.channel === lane.config.alertChannel) {
      this.hold(lane, step, outcome.error, summary);
      return;
    }
    if (outcome.reason === 'rate_limited' || !this.isPermanentEdit(outcome)) {
      this.recordFailure(lane, step, outcome, summary);
      return;
    }
    lane.pacer.recordFailed(step, { retry: false });
    this.logger.error(
      { ...context, error: describe(outcome) },
      'Slack refused to edit a message that shows an erased contact; it is tried again when the Slack settings change or the server restarts',
    );
  }

  /** The message no longer shows the contact: recorded in the store; false when that could not be written (tried again after a restart). */
  private async finishRedaction(lane: Lane, target: SlackMessageRef): Promise<boolean> {
    try {
      await this.alerts.markRedacted(lane.config.workspaceId, target);
    } catch (error) {
      this.logger.error({ err: error, workspaceId: lane.config.workspaceId, ...target }, 'could not record a Slack message as redacted');
      return false;
    }
    lane.redacting.delete(messageKey(target));
    return true;
  }

  /** An edit can be made again harmlessly, so only Slack's own refusal is final; an answer that cannot be read is retried. */
  private isPermanentEdit(outcome: Exclude<SlackCallOutcome<PostedMessage>, { ok: true }>): boolean {
    return outcome.reason === 'slack_error' && !TRANSIENT_SLACK_ERRORS.has(outcome.error);
  }

  /**
   * Slack will not post or edit the digest message (deleted in Slack, too old to edit, blocks it
   * refuses: https://docs.slack.dev/reference/methods/chat.update#errors). Nothing says the alerts in
   * it are at fault: those it already showed stay digested, and those it did not are posted one by
   * one (an alert that is itself at fault then fails alone). Later alerts of the burst open a new digest.
   */
  private dropDigest(
    lane: Lane,
    step: Extract<PacerStep<SlackAlert>, { kind: 'post_digest' | 'update_digest' }>,
    error: string,
    summary: SlackDispatchSummary,
  ): void {
    const requeued = lane.pacer.recordDigestLost(step);
    summary.digestsDropped += 1;
    this.logger.warn(
      { workspaceId: lane.config.workspaceId, channel: step.channel, kind: step.kind, error, alerts: requeued.length },
      `Slack refused the digest message (${error}); the alerts it did not show yet are posted one by one`,
    );
  }

  private async record(lane: Lane, step: PacerStep<SlackAlert>, summary: SlackDispatchSummary, posted: PostedMessage): Promise<void> {
    const workspaceId = lane.config.workspaceId;
    const ids = alertIdsOf(step);
    try {
      if (step.kind === 'post') await this.alerts.markPosted(workspaceId, step.item.id, { channel: posted.channel, ts: posted.ts });
      else await this.alerts.markDigested(workspaceId, ids, { channel: posted.channel, ts: posted.ts });
    } catch (error) {
      // Still pending in the store, still marked enqueued here: this process does not post it again.
      this.logger.error({ err: error, workspaceId, alertIds: ids }, 'could not record a Slack alert as posted');
      return;
    }
    for (const id of ids) lane.enqueued.delete(id);
    if (step.kind === 'post') summary.posted += 1;
    else if (step.kind === 'post_digest') summary.digestsPosted += 1;
    else summary.digestsUpdated += 1;
  }

  private isPermanent(outcome: Exclude<SlackCallOutcome<PostedMessage>, { ok: true }>): boolean {
    if (outcome.reason === 'slack_error') return !TRANSIENT_SLACK_ERRORS.has(outcome.error);
    // A reply that is not what chat.postMessage answers may still mean the message was posted:
    // trying again could post it twice.
    return outcome.reason === 'unexpected_response';
  }

  private recordFailure(
    lane: Lane,
    step: PacerStep<SlackAlert>,
    outcome: Exclude<SlackCallOutcome<PostedMessage>, { ok: true }>,
    summary: SlackDispatchSummary,
  ): void {
    const context = { workspaceId: lane.config.workspaceId, channel: step.channel, kind: step.kind };
    if (outcome.reason === 'rate_limited') {
      // chat.update is a Tier 3 method (per workspace): only digest edits and redactions wait. chat.postMessage is limited per channel.
      lane.pacer.recordRateLimited(step, outcome.retryAfterSeconds, step.kind === 'update_digest' || step.kind === 'edit' ? 'method' : 'channel');
      summary.rateLimited += 1;
      this.logger.warn({ ...context, retryAfterSeconds: outcome.retryAfterSeconds }, 'Slack rate limited the alert channel');
      return;
    }
    if (step.kind === 'edit' ? this.isPermanentEdit(outcome) : this.isPermanent(outcome)) {
      lane.pacer.recordFailed(step, { retry: false });
      return;
    }
    const failures = (lane.failures.get(step.channel) ?? 0) + 1;
    lane.failures.set(step.channel, failures);
    const waitSeconds = Math.min(this.maxBackoffMs / 1000, 2 ** Math.min(failures - 1, 20));
    lane.pacer.recordRateLimited(step, waitSeconds, 'channel');
    summary.retried += 1;
    this.logger.warn({ ...context, failures, waitSeconds, error: describe(outcome) }, 'Slack alert not sent; retrying');
  }

  /**
   * The workspace's set-up is broken: its alerts stay pending in the store and the lane starts
   * afresh after the hold, or at once when the settings change (laneFor), so every alert is
   * posted once the set-up is fixed.
   */
  private hold(lane: Lane, step: PacerStep<SlackAlert>, error: string, summary: SlackDispatchSummary): void {
    const workspaceId = lane.config.workspaceId;
    const heldUntil = this.clock.now().getTime() + this.holdMs;
    const recurring = lane.heldError === error;
    summary.held += alertIdsOf(step).filter((id) => lane.enqueued.has(id)).length;
    lane.pacer = this.pacerFor(lane.config);
    lane.enqueued.clear();
    lane.redacting.clear();
    lane.failures.clear();
    lane.heldUntil = heldUntil;
    lane.heldError = error;
    lane.nextAt = heldUntil;
    lane.resume = { digest: true };
    const details = { workspaceId, channel: step.channel, error, retryAt: new Date(heldUntil).toISOString() };
    const message = `Slack refused the alert: ${SETUP_HINTS[error] ?? error} (run \`consentry slack check\`); alerts wait and are posted once the Slack settings change or the set-up works again`;
    if (recurring) this.logger.warn(details, message);
    else this.logger.error(details, message);
  }

  private async recordPermanentFailure(
    lane: Lane,
    step: PacerStep<SlackAlert>,
    outcome: Exclude<SlackCallOutcome<PostedMessage>, { ok: true }>,
    summary: SlackDispatchSummary,
  ): Promise<void> {
    const workspaceId = lane.config.workspaceId;
    const ids = alertIdsOf(step);
    const error = describe(outcome);
    this.logger.error({ workspaceId, channel: step.channel, alertIds: ids, error }, 'Slack refused the alert for good; it is marked failed');
    let changed: number;
    try {
      changed = await this.alerts.markFailed(workspaceId, ids, error);
    } catch (failure) {
      this.logger.error({ err: failure, workspaceId, alertIds: ids }, 'could not record a Slack alert as failed');
      return;
    }
    for (const id of ids) lane.enqueued.delete(id);
    summary.failed += changed;
  }
}

function describe(outcome: Exclude<SlackCallOutcome<unknown>, { ok: true }>): string {
  switch (outcome.reason) {
    case 'rate_limited':
      return `rate limited for ${outcome.retryAfterSeconds} s`;
    case 'slack_error':
      return outcome.error;
    default:
      return `${outcome.reason}: ${outcome.message}`;
  }
}

export function createSlackAlertDispatcher(options: SlackDispatcherOptions): SlackAlertDispatcher {
  return new SlackAlertDispatcher(options);
}
