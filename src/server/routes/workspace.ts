import { z } from 'zod';
import { LanguageSchema, WorkspaceSettingsSchema } from '../../core/settings.js';
import { authOf } from '../auth.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const shape = WorkspaceSettingsSchema.shape;

/**
 * A settings patch names only the keys it changes: built from the settings schema without its
 * defaults, so a key left out is kept rather than reset. The engine re-validates the merged whole.
 */
const SettingsPatchSchema = z
  .object({
    privacyPolicyUrl: shape.privacyPolicyUrl.unwrap().optional(),
    defaultCountry: shape.defaultCountry.unwrap().optional(),
    triggers: shape.triggers.unwrap().optional(),
    keywords: shape.keywords.unwrap().optional(),
    replies: shape.replies.unwrap().optional(),
    defaultLanguage: LanguageSchema.optional(),
    outboundWebhookUrl: shape.outboundWebhookUrl.unwrap().optional(),
  })
  .strict();

const SettingsJsonSchema = z.object({
  privacyPolicyUrl: z.string().nullable(),
  defaultCountry: z.string().nullable(),
  triggers: z.array(z.object({ trigger: z.string(), template: z.string(), match: z.string().optional(), enabled: z.boolean() })),
  keywords: z.record(z.string(), z.object({ opt_in: z.array(z.string()), opt_out: z.array(z.string()), help: z.array(z.string()), removed: z.array(z.string()) })),
  replies: z.record(z.string(), z.record(z.string(), z.string())),
  defaultLanguage: z.string(),
  outboundWebhookUrl: z.string().nullable(),
});

export const workspaceRoutes: ApiRoutes = (v1) => {
  v1.get(
    '/me',
    {
      schema: {
        tags: ['workspace'],
        summary: "The API key's workspace",
        security: API_KEY_SECURITY,
        response: { 200: z.object({ id: z.string(), name: z.string() }) },
      },
    },
    async (request) => {
      const workspace = await authOf(request).workspace.get();
      return { id: workspace.id, name: workspace.name };
    },
  );

  v1.get(
    '/tags',
    {
      schema: {
        tags: ['contacts'],
        summary: 'Every tag used in the workspace',
        security: API_KEY_SECURITY,
        response: { 200: z.object({ data: z.array(z.string()) }) },
      },
    },
    async (request) => ({ data: await authOf(request).workspace.listTags() }),
  );

  v1.get(
    '/settings',
    {
      schema: { tags: ['workspace'], summary: "The workspace's settings", security: API_KEY_SECURITY, response: { 200: SettingsJsonSchema } },
    },
    async (request) => (await authOf(request).workspace.get()).settings,
  );

  v1.patch(
    '/settings',
    {
      schema: {
        tags: ['workspace'],
        summary: 'Change some settings; keys left out keep their value',
        security: API_KEY_SECURITY,
        body: SettingsPatchSchema,
        response: { 200: SettingsJsonSchema },
      },
    },
    async (request) => (await authOf(request).workspace.updateSettings(request.body)).settings,
  );
};
