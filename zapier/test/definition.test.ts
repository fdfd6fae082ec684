import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import app from '../src/index.js';

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
    inputFields: z.array(z.object({ key: z.string(), required: z.boolean().optional() })).optional(),
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
function requiredAfterOptional(fields: readonly { key: string; required?: boolean | undefined }[]): string[] {
  const firstOptional = fields.findIndex((field) => field.required !== true);
  if (firstOptional < 0) return [];
  return fields.slice(firstOptional).filter((field) => field.required === true).map((field) => field.key);
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
      ['consent_failed', 'consent_given', 'consent_withdrawn', 'contact_tagged', 'optout_review_needed', 'tag_list'].sort(),
    );
    expect(Object.keys(definition.creates).sort()).toEqual(
      ['create_contact', 'record_consent', 'request_consent', 'send_inbound_message', 'tag_contact', 'untag_contact'].sort(),
    );
    expect(Object.keys(definition.searches).sort()).toEqual(['check_permission', 'find_contact']);
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
        for (const field of fields) {
          const topKey = field.key.split('[]')[0] ?? field.key;
          expect(Object.keys(sample), `${kind}.${key} sample has ${topKey}`).toContain(topKey);
        }
      }
    }
  });

  it('offers the seven legal bases with HubSpot’s labels on Record Consent', () => {
    const recordConsent = z
      .object({
        operation: z.object({
          inputFields: z.array(z.object({ key: z.string(), choices: z.array(z.object({ value: z.string(), label: z.string() }).loose()).optional() })),
        }),
      })
      .parse(app.creates['record_consent']);
    const legalBasis = recordConsent.operation.inputFields.find((field) => field.key === 'legalBasis');
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
});
