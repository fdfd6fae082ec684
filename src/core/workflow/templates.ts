/**
 * The shipped workflow templates (DESIGN §4), validated when this module loads so that a broken
 * template fails at start-up rather than in a conversation.
 */
import { ConsentryError } from '../errors.js';
import { shownValue } from '../required.js';
import type { WorkflowTrigger, WorkspaceSettings } from '../settings.js';
import { parseWorkflowDefinition, type WorkflowDefinition } from './schema.js';
import { advisedWorkspaceSettings, missingWorkspaceSettings, type AdvisedWorkspaceSetting } from './transition.js';
import requestConsentPrivacy from './templates/request-consent-privacy.json' with { type: 'json' };
import welcomeRequestEmail from './templates/welcome-request-email.json' with { type: 'json' };
import welcomeRequestPhone from './templates/welcome-request-phone.json' with { type: 'json' };

const SOURCES: readonly unknown[] = [requestConsentPrivacy, welcomeRequestEmail, welcomeRequestPhone];

function loadTemplates(sources: readonly unknown[]): ReadonlyMap<string, WorkflowDefinition> {
  const ids = new Set<string>();
  for (const source of sources) {
    if (typeof source === 'object' && source !== null && 'id' in source && typeof source.id === 'string') ids.add(source.id);
  }
  const templates = new Map<string, WorkflowDefinition>();
  for (const source of sources) {
    const definition = parseWorkflowDefinition(source, { knownTemplateIds: ids });
    if (templates.has(definition.id)) {
      throw new ConsentryError('INVALID_WORKFLOW', `template id '${definition.id}' is used twice`, [{ path: 'id', message: `template id '${definition.id}' is used twice` }]);
    }
    templates.set(definition.id, definition);
  }
  return templates;
}

export const TEMPLATES: ReadonlyMap<string, WorkflowDefinition> = loadTemplates(SOURCES);

export const TEMPLATE_IDS: readonly string[] = [...TEMPLATES.keys()];

/** How every caller names a template that is not built in: the API's path, a settings binding, the CLI's --template. */
export function unknownTemplateMessage(id: string): string {
  return `unknown template ${shownValue(id)}: the built-in ones are ${TEMPLATE_IDS.join(', ')}`;
}

export function getTemplate(id: string): WorkflowDefinition {
  const template = TEMPLATES.get(id);
  if (template === undefined) {
    const message = unknownTemplateMessage(id);
    throw new ConsentryError('UNKNOWN_TEMPLATE', message, [{ path: 'template', message }]);
  }
  return template;
}

/**
 * Whether a template asks for consent: it records the contact's decision (`record_consent`). The
 * other workflows a binding triggers in its conversation wait while its question does
 * (startTriggeredWorkflows in src/engine/runs.ts): consent is asked before anything else is.
 * An id no shipped template has asks for nothing.
 */
export function asksForConsent(templateId: string): boolean {
  return TEMPLATES.get(templateId)?.steps.some((step) => step.type === 'record_consent') ?? false;
}

/**
 * Whether one of the workspace's enabled `conversation_opened` bindings asks for consent
 * (asksForConsent): without one, a contact who opens a conversation is not asked before the other
 * workflows take in their data. A trigger list is replaced whole, so a list sent back without the
 * default binding turns the question off without a word unless this is told (at every start of
 * the server, and in the answer to the settings change).
 */
export function asksForConsentAtOpening(settings: Pick<WorkspaceSettings, 'triggers'>): boolean {
  return settings.triggers.some((binding) => binding.enabled && binding.trigger === 'conversation_opened' && asksForConsent(binding.template));
}

/**
 * Whether the workspace's workflows send messages that nothing carries: a question's time-out text
 * and the messages of a workflow started from outside (a tag added, `startWorkflow`) answer no
 * request, so they go out only through the outbound webhook, and without one reach no one while
 * the contact's next message answers a question they never saw.
 */
export function lacksOutboundWebhook(settings: Pick<WorkspaceSettings, 'triggers' | 'outboundWebhookUrl'>): boolean {
  return settings.outboundWebhookUrl === null && settings.triggers.some((binding) => binding.enabled);
}

/** An enabled trigger whose workflow cannot start until the workspace has a setting its texts need. */
export interface WaitingTrigger {
  trigger: WorkflowTrigger;
  template: string;
  missing: 'privacyPolicyUrl'[];
}

/**
 * The workspace's enabled triggers that start nothing yet: a triggered run without its settings
 * is skipped (a consent question without the privacy policy link would be worthless), which a
 * workspace should hear about before its first conversation rather than find out from silence.
 */
export function waitingTriggers(settings: Pick<WorkspaceSettings, 'triggers' | 'privacyPolicyUrl' | 'defaultCountry'>): WaitingTrigger[] {
  return settings.triggers.flatMap((binding): WaitingTrigger[] => {
    if (!binding.enabled) return [];
    const missing = missingWorkspaceSettings(getTemplate(binding.template), settings);
    return missing.length > 0 ? [{ trigger: binding.trigger, template: binding.template, missing }] : [];
  });
}

/** An enabled trigger whose workflow runs, but answers it asks for are read worse, until the workspace has a setting. */
export interface TriggerMissingAdvisedSetting {
  trigger: WorkflowTrigger;
  template: string;
  advised: AdvisedWorkspaceSetting[];
}

/**
 * The workspace's enabled triggers whose workflow would be better served by a setting it lacks:
 * `welcome-request-phone` without a default country can read only numbers written with their
 * country code, and refuses every national one (advisedWorkspaceSettings). Told at the same place
 * as waitingTriggers, before the first contact is refused.
 */
export function triggersMissingAdvisedSettings(settings: Pick<WorkspaceSettings, 'triggers' | 'privacyPolicyUrl' | 'defaultCountry'>): TriggerMissingAdvisedSetting[] {
  return settings.triggers.flatMap((binding): TriggerMissingAdvisedSetting[] => {
    if (!binding.enabled) return [];
    const advised = advisedWorkspaceSettings(getTemplate(binding.template), settings);
    return advised.length > 0 ? [{ trigger: binding.trigger, template: binding.template, advised }] : [];
  });
}
