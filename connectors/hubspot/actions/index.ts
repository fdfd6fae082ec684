import { checkConsent } from './check-consent.js';
import type { WorkflowAction } from './context.js';
import type { ActionDefinition, ActionKey } from './definition.js';
import { requestConsent } from './request-consent.js';
import { setChannelConsent } from './set-channel-consent.js';

/** One file per action, named after its key (DESIGN §1). */
export const WORKFLOW_ACTIONS: Readonly<Record<ActionKey, WorkflowAction>> = {
  'request-consent': requestConsent,
  'set-channel-consent': setChannelConsent,
  'check-consent': checkConsent,
};

/** The definitions manifest.json carries, in a stable order. */
export function actionDefinitions(): ActionDefinition[] {
  return Object.values(WORKFLOW_ACTIONS).map((action) => action.definition);
}
