import { afterEach, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const PHONE = '+34600000001';
const STOP_ALL = { phone: PHONE, purpose: 'marketing', channel: 'any', status: 'opted_out', idempotencyKey: 'weekly-stop-1' };
const optIn = (channel: string, idempotencyKey?: string) => ({
  phone: PHONE,
  purpose: 'marketing',
  channel,
  status: 'opted_in',
  legalBasis: 'CONSENT_WITH_NOTICE',
  explanation: `Web form, ${channel}`,
  ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
});

describe('POST /v1/consents/bulk: decisions that overtook a row sent again', () => {
  it('names none for a row recorded now, and every decision made since when the same row comes again', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const first = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [STOP_ALL] } });
    expect(first.statusCode).toBe(200);
    expect(first.json().results[0]).toMatchObject({ ok: true, created: true, supersededBy: null, overtakenBy: [] });
    const recordOf = async (row: object): Promise<string> => {
      const answer = await t?.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row] } });
      const [result] = answer?.json().results ?? [];
      return result.recordId;
    };
    const whatsapp = await recordOf(optIn('whatsapp'));
    const sms = await recordOf(optIn('sms', 'shop-sms-1'));

    const replay = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [STOP_ALL] } });
    expect(replay.statusCode).toBe(200);
    const [result] = replay.json().results;
    expect(result).toMatchObject({ ok: true, created: false, recordId: first.json().results[0].recordId });
    expect(result.overtakenBy).toEqual([
      { recordId: whatsapp, status: 'opted_in', idempotencyKey: null },
      { recordId: sms, status: 'opted_in', idempotencyKey: 'shop-sms-1' },
    ]);
    expect(result.supersededBy).toEqual({ recordId: sms, status: 'opted_in', idempotencyKey: 'shop-sms-1' });
  });

  it('names none for a row sent again while its status is still in force', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [STOP_ALL] } });
    const replay = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [STOP_ALL] } });
    expect(replay.json().results[0]).toMatchObject({ ok: true, created: false, supersededBy: null, overtakenBy: [] });
  });
});

describe('POST /v1/consents/bulk: a row dated before the decision in force, sent again', () => {
  it('names no decision recorded before the row, and one made since', async () => {
    t = await testApp();
    const acme = await t.tenant('Acme');
    const bulk = (rows: object[]) => t?.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows } });
    await bulk([optIn('whatsapp', 'signup-whatsapp')]);
    const backdated = { ...STOP_ALL, idempotencyKey: 'old-stop-1', occurredAt: '2025-06-01T00:00:00Z' };
    const first = await bulk([backdated]);
    expect(first?.json().results[0]).toMatchObject({ ok: true, created: true });

    const replay = await bulk([backdated]);
    expect(replay?.statusCode).toBe(200);
    expect(replay?.json().results[0]).toMatchObject({ ok: true, created: false, supersededBy: null, overtakenBy: [] });

    const sms = (await bulk([optIn('sms', 'shop-sms-1')]))?.json().results[0].recordId;
    const later = await bulk([backdated]);
    const made = { recordId: sms, status: 'opted_in', idempotencyKey: 'shop-sms-1' };
    expect(later?.json().results[0]).toMatchObject({ ok: true, created: false, supersededBy: made, overtakenBy: [made] });
  });
});
