import { z } from 'zod';
import { ConsentryError } from '../../src/core/errors.js';
import { ActionDefinitionSchema, toHubSpotDefinition, type ActionDefinition, type ActionKey } from './actions/definition.js';
import type { HubSpotDeveloperClient } from './client.js';

const ManifestHubSpotSchema = z.object({
  connectors: z.array(z.looseObject({ id: z.string(), actions: z.array(z.unknown()).optional() })),
});

/** The workflow action definitions manifest.json carries for the `hubspot` connector. */
export function manifestActions(manifest: unknown): ActionDefinition[] {
  const parsed = ManifestHubSpotSchema.safeParse(manifest);
  const hubspot = parsed.success ? parsed.data.connectors.find((c) => c.id === 'hubspot') : undefined;
  if (hubspot === undefined || hubspot.actions === undefined) {
    throw new ConsentryError('VALIDATION_FAILED', 'manifest.json has no hubspot connector with actions', [{ path: 'connectors', message: 'hubspot actions missing' }]);
  }
  return hubspot.actions.map((action, index) => {
    const definition = ActionDefinitionSchema.safeParse(action);
    if (!definition.success) {
      const issue = definition.error.issues[0];
      const path = `connectors.hubspot.actions.${index}${issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}`;
      throw new ConsentryError('VALIDATION_FAILED', `manifest.json: ${path}: ${issue?.message ?? 'invalid'}`, [{ path, message: issue?.message ?? 'invalid' }]);
    }
    return definition.data;
  });
}

export interface RegisteredAction {
  key: ActionKey;
  definitionId: string;
  change: 'created' | 'updated';
  actionUrl: string;
}

/**
 * Creates each definition on the app, or updates the one already registered at the same URL
 * (https://developers.hubspot.com/docs/api/automation/custom-workflow-actions), so running it
 * again after a change of the manifest updates the actions in place instead of adding copies.
 */
export async function registerActions(
  client: HubSpotDeveloperClient,
  appId: string,
  definitions: readonly ActionDefinition[],
  publicUrl: string,
): Promise<RegisteredAction[]> {
  if (!/^\d+$/.test(appId)) {
    throw new ConsentryError('VALIDATION_FAILED', 'the app id is the numeric id of the HubSpot app', [{ path: 'appId', message: 'must be digits' }]);
  }
  const existing = await client.listActionDefinitions(appId);
  const registered: RegisteredAction[] = [];
  for (const definition of definitions) {
    const body = toHubSpotDefinition(definition, publicUrl);
    const current = existing.find((e) => e.actionUrl === body.actionUrl);
    const saved = current === undefined ? await client.createActionDefinition(appId, body) : await client.updateActionDefinition(appId, current.id, body);
    registered.push({ key: definition.key, definitionId: saved.id, change: current === undefined ? 'created' : 'updated', actionUrl: body.actionUrl });
  }
  return registered;
}
