import { z } from 'zod';
import { ConsentryError, describeIssues, refusalOf, withUnnamedFields, type ErrorCode, type FieldIssue } from '../core/errors.js';
import { emptyKeywordMatch, normalizeText, unstartableKeywordMatch, validateWorkspaceKeywords, type WorkspaceKeywords } from '../core/keywords.js';
import { inPathOrder } from '../core/field-order.js';
import { zodIssuesToFieldIssues } from '../core/ledger.js';
import { FIELD_PARSE } from '../core/required.js';
import {
  inertTriggerIssues,
  keepMaskedSecrets,
  mergePatch,
  replyTextIssues,
  TriggerBindingSchema,
  WorkspaceSettingsSchema,
  type TriggerBinding,
  type WorkspaceSettings,
} from '../core/settings.js';
import { TEMPLATES, unknownTemplateMessage } from '../core/workflow/index.js';
import { invalidInput, parseInput } from './inputs.js';

/** Which checks beyond the schema a settings input gets, by what it sets. */
export interface SettingsChecks {
  /** The reply texts the input sets (every one when not given), checked for blank texts and variables (replyTextIssues). */
  repliesSet?: (language: string, key: string) => boolean;
  /**
   * The input is a change merged into the stored settings (mergeSettings), where a null takes a
   * value back to its default; a new workspace's settings leave such a value out instead. A
   * refusal of a blank reply text says which.
   */
  isPatch?: boolean;
  /** The input sets the trigger list: bindings that could never start are refused (inertTriggerIssues, unstartableKeywordMatch). */
  triggersSet?: boolean;
  /**
   * The keyword lists the input sets (all of them when not given), checked for a keyword listed
   * twice and for opt-in and help keywords that hold an opt-out word (validateWorkspaceKeywords).
   */
  keywordListsSet?: (language: string, list: string) => boolean;
  /**
   * The keywords stored before a change that sets keywords but not the trigger list: a stored
   * `keyword` binding that could start with them and could not with the new ones is refused.
   */
  keywordsBefore?: WorkspaceKeywords;
}

/**
 * The codes that name a kind of settings refusal more closely than VALIDATION_FAILED, strongest
 * first: a refusal with an issue of that kind answers under its code, naming every other bad field
 * beside it (as validateWorkspaceKeywords does for KEYWORD_NOT_REMOVABLE).
 */
export const SETTINGS_REFUSAL_CODES: readonly ErrorCode[] = ['KEYWORD_NOT_REMOVABLE', 'UNKNOWN_TEMPLATE'];

/**
 * Settings as stored, or a refusal naming every bad field at once, one `errors[]` entry per field:
 * the schema's, the keyword rules', the trigger bindings' (an unknown template, a binding that
 * could never start) and the reply texts'. A section the schema refuses is not checked further;
 * the other sections still are, so one answer names every problem of the input.
 */
export function parseSettings(input: unknown, checks: SettingsChecks = {}): WorkspaceSettings {
  const parsed = WorkspaceSettingsSchema.safeParse(input, FIELD_PARSE);
  const sections = parsed.success ? { ...parsed.data, triggers: [...parsed.data.triggers] } : readableSections(input);
  const refusals: ConsentryError[] = [];
  if (!parsed.success) refusals.push(invalidInput('settings', zodIssuesToFieldIssues(parsed.error)));
  const { keywords, replies, triggers } = sections;
  if (keywords !== undefined) {
    const refused = refusalOf(() => validateWorkspaceKeywords(keywords, checks.keywordListsSet, sentKeywords(input)));
    // Worded as the other settings refusals are, whichever answers alone.
    if (refused !== null) refusals.push(new ConsentryError(refused.code, `Invalid settings: ${describeIssues(refused.issues)}`, refused.issues));
  }
  const unknownTemplates = unknownTemplateIssues(triggers);
  if (unknownTemplates.length > 0) refusals.push(new ConsentryError('UNKNOWN_TEMPLATE', `Invalid settings: ${describeIssues(unknownTemplates)}`, unknownTemplates));
  const refusedBindings = [
    ...(checks.triggersSet === true ? inertTriggerIssues(triggers, (id) => TEMPLATES.has(id)) : []),
    ...(keywords === undefined ? [] : unstartableKeywordTriggerIssues(triggers, keywords, checks)),
  ];
  // Each binding's issues by its place in the list, whichever check found them.
  const bindingIssues = inPathOrder([
    ...refusedBindings,
    ...(checks.triggersSet === true ? sameReadingKeywordIssues(triggers, new Set([...unknownTemplates, ...refusedBindings].map(bindingIndex))) : []),
  ]);
  const replyIssues = replies === undefined ? [] : replyTextIssues(replies, checks.repliesSet, checks.isPatch === true ? 'send null' : 'leave it out');
  const issues = [...bindingIssues, ...replyIssues];
  if (issues.length > 0) refusals.push(invalidInput('settings', issues));
  const [first] = refusals;
  if (first === undefined && parsed.success) return parsed.data;
  if (first !== undefined && refusals.length === 1) throw first;
  // Named in path order whichever check found them, as the API lists a problem's errors (field-order.ts).
  const all = inPathOrder(refusals.reduce<FieldIssue[]>((named, refusal) => withUnnamedFields(named, refusal.issues), []));
  const code = SETTINGS_REFUSAL_CODES.find((specific) => refusals.some((refusal) => refusal.code === specific)) ?? 'VALIDATION_FAILED';
  throw new ConsentryError(code, `Invalid settings: ${describeIssues(all)}`, all);
}

/** A settings patch is a JSON Merge Patch (RFC 7396) of the current settings. */
export function mergeSettings(current: WorkspaceSettings, patch: unknown): WorkspaceSettings {
  const patchObject = parseInput(z.record(z.string(), z.unknown()), patch, 'settings');
  const patchedReplies = new Map(Object.entries(patchObject.replies ?? {}));
  // A text is set by the patch when it sends another one than is stored: settings read and sent
  // back whole keep a text stored before a check, as every other setting sent back is kept.
  const setByPatch = (language: string, key: string): boolean => {
    const texts: unknown = patchedReplies.get(language);
    if (typeof texts !== 'object' || texts === null) return false;
    const sent: unknown = Reflect.get(texts, key);
    const storedTexts: unknown = Reflect.get(current.replies, language);
    const stored: unknown = typeof storedTexts === 'object' && storedTexts !== null ? Reflect.get(storedTexts, key) : undefined;
    return typeof sent === 'string' && sent !== stored;
  };
  const patchedKeywords = new Map(Object.entries(patchObject.keywords ?? {}));
  const keywordListSetByPatch = (language: string, list: string): boolean => {
    const lists: unknown = patchedKeywords.get(language);
    return typeof lists === 'object' && lists !== null && Array.isArray(Reflect.get(lists, list));
  };
  const triggersSet = Array.isArray(patchObject.triggers);
  return parseSettings(mergePatch(current, keepMaskedSecrets(current, patchObject)), {
    repliesSet: setByPatch,
    isPatch: true,
    triggersSet,
    keywordListsSet: keywordListSetByPatch,
    ...(!triggersSet && 'keywords' in patchObject ? { keywordsBefore: current.keywords } : {}),
  });
}

/** The `keywords` section of a settings input as sent, before the schema trimmed its keywords: a refusal quotes a keyword as it was sent. */
function sentKeywords(input: unknown): unknown {
  return typeof input === 'object' && input !== null ? Reflect.get(input, 'keywords') : undefined;
}

/** The index of the binding a `triggers.<index>.<field>` issue names. */
function bindingIndex(issue: FieldIssue): number {
  return Number(issue.path.split('.')[1]);
}

interface ReadableSections {
  keywords: WorkspaceSettings['keywords'] | undefined;
  replies: WorkspaceSettings['replies'] | undefined;
  /** Each binding as parsed, undefined where the schema refuses it. */
  triggers: (TriggerBinding | undefined)[];
}

/** The sections of settings the schema refused as a whole that it reads on their own, for the checks beyond it. */
function readableSections(input: unknown): ReadableSections {
  const raw: Record<string, unknown> = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...input } : {};
  const { shape } = WorkspaceSettingsSchema;
  const given = raw.triggers;
  const triggers = Array.isArray(given)
    ? given.map((binding) => TriggerBindingSchema.safeParse(binding).data)
    : given === undefined
      ? shape.triggers.parse(undefined)
      : [];
  return { keywords: shape.keywords.safeParse(raw.keywords).data, replies: shape.replies.safeParse(raw.replies).data, triggers };
}

/** The bindings naming a template that is not built in, each named `triggers.<index>.template`. */
function unknownTemplateIssues(triggers: readonly (TriggerBinding | undefined)[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  triggers.forEach((binding, index) => {
    if (binding === undefined || TEMPLATES.has(binding.template)) return;
    issues.push({ path: `triggers.${index}.template`, message: unknownTemplateMessage(binding.template) });
  });
  return issues;
}

/**
 * The `keyword` bindings whose match never starts them with the workspace's keywords
 * (unstartableKeywordMatch), or, where the input sets the trigger list, reads as nothing
 * (emptyKeywordMatch), named `triggers.<index>.match`. Where the input sets the trigger list
 * every binding is checked; where it changes only keywords, the bindings it would silence (those
 * that could start with `keywordsBefore`), so a binding stored before such bindings were refused
 * does not block the change; otherwise none.
 */
function unstartableKeywordTriggerIssues(triggers: readonly (TriggerBinding | undefined)[], keywords: WorkspaceKeywords, checks: SettingsChecks): FieldIssue[] {
  const before = checks.keywordsBefore;
  if (checks.triggersSet !== true && before === undefined) return [];
  const issues: FieldIssue[] = [];
  triggers.forEach((binding, index) => {
    if (binding?.trigger !== 'keyword' || binding.match === undefined) return;
    const empty = checks.triggersSet === true ? emptyKeywordMatch(binding.match) : null;
    if (empty !== null) {
      issues.push({ path: `triggers.${index}.match`, message: empty });
      return;
    }
    const why = unstartableKeywordMatch(binding.match, keywords);
    if (why === null || (checks.triggersSet !== true && unstartableKeywordMatch(binding.match, before) !== null)) return;
    issues.push({ path: `triggers.${index}.match`, message: `a "keyword" binding that never starts: ${why}` });
  });
  return issues;
}

/**
 * The enabled `keyword` bindings whose match reads as an earlier enabled one's does, compared as
 * a message is matched with a phrase (normalizeText, as startTriggeredWorkflows compares them), or
 * that have no phrase at all (each starts on every typed message), each named `triggers.<index>.match` beside the earlier one: one message would start both
 * workflows at once (two welcomes, two questions, the contact's answer going to the older), or,
 * bound to the same template, the binding is there twice. A disabled binding starts nothing, so
 * it may keep a phrase an enabled one uses (a template to switch to). Checked where the input sets
 * the trigger list only, as the other binding checks are: settings stored before keep loading and
 * a change to another setting goes through. A binding `skip` holds (refused for another reason)
 * is neither named again nor compared with.
 */
function sameReadingKeywordIssues(triggers: readonly (TriggerBinding | undefined)[], skip: ReadonlySet<number>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const firstByPhrase = new Map<string | null, { index: number; binding: TriggerBinding }>();
  triggers.forEach((binding, index) => {
    if (binding?.trigger !== 'keyword' || !binding.enabled || skip.has(index)) return;
    // A binding without a phrase starts on every typed message: two of them would both start.
    const phrase = binding.match === undefined ? null : normalizeText(binding.match);
    const earlier = firstByPhrase.get(phrase);
    if (earlier === undefined) {
      firstByPhrase.set(phrase, { index, binding });
      return;
    }
    const same =
      phrase === null
        ? `has no phrase, as triggers.${earlier.index} has none: both start on every typed message`
        : `reads the same as triggers.${earlier.index}.match (${JSON.stringify(earlier.binding.match)})`;
    issues.push({
      path: `triggers.${index}.match`,
      message:
        earlier.binding.template === binding.template
          ? `${same}, bound to the same template: the binding is there twice; leave one out`
          : phrase === null
            ? `${same}; give one of them a phrase, or disable one of the two bindings`
            : `${same}: a message is compared with a phrase as keywords are (letter case, accents and the punctuation around it aside), so one message would start both workflows; bind each phrase once, or disable one of the two bindings`,
    });
  });
  return issues;
}
