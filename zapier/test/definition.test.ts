import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TEMPLATES } from '../../src/core/workflow/templates.js';
import app from '../src/index.js';
import { run } from './support.js';

const require = createRequire(import.meta.url);
const unaryFunction = z.custom<(argument: unknown) => unknown>((value) => typeof value === 'function', 'a function');
// zapier-platform-schema 19.1.0 is CommonJS: `module.exports = { AppSchema, validateAppDefinition, exportSchema }`.
const { validateAppDefinition } = z
  .object({ validateAppDefinition: unaryFunction })
  .parse(require('zapier-platform-schema'));
// The serialiser `zapier-platform push` uses: functions become "$func$<arity>$f$" markers (core's cleaner.js).
const { compileApp, serializeApp } = z
  .object({ compileApp: unaryFunction, serializeApp: unaryFunction })
  .parse(require('zapier-platform-core/src/tools/schema'));

const ValidationSchema = z.object({ errors: z.array(z.object({ stack: z.string() })) });

const OperationSchema = z.object({
  display: z.object({ label: z.string().optional(), description: z.string().optional(), hidden: z.boolean().optional() }),
  operation: z.object({
    sample: z.record(z.string(), z.unknown()).optional(),
    // A function that computes fields (dynamic fields) is serialised as a "$func$2$f$" marker.
    inputFields: z.array(z.union([z.object({ key: z.string(), required: z.boolean().optional() }), z.string()])).optional(),
    outputFields: z.array(z.object({ key: z.string(), label: z.string().optional() })).optional(),
  }),
});
const SerialisedSchema = z.object({
  version: z.string(),
  platformVersion: z.string(),
  triggers: z.record(z.string(), OperationSchema),
  creates: z.record(z.string(), OperationSchema),
  searches: z.record(z.string(), OperationSchema),
});

function operationsWithoutSample(definition: z.infer<typeof SerialisedSchema>): string[] {
  const missing: string[] = [];
  for (const kind of ['triggers', 'creates', 'searches'] as const) {
    for (const [key, operation] of Object.entries(definition[kind])) {
      if (kind === 'triggers' && operation.display.hidden) continue;
      const sample = operation.operation.sample;
      if (!sample || !('id' in sample)) missing.push(`${kind}.${key}`);
    }
  }
  return missing;
}

/**
 * Words of a label that Zapier's "Titlecased Label" check (D018,
 * https://docs.zapier.com/integrations/publish/integration-checks-reference) leaves in lower case.
 */
const SMALL_WORDS = new Set(['a', 'an', 'and', 'as', 'at', 'by', 'for', 'from', 'in', 'of', 'on', 'or', 'the', 'to', 'with']);

function notTitleCased(label: string): string[] {
  return label
    .split(/[\s-]+/)
    .filter((word, index) => !(index > 0 && SMALL_WORDS.has(word)) && /^[a-z]/.test(word));
}

/** The key of each required input field that comes after an optional one. */
function requiredAfterOptional(fields: readonly ({ key: string; required?: boolean | undefined } | string)[]): string[] {
  const plain = fields.flatMap((field) => (typeof field === 'string' ? [] : [field]));
  const firstOptional = plain.findIndex((field) => field.required !== true);
  if (firstOptional < 0) return [];
  return plain.slice(firstOptional).filter((field) => field.required === true).map((field) => field.key);
}

/**
 * Whether a sample holds an output field's key: `a[]b` is member `b` of the items of list `a`
 * (checked on `a` only, since a list may be empty), `a__b` member `b` of object `a` (Zapier's
 * notation for nested keys).
 */
function sampleHasPath(sample: Record<string, unknown>, key: string): boolean {
  const [path = key] = key.split('[]');
  let node: unknown = sample;
  for (const part of path.split('__')) {
    const member = z.record(z.string(), z.unknown()).safeParse(node);
    if (!member.success || !(part in member.data)) return false;
    node = member.data[part];
  }
  return true;
}

const InputFieldSchema = z
  .object({
    key: z.string(),
    required: z.boolean().optional(),
    helpText: z.string().optional(),
    dynamic: z.string().optional(),
    altersDynamicFields: z.boolean().optional(),
    choices: z.array(z.object({ value: z.string(), label: z.string() }).loose()).optional(),
  })
  .loose();

/** An operation's input fields as the editor shows them for `inputData`: each function (dynamic fields) run through core. */
async function inputFieldsFor(operation: { operation: object }, inputData: Record<string, unknown>) {
  const { inputFields } = z.object({ inputFields: z.array(z.unknown()).default([]) }).loose().parse(operation.operation);
  const resolved = await Promise.all(
    inputFields.map(async (field) => (typeof field === 'function' ? z.array(z.unknown()).parse(await run(field, { inputData })) : [field])),
  );
  return z.array(InputFieldSchema).parse(resolved.flat());
}

/** Every operation of the app with its kind and key, from the definition itself (functions included). */
function everyOperation(): { name: string; operation: { operation: object } }[] {
  return (['triggers', 'creates', 'searches'] as const).flatMap((kind) =>
    Object.entries(app[kind] ?? {}).map(([key, operation]) => ({ name: `${kind}.${key}`, operation })),
  );
}

function serialised(): unknown {
  return JSON.parse(JSON.stringify(serializeApp(compileApp(app))));
}

describe('app definition', () => {
  it('passes validateAppDefinition once serialised', () => {
    const result = ValidationSchema.parse(validateAppDefinition(serialised()));
    expect(result.errors.map((error) => error.stack)).toEqual([]);
  });

  it('fails validateAppDefinition when a trigger is broken (the check can fail)', () => {
    const broken = z.object({ triggers: z.record(z.string(), z.record(z.string(), z.unknown())) }).loose().parse(serialised());
    const trigger = broken.triggers['consent_given'];
    expect(trigger).toBeDefined();
    if (trigger) delete trigger.noun;
    expect(ValidationSchema.parse(validateAppDefinition(broken)).errors.length).toBeGreaterThan(0);
  });

  it('takes its version from zapier/package.json and platformVersion from zapier-platform-core', () => {
    const own = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')));
    // zapier-platform-core's exports map hides package.json: read it beside the resolved entry point.
    const coreJson = new URL('package.json', pathToFileURL(require.resolve('zapier-platform-core')));
    const core = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(coreJson, 'utf8')));
    expect(app.version).toBe(own.version);
    expect(app.platformVersion).toBe(core.version);
    expect(app.platformVersion).toBe('19.1.0');
  });

  it('has the expected keys, each file named after its key', () => {
    const definition = SerialisedSchema.parse(serialised());
    expect(Object.keys(definition.triggers).sort()).toEqual(
      ['addable_tag_list', 'consent_failed', 'consent_given', 'consent_withdrawn', 'contact_tagged', 'optout_review_needed', 'purpose_list', 'tag_list'].sort(),
    );
    expect(Object.keys(definition.creates).sort()).toEqual(
      ['create_contact', 'record_consent', 'request_consent', 'send_inbound_message', 'tag_contact', 'untag_contact'].sort(),
    );
    expect(Object.keys(definition.searches).sort()).toEqual(['check_permission', 'find_contact', 'find_workflow_run']);
    for (const kind of ['triggers', 'creates', 'searches'] as const) {
      for (const key of Object.keys(definition[kind])) {
        const source = readFileSync(new URL(`../src/${kind}/${key}.ts`, import.meta.url), 'utf8');
        expect(source).toContain(`key: '${key}'`);
      }
    }
  });

  // The app-level schema does not require a trigger's sample (DESIGN §6), yet Zapier's editor
  // needs one for every visible trigger; searches and creates show theirs before a test run.
  it('gives every visible trigger, every create and every search a sample with an id', () => {
    expect(operationsWithoutSample(SerialisedSchema.parse(serialised()))).toEqual([]);
  });

  it('notices a visible trigger without a sample, which validateAppDefinition lets through', () => {
    const definition = SerialisedSchema.parse(serialised());
    const trigger = definition.triggers['consent_failed'];
    expect(trigger).toBeDefined();
    if (trigger) delete trigger.operation.sample;
    expect(operationsWithoutSample(definition)).toEqual(['triggers.consent_failed']);
    const hiddenOnly = SerialisedSchema.parse(serialised());
    if (hiddenOnly.triggers['tag_list']) delete hiddenOnly.triggers['tag_list'].operation.sample;
    expect(operationsWithoutSample(hiddenOnly)).toEqual([]);
  });

  it('labels every output field and lists each sample key that a later step reads', () => {
    const definition = SerialisedSchema.parse(serialised());
    for (const kind of ['triggers', 'creates', 'searches'] as const) {
      for (const [key, operation] of Object.entries(definition[kind])) {
        const fields = operation.operation.outputFields ?? [];
        expect(fields.length, `${kind}.${key} outputFields`).toBeGreaterThan(0);
        for (const field of fields) expect(field.label, `${kind}.${key}.${field.key}`).toBeTruthy();
        const sample = operation.operation.sample ?? {};
        for (const field of fields) expect(sampleHasPath(sample, field.key), `${kind}.${key} sample has ${field.key}`).toBe(true);
      }
    }
  });

  it('offers the seven legal bases with HubSpot’s labels on Record Consent', async () => {
    const recordConsent = app.creates['record_consent'];
    expect(recordConsent).toBeDefined();
    if (!recordConsent) return;
    const legalBasis = (await inputFieldsFor(recordConsent, { status: 'opted_in' })).find((field) => field.key === 'legalBasis');
    expect(legalBasis?.choices).toEqual([
      { value: 'CONSENT_WITH_NOTICE', label: 'Freely given consent from contact', sample: 'CONSENT_WITH_NOTICE' },
      { value: 'LEGITIMATE_INTEREST_PQL', label: 'Legitimate interest – prospect/lead', sample: 'LEGITIMATE_INTEREST_PQL' },
      { value: 'LEGITIMATE_INTEREST_CLIENT', label: 'Legitimate interest – existing customer', sample: 'LEGITIMATE_INTEREST_CLIENT' },
      { value: 'LEGITIMATE_INTEREST_OTHER', label: 'Legitimate interest – other', sample: 'LEGITIMATE_INTEREST_OTHER' },
      { value: 'PERFORMANCE_OF_CONTRACT', label: 'Performance of a contract', sample: 'PERFORMANCE_OF_CONTRACT' },
      { value: 'PROCESS_AND_STORE', label: 'Process and store', sample: 'PROCESS_AND_STORE' },
      { value: 'NON_GDPR', label: 'Not subject to GDPR', sample: 'NON_GDPR' },
    ]);
  });

  it('title-cases every label (D018), which the check can notice', () => {
    const definition = SerialisedSchema.parse(serialised());
    const offending = (['triggers', 'creates', 'searches'] as const).flatMap((kind) =>
      Object.entries(definition[kind]).flatMap(([key, operation]) =>
        notTitleCased(operation.display.label ?? '').map((word) => `${kind}.${key}: ${word}`),
      ),
    );
    expect(offending).toEqual([]);
    expect(notTitleCased('Opt-out Needs Review')).toEqual(['out']);
    expect(notTitleCased('Remove Tag from Contact')).toEqual([]);
  });

  it('names searches with "Find" and describes them with "Finds" (https://docs.zapier.com/platform/build/search)', () => {
    const definition = SerialisedSchema.parse(serialised());
    for (const [key, search] of Object.entries(definition.searches)) {
      expect(search.display.label, key).toMatch(/^Find /);
      expect(search.display.description, key).toMatch(/^Finds /);
    }
  });

  it('describes each visible trigger in one short "Triggers when ..." sentence (publishing guidelines 4.2)', () => {
    const definition = SerialisedSchema.parse(serialised());
    for (const [key, trigger] of Object.entries(definition.triggers)) {
      if (trigger.display.hidden) continue;
      const description = trigger.display.description ?? '';
      expect(description, key).toMatch(/^Triggers when [^.:;]+\.$/);
      expect(description.length, key).toBeLessThanOrEqual(90);
    }
  });

  it('lists required input fields before optional ones (publishing guidelines 5.2.2)', () => {
    const definition = SerialisedSchema.parse(serialised());
    for (const kind of ['triggers', 'creates', 'searches'] as const) {
      for (const [key, operation] of Object.entries(definition[kind])) {
        expect(requiredAfterOptional(operation.operation.inputFields ?? []), `${kind}.${key}`).toEqual([]);
      }
    }
    expect(requiredAfterOptional([{ key: 'email' }, { key: 'channel', required: true }])).toEqual(['channel']);
  });

  it('shows no custom contact field in samples, and upper-case opt-out words as live items have them', () => {
    const definition = SerialisedSchema.parse(serialised());
    for (const kind of ['triggers', 'creates', 'searches'] as const) {
      for (const [key, operation] of Object.entries(definition[kind])) {
        const sample = operation.operation.sample ?? {};
        if ('fields' in sample) expect(sample.fields, `${kind}.${key}`).toEqual({});
      }
    }
    const review = definition.triggers['optout_review_needed']?.operation.sample ?? {};
    expect(review).toMatchObject({ text: 'please stop texting me', normalized: 'PLEASE STOP TEXTING ME', matchedWord: 'STOP' });
  });

  it('shows Legal Basis and Explanation as required once Status is "Opted in" (dynamic fields), required fields first', async () => {
    const recordConsent = app.creates['record_consent'];
    expect(recordConsent).toBeDefined();
    if (!recordConsent) return;
    const required = (fields: z.infer<typeof InputFieldSchema>[], key: string) => fields.find((field) => field.key === key)?.required;
    const optIn = await inputFieldsFor(recordConsent, { status: 'opted_in' });
    expect(optIn.find((field) => field.key === 'status')?.altersDynamicFields).toBe(true);
    expect([required(optIn, 'legalBasis'), required(optIn, 'explanation')]).toEqual([true, true]);
    expect(requiredAfterOptional(optIn)).toEqual([]);
    const optOut = await inputFieldsFor(recordConsent, { status: 'opted_out' });
    expect([required(optOut, 'legalBasis'), required(optOut, 'explanation')]).toEqual([false, false]);
    expect(requiredAfterOptional(optOut)).toEqual([]);
    expect(optOut.map((field) => field.key)).toEqual(optIn.map((field) => field.key));
  });

  it('gives every input field help text (publishing guidelines 5.x)', async () => {
    const withoutHelp: string[] = [];
    for (const { name, operation } of everyOperation()) {
      for (const field of await inputFieldsFor(operation, { status: 'opted_in' })) {
        if (!field.helpText) withoutHelp.push(`${name}.${field.key}`);
      }
    }
    expect(withoutHelp).toEqual([]);
  });

  it('fills every Purpose field from the hidden purpose_list trigger, the workspace’s own purposes included', async () => {
    const purposeFields: string[] = [];
    for (const { name, operation } of everyOperation()) {
      for (const field of await inputFieldsFor(operation, {})) {
        if (field.key !== 'purpose') continue;
        purposeFields.push(name);
        expect(field.dynamic, name).toBe('purpose_list.id.name');
        expect(field.choices, name).toBeUndefined();
      }
    }
    expect(purposeFields).toEqual(expect.arrayContaining(['creates.record_consent', 'searches.check_permission']));
    const definition = SerialisedSchema.parse(serialised());
    expect(definition.triggers['purpose_list']?.display.hidden).toBe(true);
  });

  it('fills the Tag fields of the steps that add a tag from addable_tag_list, and the others from tag_list, both hidden', async () => {
    const dropdownByField: Record<string, string | undefined> = {};
    for (const { name, operation } of everyOperation()) {
      for (const field of await inputFieldsFor(operation, {})) {
        if (field.key === 'tag' || field.key === 'tags') dropdownByField[`${name}.${field.key}`] = field.dynamic;
      }
    }
    expect(dropdownByField).toEqual({
      'creates.create_contact.tags': 'addable_tag_list.id.name',
      'creates.tag_contact.tag': 'addable_tag_list.id.name',
      'creates.untag_contact.tag': 'tag_list.id.name',
      'triggers.contact_tagged.tag': 'tag_list.id.name',
    });
    const definition = SerialisedSchema.parse(serialised());
    expect([definition.triggers['addable_tag_list']?.display.hidden, definition.triggers['tag_list']?.display.hidden]).toEqual([true, true]);
  });

  it('says in the Tag help of Create Contact and Tag Contact that Consent: Privacy is added by Record Consent', async () => {
    for (const [key, field] of [
      ['create_contact', 'tags'],
      ['tag_contact', 'tag'],
    ] as const) {
      const operation = app.creates[key];
      expect(operation, key).toBeDefined();
      if (!operation) continue;
      const help = (await inputFieldsFor(operation, {})).find((candidate) => candidate.key === field)?.helpText ?? '';
      expect(help, key).toContain('Consent: Privacy');
      expect(help, key).toContain('use Record Consent with purpose privacy');
    }
  });

  it('offers Find Messaging Permission the messaging channels only, not "All channels"', async () => {
    const checkPermission = app.searches['check_permission'];
    expect(checkPermission).toBeDefined();
    if (!checkPermission) return;
    const channel = (await inputFieldsFor(checkPermission, {})).find((field) => field.key === 'channel');
    expect(channel?.choices?.map((choice) => choice.value)).toEqual(['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat']);
  });

  it('offers Find Workflow Run the built-in workflows by name, Request Consent: Privacy by default, the run ID required', async () => {
    const findWorkflowRun = app.searches['find_workflow_run'];
    expect(findWorkflowRun).toBeDefined();
    if (!findWorkflowRun) return;
    const fields = await inputFieldsFor(findWorkflowRun, {});
    expect(fields.map((field) => [field.key, field.required])).toEqual([
      ['template', true],
      ['runId', true],
    ]);
    const template = fields.find((field) => field.key === 'template');
    expect(template?.default).toBe('request-consent-privacy');
    // The server's own templates, each by its name: the dropdown follows what the server ships.
    expect(template?.choices?.map(({ value, label }) => ({ value, label }))).toEqual(
      [...TEMPLATES.values()].map((definition) => ({ value: definition.id, label: definition.name })),
    );
    expect(template?.choices?.map((choice) => choice.value)).toEqual(['request-consent-privacy', 'welcome-request-email', 'welcome-request-phone']);
  });

  it('lists Find Contact’s status on every channel of the built-in purposes as output fields, each in its sample', () => {
    const findContact = SerialisedSchema.parse(serialised()).searches['find_contact'];
    const keys = (findContact?.operation.outputFields ?? []).map((field) => field.key);
    for (const purpose of ['marketing', 'privacy']) {
      for (const channel of ['whatsapp', 'sms', 'email', 'messenger', 'telegram', 'webchat', 'any']) {
        expect(keys).toContain(`consentStatus__${purpose}_${channel}`);
      }
    }
    expect(findContact?.operation.sample).toMatchObject({ consentStatus: { marketing_whatsapp: 'opted_in', marketing_sms: 'not_specified' } });
    expect(sampleHasPath({ consentStatus: { marketing_sms: 'opted_in' } }, 'consentStatus__marketing_sms')).toBe(true);
    expect(sampleHasPath({ consentStatus: {} }, 'consentStatus__marketing_sms')).toBe(false);
  });
});
