import { z } from 'zod';
import { SYNCED_CHANNEL_LABELS, type SyncedChannel } from '../properties.js';

/**
 * A custom workflow action as HubSpot's definitions API takes it (PublicActionDefinitionEgg,
 * https://developers.hubspot.com/docs/api/automation/custom-workflow-actions), with `actionUrl`
 * as a path of this server: registration prefixes it with PUBLIC_URL. `key` names the action
 * file and the route (`/hubspot/actions/{key}`); it is not sent to HubSpot.
 */
const OptionSchema = z.object({ label: z.string().min(1), value: z.string().min(1) }).strict();

const TypeDefinitionSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    type: z.enum(['string', 'enumeration', 'datetime', 'number', 'bool']),
    fieldType: z.enum(['text', 'textarea', 'select', 'date', 'number', 'booleancheckbox']).optional(),
    options: z.array(OptionSchema).optional(),
  })
  .strict();

const InputFieldSchema = z
  .object({
    typeDefinition: TypeDefinitionSchema,
    supportedValueTypes: z.array(z.enum(['STATIC_VALUE', 'OBJECT_PROPERTY'])).min(1),
    isRequired: z.boolean(),
  })
  .strict();

const OutputFieldSchema = z.object({ typeDefinition: TypeDefinitionSchema }).strict();

const LabelsSchema = z
  .object({
    actionName: z.string().min(1),
    actionDescription: z.string().min(1),
    appDisplayName: z.string().min(1).optional(),
    inputFieldLabels: z.record(z.string(), z.string()),
    outputFieldLabels: z.record(z.string(), z.string()),
  })
  .strict();

export const ACTION_KEYS = ['request-consent', 'set-channel-consent', 'check-consent'] as const;
export type ActionKey = (typeof ACTION_KEYS)[number];

export const ActionDefinitionSchema = z
  .object({
    key: z.enum(ACTION_KEYS),
    actionUrl: z.string().regex(/^\/hubspot\/actions\/[a-z-]+$/),
    published: z.boolean(),
    objectTypes: z.array(z.literal('CONTACT')).length(1),
    objectRequestOptions: z.object({ properties: z.array(z.string()) }).strict(),
    inputFields: z.array(InputFieldSchema),
    outputFields: z.array(OutputFieldSchema),
    labels: z.object({ en: LabelsSchema }).strict(),
    functions: z.array(z.never()),
  })
  .strict()
  .refine((d) => d.actionUrl === `/hubspot/actions/${d.key}`, { message: 'actionUrl must be /hubspot/actions/{key}', path: ['actionUrl'] });
export type ActionDefinition = z.infer<typeof ActionDefinitionSchema>;

export type ActionInputField = z.infer<typeof InputFieldSchema>;
export type ActionOutputField = z.infer<typeof OutputFieldSchema>;

export function option(value: string, label: string): { label: string; value: string } {
  return { label, value };
}

/** The required `channel` input: a select of the channels the action accepts, in their order. */
export function channelInputField(channels: readonly SyncedChannel[]): ActionInputField {
  return {
    typeDefinition: {
      name: 'channel',
      type: 'enumeration',
      fieldType: 'select',
      options: channels.map((channel) => option(channel, SYNCED_CHANNEL_LABELS[channel])),
    },
    supportedValueTypes: ['STATIC_VALUE'],
    isRequired: true,
  };
}

/** The body HubSpot's definitions API takes: the definition with its full URL and without our key. */
export function toHubSpotDefinition(definition: ActionDefinition, publicUrl: string): Omit<ActionDefinition, 'key'> {
  const { key: _key, ...rest } = definition;
  return { ...rest, actionUrl: `${publicUrl.replace(/\/+$/, '')}${definition.actionUrl}` };
}
