import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkHubSpotAccountClaim, createHubSpotAccountVerifier } from '../../../connectors/hubspot/account.js';
import { forgetIssuedTokens, rememberIssuedTokens, withKeptRefreshToken, type IssuedHubSpotTokens } from '../../../connectors/hubspot/oauth.js';
import { ConsentryError, describeIssues, isConsentryError, issuesOfRefusal, refusalOf, withUnnamedFields, type ErrorCode, type FieldIssue } from '../../core/errors.js';
import { settingsWarnings } from '../../core/settings-warnings.js';
import { LanguageSchema, looksMasked, maskSecret, maskSecrets, WorkspacePurposesSchema, WorkspaceSettingsSchema, type Workspace, type WorkspaceSettings } from '../../core/settings.js';
import type { WorkspaceEngine } from '../../engine.js';
import { WorkspaceNameSchema } from '../../engine/inputs.js';
import { hubSpotAccountOf, sameHubSpotAccount } from '../../engine/integrations.js';
import { SETTINGS_REFUSAL_CODES } from '../../engine/settings.js';
import type { Store } from '../../ports/store.js';
import { rotateOutboundWebhookSecret } from '../../worker/hooks.js';
import { DEFAULT_PREVIOUS_SECRET_SECONDS, findOutboundWebhookSecret, provideOutboundWebhookSecret } from '../../worker/signing-secrets.js';
import { assertTargetUrlAllowed, hasRefusedTargetHost } from '../../worker/target-guard.js';
import { authOf } from '../auth.js';
import { problem, ProblemSchema, sendProblem, statusOfCode, toProblem } from '../problem.js';
import { FieldIssueJsonSchema, MERGE_PATCH_MEDIA_TYPES } from '../schemas.js';
import { API_KEY_SECURITY, type ApiRoutes } from '../types.js';

/** The problem code of a settings change refused because HubSpot could not say whose its access token is. */
export const HUBSPOT_UNAVAILABLE = 'HUBSPOT_UNAVAILABLE';


const shape = WorkspaceSettingsSchema.shape;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The refusal of a settings patch that the route's schema or its outbound URL check refuses,
 * naming every bad field at once (one `errors[]` entry per field): the schema's, the outbound
 * URL's, and those the engine's own merge of the patch finds (an unknown template, a binding that
 * could never start, a keyword rule). The schema's entry for a field comes first; the code is the
 * engine's where it names the refusal's kind more closely (SETTINGS_REFUSAL_CODES). A refusal of
 * the engine's that is no 422 (a busy store) adds nothing: the patch is refused all the same.
 */
async function settingsPatchRefusal(
  workspace: WorkspaceEngine,
  body: unknown,
  validationError: Error | null,
  request: FastifyRequest,
  allowPrivateTargets: boolean,
): Promise<Error> {
  let issues: FieldIssue[] = [];
  if (validationError !== null) {
    const refused = toProblem(validationError, request);
    if (refused.status !== 422) return validationError;
    issues = refused.errors;
  }
  const { outboundWebhookSecret: _kept, warnings: _ignored, ...patch } = isRecord(body) ? body : {};
  const url = patch.outboundWebhookUrl;
  const urlRefusal = typeof url === 'string' ? refusalOf(() => assertTargetUrlAllowed(url, 'outboundWebhookUrl', 'settings', { allowPrivate: allowPrivateTargets })) : null;
  if (urlRefusal !== null) issues = withUnnamedFields(issues, urlRefusal.issues);
  let code: ErrorCode = 'VALIDATION_FAILED';
  try {
    await workspace.previewSettings(patch);
  } catch (error) {
    if (!isConsentryError(error)) throw error;
    if (statusOfCode(error.code) === 422) {
      issues = withUnnamedFields(issues, issuesOfRefusal(error));
      if (SETTINGS_REFUSAL_CODES.includes(error.code)) code = error.code;
    }
  }
  return new ConsentryError(code, `Invalid settings: ${describeIssues(issues)}`, issues);
}

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
    hubspot: z.record(z.string(), z.unknown()).nullable().optional().describe('{ accessToken, portalId, clientSecret, clientId, refreshToken, emailSubscriptionId, createMissingContacts, syncEnabled }'),
    slack: z.record(z.string(), z.unknown()).nullable().optional().describe('{ botToken, signingSecret, alertChannel, allowedUserIds, botId, botUserId, digestThreshold }'),
    outboundWebhookSecret: z
      .string()
      .nullable()
      .optional()
      .describe(
        'Made by Consentry: the value read back (masked, or in full as the answer that made it showed it) keeps it; null makes a new one, shown in full in this answer, ' +
          'the old one signing beside it for 24 hours as POST /v1/settings/outbound-webhook/secret does by default (while no outboundWebhookUrl is set, null changes nothing)',
      ),
    warnings: z.array(z.unknown()).nullish().describe("Ignored: an earlier answer's warnings, sent back with the settings read from it"),
  })
  .strict();

const OUTBOUND_SECRET_DESCRIPTION =
  'Signs what is POSTed to outboundWebhookUrl, as a hook secret signs its deliveries; null while no URL is set. Masked like the other secrets (•••• and its last four characters), ' +
  'except in the answer that made it: the PATCH that first set outboundWebhookUrl, or one with "outboundWebhookSecret": null (and POST /v1/settings/outbound-webhook/secret). ' +
  'Keep it then: to get a new one, rotate it.';

const SettingsJsonSchema = z.object({
  privacyPolicyUrl: z.string().nullable(),
  defaultCountry: z.string().nullable(),
  purposes: z.array(z.string()),
  triggers: z.array(z.object({ trigger: z.string(), template: z.string(), match: z.string().optional(), enabled: z.boolean() })),
  keywords: z.record(z.string(), z.object({ opt_in: z.array(z.string()), opt_out: z.array(z.string()), help: z.array(z.string()), removed: z.array(z.string()) })),
  replies: z.record(z.string(), z.record(z.string(), z.string())),
  defaultLanguage: z.string(),
  outboundWebhookUrl: z.string().nullable(),
  outboundWebhookSecret: z.string().nullable().describe(OUTBOUND_SECRET_DESCRIPTION),
  hubspot: z
    .object({
      accessToken: z.string(),
      portalId: z.string(),
      clientSecret: z.string().nullable(),
      clientId: z.string().nullable(),
      refreshToken: z.string().nullable(),
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

const SETTINGS_WARNINGS_DESCRIPTION =
  'What the settings as changed leave undone, by field; empty when nothing: `triggers` when no enabled conversation_opened binding asks for privacy consent ' +
  '(a contact who opens a conversation is not asked; "triggers": null restores the default list), or `triggers.N.enabled` when that binding is there but ' +
  'switched off (send the list again with it true), `privacyPolicyUrl` while a bound workflow that needs it ' +
  '(request-consent-privacy) starts nothing for lack of it, `outboundWebhookUrl` while workflows run whose time-out texts and messages started from outside ' +
  'would reach no one, `defaultCountry` while a bound welcome-request-phone refuses national numbers. The change is stored all the same.';

const SettingsPatchAnswerSchema = SettingsJsonSchema.extend({ warnings: z.array(FieldIssueJsonSchema).describe(SETTINGS_WARNINGS_DESCRIPTION) });


/**
 * What the API shows of the settings: secrets masked, the outbound signing secret too (a key handed
 * to an integration must not read a secret that lets it sign messages to customers), except in
 * the answer that made it, `made`: the receiver needs it once, as a hook's secret is shown once.
 * A workspace whose URL was set without the API gets its secret made, and shown, by this reading.
 */
async function settingsView(store: Store, workspace: Workspace, made: string | null = null): Promise<z.infer<typeof SettingsJsonSchema>> {
  const settings = maskSecrets(workspace.settings);
  if (!settings.outboundWebhookUrl) return { ...settings, outboundWebhookSecret: null };
  if (made !== null) return { ...settings, outboundWebhookSecret: made };
  // Read without the write lock; only a workspace whose secret was never made needs a transaction to make it.
  const stored = await store.read((tx) => findOutboundWebhookSecret(tx, workspace.id));
  if (stored !== null) return { ...settings, outboundWebhookSecret: maskSecret(stored) };
  const { secret, created } = await store.transaction((tx) => provideOutboundWebhookSecret(tx, workspace.id));
  return { ...settings, outboundWebhookSecret: created ? secret : maskSecret(secret) };
}

/** Refuses an outboundWebhookSecret that is neither the stored one nor its mask: it cannot be chosen, only kept or renewed. */
function assertKeepsOutboundSecret(sent: string, stored: string | null): void {
  if (stored !== null && (sent === stored || sent === maskSecret(stored))) return;
  const message = looksMasked(sent)
    ? 'is a masked value that is not the stored secret: send back the value read, leave the field out, or null for a new one'
    : 'is made by Consentry: send back the value read, or null for a new one';
  throw new ConsentryError('VALIDATION_FAILED', `Invalid settings: outboundWebhookSecret: ${message}`, [{ path: 'outboundWebhookSecret', message }]);
}

/**
 * Whether a patch names the HubSpot token or portal id: what it stores of them was judged against
 * the settings read, so the write must find them as read (a patch that names neither keeps
 * whatever is stored by then).
 */
function namesHubSpotAccount(patch: { hubspot?: Record<string, unknown> | null | undefined }): boolean {
  const { hubspot } = patch;
  return hubspot !== undefined && hubspot !== null && HUBSPOT_ACCOUNT_FIELDS.some((field) => field in hubspot);
}

const HUBSPOT_ACCOUNT_FIELDS = ['accessToken', 'portalId', 'clientId', 'clientSecret', 'refreshToken'] as const;

/** Stands for the access token HubSpot issues while a patch that names a refresh token alone is previewed; never stored. */
const TOKEN_ISSUED_BY_HUBSPOT = 'issued-by-hubspot';

/** A patch that names a refresh token and no access token: HubSpot issues the first access token. */
function asksForIssuedToken(patch: { hubspot?: Record<string, unknown> | null | undefined }): boolean {
  const { hubspot } = patch;
  // A masked refresh token is the stored one sent back: nothing new to be issued for.
  return hubspot !== undefined && hubspot !== null && typeof hubspot.refreshToken === 'string' && !looksMasked(hubspot.refreshToken) && !('accessToken' in hubspot);
}

function withHubSpot<P extends { hubspot?: Record<string, unknown> | null | undefined }>(patch: P, fields: Record<string, unknown>): P {
  return { ...patch, hubspot: { ...patch.hubspot, ...fields } };
}

export const workspaceRoutes: ApiRoutes = (v1, { store, clock, allowPrivateTargets, hubSpotAccounts = createHubSpotAccountVerifier() }) => {
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

  v1.patch(
    '/me',
    {
      schema: {
        tags: ['workspace'],
        summary: "Rename the API key's workspace",
        description:
          'The name contacts may be sent ({{workspace.name}} in reply texts) and that consent receipts, the CLI and Slack show. ' +
          'It is trimmed; 1 to 100 characters, without control or bidirectional formatting characters. Several workspaces may share a name.',
        security: API_KEY_SECURITY,
        consumes: MERGE_PATCH_MEDIA_TYPES,
        body: z.object({ name: WorkspaceNameSchema }).strict(),
        response: { 200: z.object({ id: z.string(), name: z.string() }) },
      },
    },
    async (request) => {
      const renamed = await authOf(request).workspace.rename(request.body.name);
      return { id: renamed.id, name: renamed.name };
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
      // A refused patch names every bad field at once: the schema's, with those the engine finds (settingsPatchRefusal).
      attachValidation: true,
      schema: {
        tags: ['workspace'],
        summary: 'Change some settings; keys left out keep their value',
        description:
          'A change that sets or changes hubspot.accessToken or hubspot.portalId (or, for an OAuth app, hubspot.refreshToken, clientId or clientSecret) is checked with HubSpot first (GET /account-info/v3/details with the token; ' +
          'for an OAuth app with a token the token endpoint issues for the refresh token, which also fills an accessToken left out; a refusal of the token endpoint is 422 naming hubspot.refreshToken or hubspot.clientId): ' +
          'a token of another HubSpot account is refused with 422 naming hubspot.portalId, a token HubSpot refuses (401, 403 or any other 4xx than 429) with 422 naming hubspot.accessToken, ' +
          `and while HubSpot cannot answer the change is refused with 503 ${HUBSPOT_UNAVAILABLE} and Retry-After. ` +
          'When the token or portal id stored changes while HubSpot is asked, the change is refused with 409 CONFLICT on hubspot: send it again. A refused change stores nothing.',
        security: API_KEY_SECURITY,
        consumes: MERGE_PATCH_MEDIA_TYPES,
        body: SettingsPatchSchema,
        response: { 200: SettingsPatchAnswerSchema, 409: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request, reply) => {
      const { workspace, workspaceId } = authOf(request);
      if (request.validationError) throw await settingsPatchRefusal(workspace, request.body, request.validationError, request, allowPrivateTargets);
      const { outboundWebhookSecret, warnings: _ignored, ...patch } = request.body;
      const { outboundWebhookUrl } = patch;
      // The outbound webhook is delivered like a hook, so its URL passes the same target check.
      if (typeof outboundWebhookUrl === 'string' && hasRefusedTargetHost(outboundWebhookUrl, { allowPrivate: allowPrivateTargets })) {
        throw await settingsPatchRefusal(workspace, request.body, null, request, allowPrivateTargets);
      }
      const before = await store.transaction((tx) => findOutboundWebhookSecret(tx, workspaceId));
      // The settings as read can be patched back whole: the secret read back changes nothing.
      if (typeof outboundWebhookSecret === 'string') assertKeepsOutboundSecret(outboundWebhookSecret, before);
      const unavailable = (reason: string, retryAfterSeconds: number) => {
        request.log.warn({ reason }, 'settings change refused: HubSpot could not confirm the account of the access token');
        reply.header('retry-after', String(retryAfterSeconds));
        const detail = `HubSpot could not confirm which account the access token belongs to (${reason}); nothing was changed: send the request again after Retry-After`;
        return sendProblem(reply, problem(503, HUBSPOT_UNAVAILABLE, detail));
      };
      // An OAuth install given without an access token gets its first one from HubSpot: the
      // merged settings (with the client id and secret already stored) say whom to ask for it.
      let issued: IssuedHubSpotTokens | null = null;
      let change = patch;
      if (asksForIssuedToken(patch)) {
        const { after: draft } = await workspace.previewSettings(withHubSpot(patch, { accessToken: TOKEN_ISSUED_BY_HUBSPOT }));
        const oauth = hubSpotAccountOf(draft)?.oauth ?? null;
        if (oauth !== null) {
          const answer = await hubSpotAccounts.issueTokens(await withKeptRefreshToken(store, workspaceId, oauth));
          if (answer.outcome === 'refused') {
            throw new ConsentryError('VALIDATION_FAILED', `Invalid settings: ${answer.field}: ${answer.message}`, [{ path: answer.field, message: answer.message }]);
          }
          if (answer.outcome === 'unavailable') return unavailable(answer.reason, answer.retryAfterSeconds);
          issued = answer.tokens;
          change = withHubSpot(patch, { accessToken: issued.accessToken });
        }
      }
      // The engine's own merge says what the patch would store; nothing is written yet.
      const { before: current, after: merged } = await workspace.previewSettings(change);
      // Without a URL the secret reads null, so a null sent back with a new URL is the value read, not a request to rotate.
      const hadUrl = Boolean(current.outboundWebhookUrl);
      const read = hubSpotAccountOf(current);
      const wanted = hubSpotAccountOf(merged);
      const claim = wanted !== null && !sameHubSpotAccount(wanted, read) ? wanted : null;
      // Asked before the settings transaction, which must not hold the store's write lock while HubSpot answers.
      if (claim !== null) {
        const oauth = claim.oauth == null ? claim.oauth : await withKeptRefreshToken(store, workspaceId, claim.oauth);
        const checked = await checkHubSpotAccountClaim(hubSpotAccounts, { ...claim, oauth, issued });
        if (checked.verdict === 'refused') throw checked.error;
        if (checked.verdict === 'unavailable') return unavailable(checked.reason, checked.retryAfterSeconds);
        issued = checked.issued;
      }
      // The transaction compares the stored account with the one read, and stores a new one only as HubSpot confirmed it.
      const guarded = claim !== null || namesHubSpotAccount(change);
      const updated = await workspace.updateSettings(change, guarded ? { hubspotAccount: { read, confirmed: claim } } : {});
      const installed = hubSpotAccountOf(updated.settings)?.oauth ?? null;
      // The sync starts with the token the check was issued rather than asking HubSpot for another.
      if (issued !== null && installed !== null) await rememberIssuedTokens(store, workspaceId, installed, issued);
      if (installed === null && read?.oauth != null) await forgetIssuedTokens(store, workspaceId);
      const warnings = settingsWarnings(updated.settings);
      if (!updated.settings.outboundWebhookUrl) return { ...(await settingsView(store, updated)), warnings };
      if (outboundWebhookSecret === null && before !== null && hadUrl) {
        // As POST /v1/settings/outbound-webhook/secret with its default overlap.
        const rotated = await store.transaction((tx) => rotateOutboundWebhookSecret(tx, updated.id, clock.now(), DEFAULT_PREVIOUS_SECRET_SECONDS));
        return { ...(await settingsView(store, updated, rotated.secret)), warnings };
      }
      if (before !== null) return { ...(await settingsView(store, updated)), warnings };
      // The first URL makes the secret: this answer shows it, as a hook's creation shows its own.
      const { secret } = await store.transaction((tx) => provideOutboundWebhookSecret(tx, workspaceId));
      return { ...(await settingsView(store, updated, secret)), warnings };
    },
  );
};
