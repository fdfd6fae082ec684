import type { MessagingChannel } from '../../src/core/consent.js';
import { purposesAnOptOutReaches } from '../../src/core/ledger.js';
import type { Engine } from '../../src/engine.js';
import type { RecordedConsent } from '../../src/engine/unit-of-work.js';
import { InboundChannelSchema, isUnsentWithoutWebhook, WORKFLOW_UNSENT_WITHOUT_WEBHOOK } from '../../src/engine/inputs.js';
import type { WorkflowRunRow } from '../../src/ports/store.js';
import type {
  DismissOptOutInput,
  ResendConsentRequestInput,
  SlackActionHandler,
  SlackActionResult,
  SlackDecisionInput,
} from './actions-port.js';

/**
 * Records a decision a button stands for. A decision dated when the contact wrote (an opt-out
 * review) is evidence whenever it is recorded, but the contact's status follows the latest
 * decision: when what governs the channel after it (the engine's `governing`, as canMessage reads
 * it: a newer decision on the channel, or on every channel) comes from another record and says
 * otherwise, the result names that decision, so the person who clicked is not told the change
 * took effect.
 */
async function recordDecision(engine: Engine, input: SlackDecisionInput): Promise<{ result: SlackActionResult; recorded: RecordedConsent }> {
  const recorded = await engine.workspace(input.workspaceId).setConsent({ ...input.decision, source: 'slack', idempotencyKey: input.idempotencyKey });
  const { governing, record } = recorded;
  if (governing.recordId === record.id || governing.status === record.status) return { result: { outcome: 'done' }, recorded };
  return { result: { outcome: 'done', supersededBy: { status: governing.status, source: governing.source, occurredAt: governing.occurredAt } }, recorded };
}

/** The workflow a "Resend consent request" starts when the failed run does not name one. */
export const PRIVACY_WORKFLOW = 'request-consent-privacy';

/**
 * A run of the workflow for the contact on the channel that started after the failure the alert
 * reports: a consent request already went out since (an earlier click on this button whose alert
 * could not be marked handled, the API, HubSpot, a trigger). The engine's startWorkflow takes no
 * idempotency key and refuses a second run only while the first one is running (409), so this
 * check is what keeps a repeated click from asking the contact again once that run has ended.
 */
async function runSinceFailure(
  engine: Engine,
  input: ResendConsentRequestInput,
  templateId: string,
  channel: MessagingChannel,
): Promise<WorkflowRunRow | null> {
  const { event } = input.alert;
  const failedRunId = event.type === 'consent.failed' ? event.data.runId : null;
  const failedAt = Date.parse(event.occurredAt);
  const runs = await engine.store.read((tx) => tx.listRunsOfContact(input.workspaceId, input.contactId));
  return (
    runs.find(
      (run) => run.templateId === templateId && run.channel === channel && run.id !== failedRunId && Date.parse(run.createdAt) >= failedAt,
    ) ?? null
  );
}

/**
 * The buttons, carried out by the engine. Each change is one engine transaction; the listeners have
 * already checked the user and claimed the alert, so an action runs once per claim, and a repeated
 * one changes nothing more (idempotency keys; runSinceFailure for a resend).
 * Failures the engine raises (CONTACT_ERASED, LEGAL_BASIS_REQUIRED, …) are ConsentryErrors, which
 * the listeners turn into a private answer (DESIGN §1: each adapter maps errors to its platform).
 */
export function engineActionHandler(engine: Engine): SlackActionHandler {
  return {
    /**
     * Starts the workflow whose run failed (consent.failed `workflowId`: the privacy template) again
     * for that contact and channel, as a `manual` trigger (DESIGN §4), unless a run of it started
     * after the failure (runSinceFailure).
     */
    async resendConsentRequest(input: ResendConsentRequestInput): Promise<SlackActionResult> {
      const channel = InboundChannelSchema.safeParse(input.channel);
      if (!channel.success) return { outcome: 'refused', message: 'a consent request needs a messaging channel, not "any"' };
      const templateId = input.workflowId || PRIVACY_WORKFLOW;
      const since = await runSinceFailure(engine, input, templateId, channel.data);
      if (since) {
        return {
          outcome: 'refused',
          message: `a consent request was already started for this contact on ${channel.data} at ${since.createdAt}, after this failure (run ${since.id})`,
        };
      }
      try {
        await engine.workspace(input.workspaceId).startWorkflow(templateId, input.contactId, channel.data, { inAnswer: false });
      } catch (error) {
        if (isUnsentWithoutWebhook(error)) return { outcome: 'refused', message: WORKFLOW_UNSENT_WITHOUT_WEBHOOK };
        throw error;
      }
      return { outcome: 'done' };
    },

    /** An opt-in by a person: the engine requires the legal basis and explanation (DESIGN §2). */
    async recordConsentManually(input: SlackDecisionInput): Promise<SlackActionResult> {
      return (await recordDecision(engine, input)).result;
    },

    /**
     * `opted_out` for marketing on the message's channel, with source `slack` (DESIGN §3), and,
     * as an opt-out keyword does, for each of the workspace's own purposes the contact was opted in
     * to there: a revocation confirmed by a person reaches as far as a STOP. Each has an
     * idempotency key of its own, so a repeated click records nothing twice.
     */
    async applyOptOut(input: SlackDecisionInput): Promise<SlackActionResult> {
      const { result, recorded } = await recordDecision(engine, input);
      if (result.outcome !== 'done' || result.supersededBy !== undefined) return result;
      const workspace = engine.workspace(input.workspaceId);
      for (const purpose of purposesAnOptOutReaches((await workspace.get()).settings.purposes, recorded.states, input.decision.channel)) {
        await workspace.setConsent({ ...input.decision, purpose, source: 'slack', idempotencyKey: `${input.idempotencyKey}:${purpose}` });
      }
      return result;
    },

    /** "Not an opt-out" records nothing in the ledger: the alert alone is marked handled. */
    async dismissOptOut(_input: DismissOptOutInput): Promise<SlackActionResult> {
      return { outcome: 'done' };
    },
  };
}
