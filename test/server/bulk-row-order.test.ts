import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { importCsv, readImportFile, type RowFailure } from '../../src/cli/import.js';
import { useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, tenant) => {
  t = app;
  acme = tenant!;
});

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const RefusedRowSchema = z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), issues: z.array(z.object({ path: z.string(), message: z.string() })) }) });

async function bulkRefusal(row: Record<string, unknown>): Promise<z.output<typeof RefusedRowSchema>['error']> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row] } });
  expect(response.statusCode, response.body).toBe(200);
  return RefusedRowSchema.parse(z.object({ results: z.array(z.unknown()).length(1) }).parse(response.json()).results[0]).error;
}

/** The columns `consentry import` names for one line, in the order it names them. */
async function importedColumns(header: string, line: string): Promise<string[]> {
  const folder = mkdtempSync(join(tmpdir(), 'consentry-bulk-order-'));
  folders.push(folder);
  const path = join(folder, 'consents.csv');
  writeFileSync(path, `${header}\n${line}\n`);
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {} };
  const reported: RowFailure[] = [];
  const report = {
    add: async (rows: readonly { failures: readonly RowFailure[] }[]): Promise<void> => {
      for (const row of rows) reported.push(...row.failures);
    },
  };
  const summary = await importCsv(t.engine.workspace(acme.workspaceId), await readImportFile(path), io, 'cli', null, { report });
  expect(summary.rejected).toBe(1);
  return reported.map((failure) => failure.field);
}

/** A bulk row's field as the import's file spells its column. */
const COLUMN: Record<string, string> = { contactId: 'contact_id', legalBasis: 'legal_basis', occurredAt: 'occurred_at', idempotencyKey: 'idempotency_key' };

describe('POST /v1/consents/bulk lists a refused row\'s issues in the row\'s field order, as consentry import lists a line\'s', () => {
  it('names a bad e-mail before the legal basis and explanation an opt-in lacks', async () => {
    const error = await bulkRefusal({ email: 'bad@', purpose: 'marketing', channel: 'sms', status: 'opted_in' });
    expect(error.code).toBe('LEGAL_BASIS_REQUIRED');
    expect(error.issues.map((issue) => issue.path)).toEqual(['email', 'legalBasis', 'explanation']);
    expect(error.message).toBe(error.issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
  });

  it.each([
    [{ email: 'ivan@example', purpose: 'marketing', channel: 'email', status: 'opted_in' }, 'ivan@example,,marketing,email,opted_in,,,'],
    [{ email: 'not-an-email', purpose: 'surveys', channel: 'sms', status: 'opted_out', occurredAt: '1969-07-20T20:17:40Z' }, 'not-an-email,,surveys,sms,opted_out,,,1969-07-20T20:17:40Z'],
    [{ phone: 'zz', purpose: 'marketing', channel: 'pigeon', status: 'opted_in', occurredAt: '1969-07-20T20:17:40Z' }, ',zz,marketing,pigeon,opted_in,,,1969-07-20T20:17:40Z'],
  ])('bulk row %j and its import line name the same fields in the same order', async (row, line) => {
    const error = await bulkRefusal(row);
    const columns = await importedColumns('email,phone,purpose,channel,status,legal_basis,explanation,occurred_at', line);
    expect(error.issues.map((issue) => COLUMN[issue.path] ?? issue.path)).toEqual(columns);
  });

  it('puts the row-wide problem of a row naming no contact first, as the import puts it at the identity columns', async () => {
    const error = await bulkRefusal({ purpose: 'marketing', channel: 'pigeon', status: 'opted_out' });
    expect(error.issues.map((issue) => issue.path)).toEqual(['contactId', 'channel']);
  });
});

/** The value at `keys` inside a JSON document, undefined where one is missing. */
const at = (value: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((inner, key) => (typeof inner === 'object' && inner !== null ? Reflect.get(inner, key) : undefined), value);

describe('/openapi.json for POST /v1/consents/bulk', () => {
  const RowDocumentSchema = z.object({
    type: z.literal('object'),
    description: z.string(),
    properties: z.record(z.string(), z.unknown()),
    required: z.array(z.string()),
    additionalProperties: z.literal(false),
  });

  it("describes a row's fields, while a bad row is still answered in its own result", async () => {
    const document: unknown = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const rows = z
      .object({ description: z.string(), items: RowDocumentSchema, minItems: z.literal(1), maxItems: z.literal(10_000) })
      .parse(at(document, 'paths', '/v1/consents/bulk', 'post', 'requestBody', 'content', 'application/json', 'schema', 'properties', 'rows'));
    expect(Object.keys(rows.items.properties)).toEqual([
      'contactId',
      'email',
      'phone',
      'purpose',
      'channel',
      'status',
      'legalBasis',
      'explanation',
      'occurredAt',
      'idempotencyKey',
      'allowErased',
      'evidence',
    ]);
    expect(rows.items.required.sort()).toEqual(['channel', 'purpose', 'status']);
    expect(rows.items.description).toContain('contactId, an email or a phone');
    expect(rows.description).toContain('evidence?');

    const response = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [{ purpose: 'marketing' }, 'not a row'] } });
    expect(response.statusCode, response.body).toBe(200);
    expect(z.object({ results: z.array(z.object({ ok: z.literal(false) })) }).parse(response.json()).results).toHaveLength(2);
  });
});
