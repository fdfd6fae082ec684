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
  display: z.object({ label: z.string().optional(), hidden: z.boolean().optional() }),
  operation: z.object({
    sample: z.record(z.string(), z.unknown()).optional(),
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
});
