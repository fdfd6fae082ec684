import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { BULK_BODY_LIMIT, LARGEST_BULK_ROW, MAX_BULK_ROWS } from '../../src/server/routes/consents.js';
import { expectProblem, problemPaths, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const EMPTY_ROWS = (count: number): string => new Array<string>(count).fill('{}').join(',');

function bulk(payload: string) {
  return t.as(acme, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload });
}

function expectTooManyRows(res: Awaited<ReturnType<typeof bulk>>): void {
  const problem = expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  expect(problemPaths(res)).toEqual(['rows']);
  expect(String(problem.detail)).toContain(`at most ${MAX_BULK_ROWS.toLocaleString('en-US')} rows`);
}

describe('POST /v1/consents/bulk and its row limit', () => {
  it(`refuses ${MAX_BULK_ROWS + 1} rows with 413 naming rows, however the body is written`, async () => {
    expectTooManyRows(await bulk(`{"rows":[${EMPTY_ROWS(MAX_BULK_ROWS + 1)}]}`));
    expectTooManyRows(await bulk(`{ "\\u0072ows" : [ ${EMPTY_ROWS(MAX_BULK_ROWS + 1).replaceAll(',', ' ,\n')} ] }`));
    expectTooManyRows(await bulk(`{"rows":[${new Array<string>(MAX_BULK_ROWS + 1).fill('"a,]}"').join(',')}]}`));
  });

  it('counts the rows before parsing the body: a body with too many rows is a 413 even when its tail is not JSON', async () => {
    expectTooManyRows(await bulk(`{"rows":[${EMPTY_ROWS(MAX_BULK_ROWS + 1)}, this is not JSON`));
    expectProblem(await bulk(`{"rows":[${EMPTY_ROWS(MAX_BULK_ROWS)}] this is not JSON`), 400, 'MALFORMED_JSON');
  });

  it('answers 413 as soon as the row past the limit arrives, before the rest of the body is sent', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const head = Buffer.from(`{"rows":[${EMPTY_ROWS(MAX_BULK_ROWS + 1)},`);
    // The body announced is 32 MB; only its first rows are ever sent.
    const announced = 11_000_000 * 3 + 10;
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = http.request(
        `${address}/v1/consents/bulk`,
        { method: 'POST', headers: { authorization: `Bearer ${acme.key}`, 'content-type': 'application/json', 'content-length': String(announced) } },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            resolve({ status: response.statusCode ?? 0, text });
            request.destroy();
          });
        },
      );
      request.on('error', reject);
      request.write(head);
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', errors: [{ path: 'rows' }] });
  });

  it('still answers 413 to a body announced longer than the route takes, while the client sends all of it', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const announced = BULK_BODY_LIMIT + 1;
    const chunk = Buffer.alloc(1024 * 1024, ' ');
    const status = await new Promise<number | string>((resolve) => {
      const request = http.request(
        `${address}/v1/consents/bulk`,
        { method: 'POST', headers: { authorization: `Bearer ${acme.key}`, 'content-type': 'application/json', 'content-length': String(announced) } },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      let sent = 0;
      const write = (): void => {
        while (sent < announced) {
          const size = Math.min(chunk.length, announced - sent);
          sent += size;
          if (!request.write(chunk.subarray(0, size))) {
            request.once('drain', write);
            return;
          }
        }
        request.end();
      };
      write();
    });
    expect(status).toBe(413);
  });

  it(`takes ${MAX_BULK_ROWS} rows of the largest valid size, every one recorded`, async () => {
    const purpose = `p${'u'.repeat(63)}`;
    expect((await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { purposes: [purpose] } })).statusCode).toBe(200);
    const email = `${'a'.repeat(64)}@${['b'.repeat(63), 'c'.repeat(63), 'd'.repeat(57), 'com'].join('.')}`;
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email, phone: '+34600000001' } });
    expect(created.statusCode, created.body).toBe(201);
    const contactId = String(created.json().id);
    const row = (index: number) => ({
      contactId,
      email,
      phone: `+34 ${' '.repeat(25)}600 000 001`,
      purpose,
      channel: 'messenger',
      status: 'opted_out',
      legalBasis: 'LEGITIMATE_INTEREST_CLIENT',
      explanation: '€'.repeat(2000),
      occurredAt: '2026-02-28T10:00:00.000000000+00:00',
      // The row number in fullwidth digits, which take 3 bytes each too.
      idempotencyKey: [...String(index)].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('').padEnd(200, '€'),
      allowErased: false,
    });
    expect(Buffer.byteLength(JSON.stringify(row(0)))).toBe(Buffer.byteLength(JSON.stringify(LARGEST_BULK_ROW)));
    const payload = JSON.stringify({ rows: Array.from({ length: MAX_BULK_ROWS }, (_, index) => row(index)) });
    expect(Buffer.byteLength(payload)).toBeGreaterThan(32 * 1024 * 1024);
    expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(BULK_BODY_LIMIT);

    const res = await bulk(payload);
    expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
    const results: { ok: boolean }[] = res.json().results;
    expect(results).toHaveLength(MAX_BULK_ROWS);
    expect(results.filter((result) => !result.ok)).toEqual([]);
  }, 120_000);
});
