import type { Engine } from '../../../src/engine.js';
import type { Clock } from '../../../src/ports/clock.js';
import type { ActionAnswer, ActionRequest } from '../actions/context.js';
import { WORKFLOW_ACTIONS } from '../actions/index.js';
import type { ActionKey } from '../actions/definition.js';
import { BLOCK_EXPIRATION } from '../actions/request-consent.js';
import { completeIfAlreadyFinished } from '../callbacks.js';
import type { ResolvedHubSpotConfig } from '../config.js';
import type { CallbackRecord, HubSpotState } from '../state.js';

/**
 * A first request still being handled when its retry arrives is given this long before the retry
 * does the work itself: HubSpot retries after timeouts, and a request that died half-way must
 * not leave its callback stuck. Each action's work is idempotent by callbackId, so doing it again
 * records nothing twice.
 */
export const IN_PROGRESS_GRACE_MS = 60_000;

export type ActionOutcome = { kind: 'answer'; answer: ActionAnswer; replayed: boolean } | { kind: 'busy' };

export interface ActionDeps {
  engine: Engine;
  state: HubSpotState;
  clock: Clock;
}

/**
 * Runs a workflow action once per workspace and callbackId (HubSpot's idempotency key, DESIGN
 * §6): the answer is stored and a repeat gets it again without doing the work. The same id in
 * another workspace is another callback: it neither reads nor blocks this one. A blocked action's
 * run id is stored with it, so the run's end completes the callback.
 */
export async function runAction(deps: ActionDeps, key: ActionKey, config: ResolvedHubSpotConfig, request: ActionRequest): Promise<ActionOutcome> {
  const now = deps.clock.now();
  const nowIso = now.toISOString();
  const claim = await deps.state.transaction((state) =>
    state.claimCallback({
      callbackId: request.callbackId,
      workspaceId: config.workspaceId,
      action: key,
      contactId: null,
      runId: null,
      response: null,
      outcome: null,
      createdAt: nowIso,
      updatedAt: nowIso,
    }),
  );
  if (!claim.created) {
    const existing = claim.record;
    if (existing.response !== null) return { kind: 'answer', answer: { outputFields: existing.response }, replayed: true };
    if (existing.runId !== null) return { kind: 'answer', answer: blockAnswer(), replayed: true };
    if (now.getTime() - Date.parse(existing.updatedAt) < IN_PROGRESS_GRACE_MS) return { kind: 'busy' };
  }

  const action = WORKFLOW_ACTIONS[key];
  const result = await action.handle({
    request,
    workspace: deps.engine.workspace(config.workspaceId),
    config,
    clock: deps.clock,
    actor: { kind: 'integration', id: request.origin.portalId },
  });
  const doneIso = deps.clock.now().toISOString();
  await deps.state.transaction(async (state, tx) => {
    const current = (await state.getCallback(config.workspaceId, request.callbackId)) ?? claim.record;
    const record: CallbackRecord = {
      ...current,
      contactId: result.contactId,
      runId: result.runId ?? null,
      response: result.answer.outputFields,
      updatedAt: doneIso,
    };
    await state.updateCallback(record);
    await completeIfAlreadyFinished(state, tx, record, doneIso);
  });
  return { kind: 'answer', answer: result.answer, replayed: false };
}

function blockAnswer(): ActionAnswer {
  return { outputFields: { hs_execution_state: 'BLOCK', hs_expiration_duration: BLOCK_EXPIRATION } };
}
