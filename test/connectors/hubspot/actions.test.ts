import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACTION_KEYS, ActionDefinitionSchema, toHubSpotDefinition } from '../../../connectors/hubspot/actions/definition.js';
import { actionDefinitions, WORKFLOW_ACTIONS } from '../../../connectors/hubspot/actions/index.js';
import { manifestActions } from '../../../connectors/hubspot/register-actions.js';

const manifest: unknown = JSON.parse(readFileSync(new URL('../../../manifest.json', import.meta.url), 'utf8'));

describe('workflow action definitions', () => {
  it('are the ones manifest.json carries', () => {
    expect(manifestActions(manifest)).toEqual(actionDefinitions());
  });

  it('live one per file, the file named after the key, each serving /hubspot/actions/{key}', () => {
    for (const key of ACTION_KEYS) {
      expect(existsSync(new URL(`../../../connectors/hubspot/actions/${key}.ts`, import.meta.url))).toBe(true);
      expect(WORKFLOW_ACTIONS[key].key).toBe(key);
      expect(WORKFLOW_ACTIONS[key].definition.actionUrl).toBe(`/hubspot/actions/${key}`);
      expect(ActionDefinitionSchema.safeParse(WORKFLOW_ACTIONS[key].definition).success).toBe(true);
    }
  });

  it('label every input and output field', () => {
    for (const definition of actionDefinitions()) {
      const labels = definition.labels.en;
      for (const field of definition.inputFields) expect(labels.inputFieldLabels[field.typeDefinition.name]).toBeTruthy();
      for (const field of definition.outputFields) expect(labels.outputFieldLabels[field.typeDefinition.name]).toBeTruthy();
    }
  });

  it('offer the Request consent branches and the Check consent outputs the workflow needs', () => {
    const request = WORKFLOW_ACTIONS['request-consent'].definition;
    expect(request.outputFields[0]?.typeDefinition.options?.map((o) => o.value)).toEqual(['given', 'failed_invalid', 'failed_timeout', 'opted_out', 'cancelled']);
    const check = WORKFLOW_ACTIONS['check-consent'].definition;
    expect(check.outputFields.map((f) => f.typeDefinition.name)).toEqual(['status', 'legal_basis', 'updated_at', 'error']);
  });

  it('go to HubSpot with the full URL and without the key', () => {
    const body = toHubSpotDefinition(WORKFLOW_ACTIONS['check-consent'].definition, 'https://consent.example.com/');
    expect(body.actionUrl).toBe('https://consent.example.com/hubspot/actions/check-consent');
    expect('key' in body).toBe(false);
  });

  it('refuse a manifest whose action does not fit', () => {
    const broken = { connectors: [{ id: 'hubspot', actions: [{ ...actionDefinitions()[0], actionUrl: '/somewhere/else' }] }] };
    expect(() => manifestActions(broken)).toThrow(/connectors\.hubspot\.actions\.0/);
    expect(() => manifestActions({ connectors: [] })).toThrow(/no hubspot connector/);
  });
});
