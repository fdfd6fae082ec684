import type { Middleware, SlackViewMiddlewareArgs, ViewSubmitAction } from '@slack/bolt';
import { z } from 'zod';
import { LegalBasisSchema, type ConsentDecision, type LegalBasis } from '../../../src/core/consent.js';
import {
  EXPLANATION_ACTION_ID,
  EXPLANATION_BLOCK_ID,
  EXPLANATION_MAX_LENGTH,
  LEGAL_BASIS_ACTION_ID,
  LEGAL_BASIS_BLOCK_ID,
  parseRecordConsentMetadata,
  RECORD_CONSENT_CALLBACK_ID,
  type RecordConsentMetadata,
} from '../blocks/record-consent-modal.js';
import { checkAlert, claimAlert, idempotencyKey, MESSAGES, performClaimed, SlackUserIdSchema, type ListenerDeps } from './common.js';

/**
 * The parts of a view_submission payload this listener reads
 * (https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload#view_submission).
 */
const InputValueSchema = z.object({
  value: z.string().nullable().optional(),
  selected_option: z.object({ value: z.string() }).nullable().optional(),
});
const SubmissionSchema = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id: SlackUserIdSchema }),
  trigger_id: z.string().min(1).optional(),
  view: z.object({
    callback_id: z.literal(RECORD_CONSENT_CALLBACK_ID),
    private_metadata: z.string(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), InputValueSchema)) }),
  }),
});

type FieldErrors = Record<string, string>;

/** Modal errors are plain text, so this one names nobody (the mention would show as raw markup). */
const ALREADY_HANDLED = 'Someone already handled this alert; nothing was changed.';

type ValidSubmission = {
  userId: string;
  /** Opens a modal within 3 seconds of the submission: the last way to answer someone outside the channel. */
  triggerId: string | null;
  metadata: RecordConsentMetadata;
  legalBasis: LegalBasis;
  explanation: string;
};

/** Checks the form; errors are keyed by block id, as `response_action: 'errors'` requires. */
export function validateRecordConsentSubmission(body: unknown): { ok: true; value: ValidSubmission } | { ok: false; errors: FieldErrors } {
  const parsed = SubmissionSchema.safeParse(body);
  if (!parsed.success) return { ok: false, errors: { [EXPLANATION_BLOCK_ID]: 'This form could not be read; close it and try again.' } };
  const { values } = parsed.data.view.state;
  const metadata = parseRecordConsentMetadata(parsed.data.view.private_metadata);
  if (!metadata) return { ok: false, errors: { [EXPLANATION_BLOCK_ID]: 'This form has expired; close it and use the button again.' } };

  const errors: FieldErrors = {};
  const basis = LegalBasisSchema.safeParse(values[LEGAL_BASIS_BLOCK_ID]?.[LEGAL_BASIS_ACTION_ID]?.selected_option?.value);
  if (!basis.success) errors[LEGAL_BASIS_BLOCK_ID] = 'Choose the legal basis for processing.';
  const explanation = (values[EXPLANATION_BLOCK_ID]?.[EXPLANATION_ACTION_ID]?.value ?? '').trim();
  if (explanation.length === 0) errors[EXPLANATION_BLOCK_ID] = 'Explain how and when the contact agreed.';
  else if (explanation.length > EXPLANATION_MAX_LENGTH) {
    errors[EXPLANATION_BLOCK_ID] = `Keep the explanation under ${EXPLANATION_MAX_LENGTH} characters.`;
  }
  if (!basis.success || errors[EXPLANATION_BLOCK_ID]) return { ok: false, errors };
  return {
    ok: true,
    value: { userId: parsed.data.user.id, triggerId: parsed.data.trigger_id ?? null, metadata, legalBasis: basis.data, explanation },
  };
}

/**
 * Submission of the "Record consent manually" modal. Problems with the form, the user or the alert
 * keep the modal open with `response_action: 'errors'`
 * (https://docs.slack.dev/surfaces/modals#displaying_errors); otherwise the modal closes and the
 * consent is recorded as an opt-in with the chosen legal basis and explanation, source `slack` and
 * the Slack user as actor (DESIGN §2: a person's opt-in needs both).
 */
export function recordConsentManuallyModalListener(deps: ListenerDeps): Middleware<SlackViewMiddlewareArgs<ViewSubmitAction>> {
  return ({ ack, body, client }) =>
    deps.track(async () => {
      const validated = validateRecordConsentSubmission(body);
      if (!validated.ok) {
        await ack({ response_action: 'errors', errors: validated.errors });
        return;
      }
      const { userId, triggerId, metadata, legalBasis, explanation } = validated.value;
      const request = { userId, alertId: metadata.alertId, action: 'record_consent_manually' as const };
      const refuse = (message: string) => ack({ response_action: 'errors', errors: { [EXPLANATION_BLOCK_ID]: message } });

      let claimed: Awaited<ReturnType<typeof claimAlert>>;
      try {
        const check = await checkAlert(deps, request);
        if (!check.ok) {
          await refuse(check.resolved ? ALREADY_HANDLED : check.message);
          return;
        }
        claimed = await claimAlert(deps, request);
        if (!claimed.ok) {
          await refuse(claimed.resolved ? ALREADY_HANDLED : claimed.message);
          return;
        }
        if (claimed.alert.event.type !== 'consent.failed') {
          await deps.alerts.release(deps.workspaceId, claimed.alert.id, claimed.claim);
          await refuse(MESSAGES.notApplicable);
          return;
        }
      } catch (error) {
        deps.logger.error(`Slack action record_consent_manually failed for alert ${metadata.alertId}`, error);
        await refuse(MESSAGES.failed);
        return;
      }
      await ack();

      const { data } = claimed.alert.event;
      const key = idempotencyKey(claimed.alert.id, 'record_consent_manually');
      const decision: ConsentDecision = {
        contactId: data.contactId,
        purpose: data.purpose,
        channel: data.channel,
        status: 'opted_in',
        legalBasis,
        explanation,
        source: 'slack',
        actor: { kind: 'user', id: userId },
        evidence: { workflowId: data.workflowId.slice(0, 200), runId: data.runId.slice(0, 200), note: 'Recorded manually in Slack' },
        idempotencyKey: key,
      };
      await performClaimed(deps, { client, userId, channel: metadata.channel, triggerId }, {
        claimed,
        target: { channel: metadata.channel, ts: metadata.messageTs },
        resolution: { legalBasis },
        perform: (alert) =>
          deps.handler.recordConsentManually({
            workspaceId: deps.workspaceId,
            alertId: alert.id,
            slackUserId: userId,
            idempotencyKey: key,
            alert,
            decision,
          }),
      });
    });
}
