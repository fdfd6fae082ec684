import { z } from 'zod';
import { ConsentryError } from '../../core/errors.js';
import { LanguageSchema, maskSecrets, WorkspacePurposesSchema, WorkspaceSettingsSchema, type Workspace } from '../../core/settings.js';
import type { Store } from '../../ports/store.js';
import { rotateOutboundWebhookSecret } from '../../worker/hooks.js';
import { DEFAULT_PREVIOUS_SECRET_SECONDS, getOutboundWebhookSecret } from '../../worker/signing-secrets.js';
import { assertPublicTargetUrl } from '../../worker/target-guard.js';
import { authOf } from '../auth.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

const shape = WorkspaceSettingsSchema.shape;

/**
 * A settings patch is a JSON Merge Patch (RFC 7396): it names only what it changes, nested
 * objects merge, `null` resets a key to its default. Scalars and lists are checked here; the
 * engine validates the merged whole and names any bad nested field.
 */
const SettingsPatchSchema = z
  .object({
    privacyPolicyUrl: shape.privacyPolicyUrl.unwrap().nullable().optional(),
    defaultCountry: shape.defaultCountry.unwrap().nullable().optional(),
    purposes: WorkspacePurposesSchema.nullable().optional().describe("the workspace's own purposes beside privacy and marketing"),
    triggers: shape.triggers.unwrap().nullable().optional(),
    keywords: z.record(z.string(), z.unknown()).nullable().optional().describe('per language: { opt_in, opt_out, help, removed }'),
    replies: z.record(z.string(), z.unknown()).nullable().optional().describe('per language: { opt_in_confirmation, opt_out_confirmation, help }'),
    defaultLanguage: LanguageSchema.nullable().optional(),
    outboundWebhookUrl: shape.outboundWebhookUrl.unwrap().nullable().optional(),
    hubspot: z.record(z.string(), z.unknown()).nullable().optional().describe('{ accessToken, portalId, clientSecret, emailSubscriptionId, createMissingContacts, syncEnabled }'),
    slack: z.record(z.string(), z.unknown()).nullable().optional().describe('{ botToken, signingSecret, alertChannel, allowedUserIds, botId, botUserId, digestThreshold }'),
    outboundWebhookSecret: z.string().nullable().optional().describe('made by Consentry: the value read back keeps it, null makes a new one (the old one signs beside it for 24 hours, as POST /v1/settings/outbound-webhook/secret does by default)'),
  })
  .strict();

const SettingsJsonSchema = z.object({
  privacyPolicyUrl: z.string().nullable(),
  defaultCountry: z.string().nullable(),
  purposes: z.array(z.string()),
  triggers: z.array(z.object({ trigger: z.string(), template: z.string(), match: z.string().optional(), enabled: z.boolean() })),
  keywords: z.record(z.string(), z.object({ opt_in: z.array(z.string()), opt_out: z.array(z.string()), help: z.array(z.string()), removed: z.array(z.string()) })),
  replies: z.record(z.string(), z.record(z.string(), z.string())),
  defaultLanguage: z.string(),
  outboundWebhookUrl: z.string().nullable(),
  /** Signs what is POSTed to outboundWebhookUrl (same scheme as hooks); null while no URL is set. */
  outboundWebhookSecret: z.string().nullable(),
  hubspot: z
    .object({
      accessToken: z.string(),
      portalId: z.string(),
      clientSecret: z.string().nullable(),
      emailSubscriptionId: z.string().nullable(),
      createMissingContacts: z.boolean(),
      syncEnabled: z.boolean(),
    })
    .nullable(),
  slack: z
    .object({
      botToken: z.string(),
      signingSecret: z.string(),
      alertChannel: z.string(),
      allowedUserIds: z.array(z.string()),
      botId: z.string().nullable(),
      botUserId: z.string().nullable(),
      digestThreshold: z.number(),
    })
    .nullable(),
});

/** What the API shows of the settings: secrets masked, the outbound signing secret when it is used. */
async function settingsView(store: Store, workspace: Workspace): Promise<z.infer<typeof SettingsJsonSchema>> {
  const settings = maskSecrets(workspace.settings);
  const outboundWebhookSecret = settings.outboundWebhookUrl ? await getOutboundWebhookSecret(store, workspace.id) : null;
  return { ...settings, outboundWebhookSecret };
}

export const workspaceRoutes: ApiRoutes = (v1, { store, clock, allowPrivateTargets }) => {
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
    async (request) => settingsView(store, await authOf(request).workspace.get()),
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
    async (request) => {
      // The outbound webhook is delivered like a hook, so its URL passes the same target check.
      const { outboundWebhookSecret, ...patch } = request.body;
      const { outboundWebhookUrl } = patch;
      if (typeof outboundWebhookUrl === 'string' && !allowPrivateTargets) assertPublicTargetUrl(outboundWebhookUrl, 'outboundWebhookUrl', 'settings');
      const { workspace, workspaceId } = authOf(request);
      // The settings as read can be patched back whole: the secret read back changes nothing.
      if (typeof outboundWebhookSecret === 'string' && outboundWebhookSecret !== (await getOutboundWebhookSecret(store, workspaceId))) {
        const message = 'is made by Consentry: send back the value read, or null for a new one';
        throw new ConsentryError('VALIDATION_FAILED', `outboundWebhookSecret: ${message}`, [{ path: 'outboundWebhookSecret', message }]);
      }
      const updated = await workspace.updateSettings(patch);
      // As POST /v1/settings/outbound-webhook/secret with its default overlap.
      if (outboundWebhookSecret === null) await store.transaction((tx) => rotateOutboundWebhookSecret(tx, updated.id, clock.now(), DEFAULT_PREVIOUS_SECRET_SECONDS));
      return settingsView(store, updated);
    },
  );
};
