import { WorkflowFinishedDataSchema, type RUN_OUTCOMES } from '../../src/core/events.js';
import type { StoreTx, StoredEvent } from '../../src/ports/store.js';
import { EXECUTION_STATE } from './actions/context.js';
import { pendingChange, type CallbackRecord, type HubSpotStateTx } from './state.js';

/**
 * The branches of the "Request consent" action. The four the consent workflow ends in (DESIGN
 * §4) pass through; a run that ends for another reason gets a fifth value, `cancelled`, so the
 * HubSpot workflow can tell "nobody answered" from "the conversation went away".
 */
export const CONSENT_OUTCOMES = ['given', 'failed_invalid', 'failed_timeout', 'opted_out', 'cancelled'] as const;
export type ConsentOutcome = (typeof CONSENT_OUTCOMES)[number];
export const OUTCOME_FIELD = 'outcome';

type RunOutcome = (typeof RUN_OUTCOMES)[number];

/**
 * `skipped`: the contact already carries the `Consent: Privacy` tag, so the template ends at once
 * without asking (DESIGN §4): consent was given before, and the workflow goes down that branch.
 * `cancelled` (conversation closed, contact erased) and `done` (ended without an answer) become
 * `cancelled`.
 */
export function branchFor(outcome: RunOutcome): ConsentOutcome {
  switch (outcome) {
    case 'given':
    case 'skipped':
      return 'given';
    case 'failed_invalid':
    case 'failed_timeout':
    case 'opted_out':
      return outcome;
    case 'done':
    case 'cancelled':
      return 'cancelled';
  }
}

/** The body of `POST /automation/v4/actions/callbacks/{callbackId}/complete` for a finished run. */
export function completionFields(outcome: ConsentOutcome): Record<string, string> {
  return { [EXECUTION_STATE]: 'SUCCESS', [OUTCOME_FIELD]: outcome };
}

/**
 * Queues the completion of a waiting callback once its run finished: a row the dispatcher sends
 * through the portal's limiter and retries until HubSpot takes it or it is dead-lettered. The
 * record's `outcome` is set in the same transaction, so a second sighting of the same end (the
 * action route and the outbox reader may both see it) queues nothing more.
 */
export async function queueCompletion(state: HubSpotStateTx, record: CallbackRecord, finished: StoredEvent, nowIso: string): Promise<boolean> {
  const data = WorkflowFinishedDataSchema.safeParse(finished.data);
  if (finished.type !== 'workflow.finished' || !data.success || record.outcome !== null || data.data.runId !== record.runId) return false;
  const outcome = branchFor(data.data.outcome);
  const change = pendingChange(
    {
      position: finished.position,
      target: 'callback',
      workspaceId: record.workspaceId,
      eventId: finished.id,
      contactId: data.data.contactId,
      payload: { kind: 'callback', callbackId: record.callbackId, outputFields: completionFields(outcome) },
      occurredAt: finished.occurredAt,
    },
    nowIso,
  );
  await state.insertChanges([change]);
  await state.updateCallback({ ...record, outcome, updatedAt: nowIso });
  return true;
}

/**
 * A run can end inside the transaction that starts it (a contact already tagged is not asked
 * again), before its callback knows the run id; the outbox reader may then have passed the
 * event. So once the run id is stored, the contact's recent ends are checked too.
 */
export async function completeIfAlreadyFinished(state: HubSpotStateTx, tx: StoreTx, record: CallbackRecord, nowIso: string): Promise<boolean> {
  if (record.runId === null || record.contactId === null || record.outcome !== null) return false;
  const ends = await tx.listEvents(record.workspaceId, { types: ['workflow.finished'], contactId: record.contactId, limit: 50 });
  const end = ends.find((event) => WorkflowFinishedDataSchema.safeParse(event.data).data?.runId === record.runId);
  return end === undefined ? false : queueCompletion(state, record, end, nowIso);
}
