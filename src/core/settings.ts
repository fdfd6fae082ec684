import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod';
import { BUILT_IN_PURPOSES, misspeltPurposeMessage, purposeInOtherCase, PurposeSchema, type Purpose } from './consent.js';
import { ConsentryError, describeIssues, type FieldIssue } from './errors.js';
import { notOneOf, requiredOr, shownValue, withMeant } from './required.js';
import { foldAsciiCase, isBlank } from './text.js';

/** Languages with built-in keywords and reply texts (DESIGN §3). */
export const LANGUAGES = ['en', 'es', 'fr', 'pt', 'de', 'ja'] as const;
/**
 * A language code (`defaultLanguage`). A value that is there but not a code is worded as any value
 * outside its list is (notOneOf), naming the code it spells in other letter case; an absent one is
 * left to the parse's own wording (`is required: one of ...`).
 */
export const LanguageSchema = z.enum(LANGUAGES, {
  error: (issue) => (issue.input === undefined ? undefined : withMeantLanguage(notOneOf(issue.input, LANGUAGES), issue.input)),
});
export type Language = z.infer<typeof LanguageSchema>;

/**
 * The language a code spells in another letter case or with blank space around it (`EN` for
 * `en`); undefined for any other value. Only ASCII letters are folded, as for a purpose
 * (purposeInOtherCase): no other letter stands for one of the codes.
 */
function languageInOtherCase(code: unknown): Language | undefined {
  if (typeof code !== 'string') return undefined;
  const folded = foldAsciiCase(code.trim());
  return folded === code ? undefined : LANGUAGES.find((language) => language === folded);
}

/** `message`, followed for a language code in another letter case by the language it spells (`(did you mean "en"?)`). */
function withMeantLanguage(message: string, code: unknown): string {
  return withMeant(message, languageInOtherCase(code));
}

/**
 * The refusal of a language code outside LANGUAGES, quoting it: `"xx" is not a language: one of
 * en, es, fr, pt, de, ja`, and `"EN" ... (did you mean "en"?)` for one in other letter case.
 */
function notLanguageMessage(code: unknown): string {
  return withMeantLanguage(`${shownValue(code)} is not a language: one of ${LANGUAGES.join(', ')}`, code);
}

/**
 * Settings kept per language (`keywords`, `replies`), keyed by language code. Keyed by
 * LanguageSchema itself, zod would take the keys from its list and refuse any other as an unknown
 * key of the record, which a refusal words `is not a known field`. Keyed by the codes as a
 * pattern (a template literal of the same type), each key is checked on its own, so a code that
 * is not a language is refused at its own path (`keywords.xx`) naming the languages there are.
 */
function perLanguage<Value extends z.ZodType>(value: Value) {
  return z.partialRecord(z.templateLiteral([LanguageSchema]), value, {
    error: (issue) => (issue.code === 'invalid_key' ? notLanguageMessage(issue.input) : undefined),
  });
}

export const WORKFLOW_TRIGGERS = ['conversation_opened', 'tag_added', 'keyword', 'manual'] as const;
export const WorkflowTriggerSchema = z.enum(WORKFLOW_TRIGGERS);
export type WorkflowTrigger = z.infer<typeof WorkflowTriggerSchema>;

export const REPLY_KEYS = ['opt_in_confirmation', 'opt_out_confirmation', 'help'] as const;
export const ReplyKeySchema = z.enum(REPLY_KEYS);
export type ReplyKey = z.infer<typeof ReplyKeySchema>;

export const TriggerBindingSchema = z.object({
  trigger: WorkflowTriggerSchema,
  template: z.string().min(1).max(100),
  /** For `tag_added`: the tag; for `keyword`: the keyword. */
  match: z.string().min(1).max(200).optional(),
  enabled: z.boolean().default(true),
});
export type TriggerBinding = z.infer<typeof TriggerBindingSchema>;

/**
 * The bindings of `triggers` that could never start their template, as issues named
 * `triggers.<index>.<field>`: a `manual` binding (nothing fires it; a manual start names its
 * template itself) and a `conversation_opened` one with a `match` (an opening carries no phrase
 * to compare it with). A `keyword` binding whose match is a keyword or holds an opt-out word is
 * the keyword recogniser's to judge (unstartableKeywordMatch in keywords.ts). Checked where a list
 * is set (a new workspace, a settings change that sends `triggers`), not on every change: a binding
 * stored before they were refused stays, inert as it always was, and must not block a change to
 * another setting.
 */
export function inertTriggerIssues(triggers: readonly (TriggerBinding | undefined)[], isTemplate: (id: string) => boolean): FieldIssue[] {
  const issues: FieldIssue[] = [];
  triggers.forEach((binding, index) => {
    // A binding the schema refused is named by the schema.
    if (binding === undefined) return;
    if (binding.trigger === 'manual') {
      // A template that does not exist is named by the template check; its route would be a 404.
      const route = isTemplate(binding.template) ? `/v1/workflows/${binding.template}/runs` : '/v1/workflows/{template}/runs';
      issues.push({
        path: `triggers.${index}.trigger`,
        message: `a "manual" binding never starts anything: manual starts need no binding; start the template with POST ${route}`,
      });
    } else if (binding.trigger === 'conversation_opened' && binding.match !== undefined) {
      issues.push({
        path: `triggers.${index}.match`,
        message: 'a "conversation_opened" binding takes no match: an opening has no phrase to compare it with, so with one it would never start; leave match out (to start on a phrase, use the "keyword" trigger)',
      });
    }
  });
  return issues;
}

/**
 * A keyword list. An empty or blank keyword is the keyword rules' to refuse (validateWorkspaceKeywords
 * in keywords.ts, "is empty once punctuation, symbols and white space are removed"), as one that is
 * only punctuation is: refused here, the whole keywords section would fail to parse and the rules
 * would not run, so the one answer would name the blank keyword alone and hide the others.
 */
const keywordList = z.array(z.string().trim().max(60)).max(50);

export const WorkspaceKeywordsSchema = z
  .object({
    opt_in: keywordList.default([]),
    opt_out: keywordList.default([]),
    help: keywordList.default([]),
    /** Built-in keywords this workspace switches off; STOP, START and HELP cannot be. */
    removed: keywordList.default([]),
  })
  .strict();

/** Whether `url` names a user name or password: false for text that is no URL. */
export function urlHasCredentials(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.username !== '' || parsed.password !== '';
}

/**
 * Where Consentry POSTs webhooks: http(s), and without credentials in the URL (`user:pw@`), which
 * would be shown back in every listing and log line; a receiver authenticates deliveries by their
 * signature instead.
 */
export const WebhookTargetUrlSchema = z
  .url({ protocol: /^https?$/, error: requiredOr('must be an http(s) URL') })
  .max(2048)
  // zod runs this check after a failed URL check too: what does not parse is the URL check's to name.
  .refine((url) => !urlHasCredentials(url), 'must not carry a user name or password: a receiver checks the X-Consentry-Signature instead');

/** The HubSpot connector of a workspace (DESIGN §6 HubSpot). */
export const HubSpotSettingsSchema = z
  .object({
    /**
     * A private-app token, or with `refreshToken` the OAuth access token last issued: the
     * connector refreshes it itself (HubSpot's access tokens live 30 minutes).
     */
    accessToken: z.string().trim().min(1).max(1000),
    /** The HubSpot account (portal) id; workflow-action requests name it and pick the workspace by it. */
    portalId: z.string().regex(/^\d{1,20}$/, 'portalId is the numeric HubSpot account id'),
    /** The app's client secret, which signs HubSpot's requests (v2/v3 signatures) and, for an OAuth app, asks for its tokens. */
    clientSecret: z.string().trim().min(1).max(500).nullable().default(null),
    /** The OAuth app's client id; with `refreshToken` and `clientSecret`. */
    clientId: z.string().trim().min(1).max(200).nullable().default(null),
    /** The refresh token of the OAuth app's install in this portal: access tokens are asked for with it. */
    refreshToken: z.string().trim().min(1).max(1000).nullable().default(null),
    /** The email subscription type that marketing e-mail consent maps to. */
    emailSubscriptionId: z.string().regex(/^\d{1,20}$/, 'emailSubscriptionId is a numeric subscription type id').nullable().default(null),
    /** Create a HubSpot contact when none matches by id, e-mail or phone. */
    createMissingContacts: z.boolean().default(false),
    syncEnabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((hubspot, context) => {
    // https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide: a refresh needs the app's id and secret.
    if (hubspot.refreshToken === null) return;
    if (hubspot.clientId === null) context.addIssue({ code: 'custom', path: ['clientId'], message: "is required with refreshToken: the OAuth app's client id" });
    if (hubspot.clientSecret === null) context.addIssue({ code: 'custom', path: ['clientSecret'], message: "is required with refreshToken: the OAuth app's client secret" });
  });
export type HubSpotSettings = z.infer<typeof HubSpotSettingsSchema>;

/** The Slack connector of a workspace (DESIGN §6 Slack). */
export const SlackSettingsSchema = z
  .object({
    botToken: z.string().regex(/^xoxb-[A-Za-z0-9-]+$/, 'botToken is a bot token starting with xoxb-'),
    signingSecret: z.string().trim().min(1).max(200),
    /** The channel id (C…/G…) alerts go to. */
    alertChannel: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'alertChannel is a channel id such as C0123456789'),
    /** Slack user ids allowed to use the alert buttons. */
    allowedUserIds: z.array(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U0123456789')).max(500).default([]),
    /** Known bot ids let the app start without calling auth.test (`consentry slack check` prints them). */
    botId: z.string().regex(/^B[A-Z0-9]{2,}$/).nullable().default(null),
    botUserId: z.string().regex(/^[UW][A-Z0-9]{2,}$/).nullable().default(null),
    /** More alerts than this in a minute on the channel become one digest message. */
    digestThreshold: z.number().int().min(1).max(100).default(10),
  })
  .strict();
export type SlackSettings = z.infer<typeof SlackSettingsSchema>;

/** Settings values that are secrets: never echoed back in full by the API. */
export const SECRET_SETTINGS: readonly (readonly [string, string])[] = [
  ['hubspot', 'accessToken'],
  ['hubspot', 'clientSecret'],
  ['hubspot', 'refreshToken'],
  ['slack', 'botToken'],
  ['slack', 'signingSecret'],
];

/**
 * The refusal of an entry of a settings list that repeats an earlier one (a purpose, a keyword),
 * quoting it: `"surveys" is listed twice`.
 */
export function listedTwiceMessage(value: string): string {
  return `${shownValue(value)} is listed twice`;
}

/**
 * A workspace's own purposes beside the built-in privacy and marketing (DESIGN §2: "a
 * workspace-defined purpose"). Consent is recorded and asked about only for a known purpose, so
 * a misspelt one is refused instead of starting a ledger of its own.
 */
export const WorkspacePurposesSchema = z
  .array(PurposeSchema)
  .max(1000)
  .superRefine((purposes, ctx) => {
    const seen = new Set<string>();
    purposes.forEach((purpose, index) => {
      if ((BUILT_IN_PURPOSES as readonly string[]).includes(purpose)) {
        ctx.addIssue({ code: 'custom', path: [index], message: `"${purpose}" is built in; list only the workspace's own purposes` });
      } else if (seen.has(purpose)) {
        ctx.addIssue({ code: 'custom', path: [index], message: listedTwiceMessage(purpose) });
      }
      seen.add(purpose);
    });
  });

/** A `{{...}}` in a reply text: the variable it names, spaces around it allowed. */
export const REPLY_VARIABLE_PATTERN = /\{\{\s*([^{}]*?)\s*\}\}/g;
/**
 * The variables a keyword reply may use. Carriers ask a HELP reply and an opt-in confirmation to
 * name the brand or program (CTIA Messaging Principles and Best Practices, 5.1-5.2), which one
 * text can then do for every workspace that shares it.
 */
export const REPLY_VARIABLES = ['workspace.name'] as const;

/**
 * A reply text. A blank one is refused beside the schema (replyTextIssues), not by it: the schema
 * reads the whole of the settings on every change, so a blank text stored before blank texts were
 * refused would block a change to any other setting.
 */
const ReplyTextSchema = z.string().max(1000);

/**
 * How a settings input takes a reply text back to the built-in one: a settings change, a JSON
 * Merge Patch (RFC 7396, mergePatch), sends null for it, which removes the workspace's text;
 * the settings of a new workspace leave it out.
 */
export type ReplyRemoval = 'send null' | 'leave it out';

/**
 * The refusal of a blank reply text (isBlank: empty, or only white space and invisible characters).
 * replyText would never send it, falling back to the built-in text, so the settings would show one
 * text and the contact get another; and one of invisible characters alone would be sent as an
 * empty-looking message.
 */
export function blankReplyMessage(removal: ReplyRemoval): string {
  return `is blank: a reply needs something besides white space and invisible characters; ${removal} for the built-in text`;
}

/**
 * The reply texts that cannot be sent as written, one issue per text named `replies.<lang>.<key>`:
 * a blank one (blankReplyMessage), and each `{{...}}` that names no REPLY_VARIABLES. Checked where
 * a text is set (`only` names the texts a settings patch sets), not on every settings change: a
 * text stored before these checks keeps being sent as it was (a blank one never is, replyText
 * falls back from it), and must not block a change to another setting.
 */
export function replyTextIssues(
  replies: WorkspaceSettings['replies'],
  only?: (language: string, key: string) => boolean,
  removal: ReplyRemoval = 'send null',
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [language, texts] of Object.entries(replies)) {
    for (const [key, text] of Object.entries(texts ?? {})) {
      if (typeof text !== 'string' || (only !== undefined && !only(language, key))) continue;
      if (isBlank(text)) {
        issues.push({ path: `replies.${language}.${key}`, message: blankReplyMessage(removal) });
        continue;
      }
      for (const [written, name] of text.matchAll(REPLY_VARIABLE_PATTERN)) {
        if ((REPLY_VARIABLES as readonly string[]).includes(name ?? '')) continue;
        issues.push({
          path: `replies.${language}.${key}`,
          message: `${written} is not a variable a reply can use; it may use ${REPLY_VARIABLES.map((variable) => `{{${variable}}}`).join(', ')}`,
        });
      }
    }
  }
  return issues;
}

/** An ISO 3166-1 alpha-2 code in either letter case: ASCII letters only, as the standard's codes are. */
const COUNTRY_CODE = /^[A-Za-z]{2}$/;

/**
 * What a defaultCountry not written as an ISO 3166-1 alpha-2 code is refused with: the value,
 * quoted as every refused value is (shownValue), and the form; for a code of a numbering plan
 * with blank space around it, that code.
 */
function notCountryCodeMessage(value: unknown): string {
  const message = `${shownValue(value)} is not an ISO 3166-1 alpha-2 code, such as "ES"`;
  const code = typeof value === 'string' ? value.trim() : '';
  return withMeant(message, COUNTRY_CODE.test(code) && isSupportedCountry(code.toUpperCase()) ? code.toUpperCase() : undefined);
}

/**
 * A default country as the settings keep it. ISO 3166-1 writes its codes in capital letters
 * (https://www.iso.org/iso-3166-country-codes.html), and libphonenumber reads only those, so a
 * code sent in any letter case (as `consentry import --country` reads one) is stored in capitals.
 */
const DefaultCountrySchema = z
  .string()
  .regex(COUNTRY_CODE, { error: (issue) => notCountryCodeMessage(issue.input) })
  // Refused here rather than at the first phone number read with it, where the error would name the phone.
  // A code of the wrong form is refused by the check above alone; the value is quoted as it was sent.
  .refine((code) => !COUNTRY_CODE.test(code) || isSupportedCountry(code.toUpperCase()), {
    error: (issue) => `${shownValue(issue.input)} is not a country with a telephone numbering plan, such as "ES"`,
  })
  .toUpperCase();

export const PRIVACY_URL_CREDENTIALS = 'must not carry a user name or password: every contact is sent this link, and the consent records quote it for good';

export const WorkspaceSettingsSchema = z
  .object({
    privacyPolicyUrl: z
      .url({ protocol: /^https?$/, error: requiredOr('must be an http(s) URL with its scheme, such as https://example.com/privacy') })
      // Every contact is sent the link, and the explanation of each privacy decision quotes it into
      // the hash-chained ledger, which keeps it for good, erasure included.
      .refine((url) => !urlHasCredentials(url), { message: PRIVACY_URL_CREDENTIALS })
      .nullable()
      .default(null),
    /** ISO 3166-1 alpha-2 country used to read phone numbers without a + prefix. */
    defaultCountry: DefaultCountrySchema.nullable().default(null),
    purposes: WorkspacePurposesSchema.default([]),
    triggers: z.array(TriggerBindingSchema).max(50).default([{ trigger: 'conversation_opened', template: 'request-consent-privacy', enabled: true }]),
    /** Keywords the workspace adds (or switches off) per language. */
    keywords: perLanguage(WorkspaceKeywordsSchema).default({}),
    /** Reply texts per language; missing ones fall back to the built-in texts, then English. */
    replies: perLanguage(z.partialRecord(ReplyKeySchema, ReplyTextSchema)).default({}),
    defaultLanguage: LanguageSchema.default('en'),
    /** A custom channel's outbound webhook: replies are POSTed there through the outbox. */
    outboundWebhookUrl: WebhookTargetUrlSchema.nullable().default(null),
    hubspot: HubSpotSettingsSchema.nullable().default(null),
    slack: SlackSettingsSchema.nullable().default(null),
  })
  .strict();
export type WorkspaceSettings = z.infer<typeof WorkspaceSettingsSchema>;
export type WorkspaceSettingsInput = z.input<typeof WorkspaceSettingsSchema>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key (back to its
 * default), anything else replaces. So `{ "hubspot": { "createMissingContacts": true } }`
 * keeps the token, and `{ "keywords": { "es": ... } }` keeps the other languages.
 */
export function mergePatch(target: unknown, patch: unknown, path: readonly string[] = []): unknown {
  if (!isPlainObject(patch)) return patch;
  // Settings nest four levels at most (replies.<lang>.<key>); a patch far deeper can only be
  // refused, and merging it first would recurse as deep as the request cares to nest.
  if (path.length >= MAX_PATCH_DEPTH) {
    const issues: FieldIssue[] = [{ path: path.slice(0, 3).join('.'), message: `nested more than ${MAX_PATCH_DEPTH} levels deep` }];
    throw new ConsentryError('VALIDATION_FAILED', `Invalid settings: ${describeIssues(issues)}`, issues);
  }
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value, [...path, key]);
  }
  return result;
}

/** How deep a settings patch may nest objects: well above the settings' own depth. */
const MAX_PATCH_DEPTH = 16;

const MASK = '••••';

/** How the API shows a secret: a mask and its last four characters. */
export function maskSecret(secret: string): string {
  return `${MASK}${secret.slice(-4)}`;
}

/** Whether a value sent looks like a secret as `maskSecret` shows it. */
export function looksMasked(value: string): boolean {
  return value.startsWith(MASK);
}

/** A copy of the settings with secrets masked to their last four characters. */
export function maskSecrets(settings: WorkspaceSettings): WorkspaceSettings {
  // Not re-parsed afterwards: a masked value no longer matches its own format (xoxb-…).
  const copy = structuredClone(settings);
  const sections: Record<string, unknown> = copy;
  for (const [section, key] of SECRET_SETTINGS) {
    const block = sections[section];
    const value = isPlainObject(block) ? block[key] : undefined;
    if (isPlainObject(block) && typeof value === 'string') block[key] = maskSecret(value);
  }
  return copy;
}

/**
 * The patch without the secrets it sends back exactly as the settings showed them (masked), so
 * settings read, edited and patched back keep their secrets. Any other masked-looking value is
 * refused: stored, it would replace the secret with its own mask.
 */
export function keepMaskedSecrets(current: WorkspaceSettings, patch: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = { ...patch };
  const stored: Record<string, unknown> = current;
  const issues: FieldIssue[] = [];
  for (const [section, key] of SECRET_SETTINGS) {
    const block = kept[section];
    const sent = isPlainObject(block) ? block[key] : undefined;
    if (!isPlainObject(block) || typeof sent !== 'string' || !looksMasked(sent)) continue;
    const storedBlock = stored[section];
    const secret = isPlainObject(storedBlock) ? storedBlock[key] : undefined;
    if (typeof secret === 'string' && maskSecret(secret) === sent) {
      const { [key]: _unchanged, ...rest } = block;
      kept[section] = rest;
    } else {
      issues.push({ path: `${section}.${key}`, message: 'is a masked value: send the secret itself, or leave the field out to keep the one stored' });
    }
  }
  // Worded as every settings refusal is (parseSettings), whichever check refuses the patch.
  if (issues.length > 0) throw new ConsentryError('VALIDATION_FAILED', `Invalid settings: ${describeIssues(issues)}`, issues);
  return kept;
}

export function defaultSettings(): WorkspaceSettings {
  return WorkspaceSettingsSchema.parse({});
}

export interface Workspace {
  id: string;
  name: string;
  settings: WorkspaceSettings;
  createdAt: string;
  updatedAt: string;
}

/** The purposes consent can be recorded and asked about for in a workspace: the built-in ones, then its own. */
export function knownPurposes(settings: Pick<WorkspaceSettings, 'purposes'>): Purpose[] {
  return [...BUILT_IN_PURPOSES, ...settings.purposes];
}

/**
 * The refusal of a purpose not spelled as one could be, naming the purpose of the workspace it
 * spells in other letter case, its own ones included (`"Surveys" is not a purpose: ... (did you
 * mean "surveys"?)`); undefined when it spells none. PurposeSchema, which has no workspace at hand,
 * names only a built-in one.
 */
export function misspeltWorkspacePurposeMessage(purpose: string, settings: Pick<WorkspaceSettings, 'purposes'>): string | undefined {
  const known = knownPurposes(settings);
  return purposeInOtherCase(purpose, known) === undefined ? undefined : misspeltPurposeMessage(purpose, known);
}

/**
 * `issues` with the one about `purpose` worded by misspeltWorkspacePurposeMessage, where the
 * purpose sent spells one of the workspace's in other letter case; the others as they are.
 */
export function withWorkspacePurposeMeant(issues: readonly FieldIssue[], purpose: unknown, settings: Pick<WorkspaceSettings, 'purposes'>): FieldIssue[] {
  const message = typeof purpose === 'string' ? misspeltWorkspacePurposeMessage(purpose, settings) : undefined;
  return message === undefined ? [...issues] : issues.map((issue) => (issue.path === 'purpose' ? { ...issue, message } : issue));
}

/** Refuses a purpose the workspace does not know, naming the ones it does. */
export function assertKnownPurpose(purpose: string, settings: Pick<WorkspaceSettings, 'purposes'>, path = 'purpose'): void {
  const known = knownPurposes(settings);
  if (known.includes(purpose)) return;
  const message = `unknown purpose "${purpose}": this workspace knows ${known.join(', ')} (add its own purposes to settings.purposes)`;
  throw new ConsentryError('VALIDATION_FAILED', `${path}: ${message}`, [{ path, message }]);
}
