import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import type { BulkRowResult } from '../../src/engine/consents.js';
import { FakeClock } from '../../src/ports/clock.js';
import { createMemoryStore } from '../../src/store/memory.js';

let engine: Engine;
let ws: WorkspaceEngine;
let clock: FakeClock;

beforeEach(async () => {
  clock = new FakeClock('2026-03-01T09:00:00.000Z');
  engine = createEngine({ store: createMemoryStore(), clock });
  ws = engine.workspace((await engine.createWorkspace({ name: 'Acme', settings: { defaultCountry: 'ES', triggers: [] } })).id);
});

afterEach(async () => {
  await engine.store.close();
});

const PHONE = '+34600000001';
const STOP_ALL = { phone: PHONE, purpose: 'marketing', channel: 'any', status: 'opted_out', legalBasis: null, explanation: null, idempotencyKey: 'crm-stop-all-1' } as const;
const OPT_IN = { phone: PHONE, purpose: 'marketing', status: 'opted_in', legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Web form' } as const;

type RecordedRow = Extract<BulkRowResult, { ok: true }>;

/** Sends one row an hour after the last one, so that each decision is newer than the one before. */
async function send(row: Record<string, unknown>): Promise<RecordedRow> {
  clock.advance(60 * 60 * 1000);
  const [result] = await ws.bulkSetConsent([row]);
  if (!result?.ok) throw new Error(`row refused: ${JSON.stringify(result)}`);
  return result;
}

describe('bulkSetConsent: supersededBy of a row answered from its idempotency key', () => {
  it('names a later decision on one channel that overtook a replayed all-channel row there', async () => {
    const stopAll = await send(STOP_ALL);
    const whatsapp = await send({ ...OPT_IN, channel: 'whatsapp', idempotencyKey: 'signup-1' });

    const replay = await send(STOP_ALL);
    expect(replay).toMatchObject({ created: false, recordId: stopAll.recordId, repeated: false });
    expect(replay.supersededBy).toEqual({ recordId: whatsapp.recordId, status: 'opted_in', idempotencyKey: 'signup-1' });
    // The replay wrote nothing: WhatsApp marketing stays allowed, other channels stay withdrawn.
    expect(await ws.canMessage(replay.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: true });
    expect(await ws.canMessage(replay.contactId, 'sms', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
  });

  it('names the channel decision recorded last when several overtook the all-channel row', async () => {
    await send(STOP_ALL);
    await send({ ...OPT_IN, channel: 'whatsapp', idempotencyKey: 'signup-1' });
    const sms = await send({ ...OPT_IN, channel: 'sms', idempotencyKey: 'signup-2' });
    expect((await send(STOP_ALL)).supersededBy).toEqual({ recordId: sms.recordId, status: 'opted_in', idempotencyKey: 'signup-2' });
  });

  it('is null while the all-channel row is in force on every channel', async () => {
    // Opt-ins made before the STOP ALL, and a later opt-out on one channel, agree with it.
    await send({ ...OPT_IN, channel: 'whatsapp' });
    await send(STOP_ALL);
    await send({ ...STOP_ALL, channel: 'sms', idempotencyKey: 'sms-stop-1' });
    await send({ ...STOP_ALL, idempotencyKey: 'crm-stop-all-2' });
    expect((await send(STOP_ALL)).supersededBy).toBeNull();
  });

  it('names a later all-channel decision on its own purpose only', async () => {
    await send(STOP_ALL);
    await send({ ...OPT_IN, purpose: 'privacy', channel: 'whatsapp' });
    expect((await send(STOP_ALL)).supersededBy).toBeNull();
    const optIn = await send({ ...OPT_IN, channel: 'any', idempotencyKey: 'signup-any' });
    expect((await send(STOP_ALL)).supersededBy).toEqual({ recordId: optIn.recordId, status: 'opted_in', idempotencyKey: 'signup-any' });
  });

  it('names a later all-channel decision that overtook a replayed row on one channel', async () => {
    const row = { ...OPT_IN, channel: 'email', idempotencyKey: 'newsletter-1' };
    const first = await send(row);
    expect(first).toMatchObject({ created: true, repeated: false });
    const again = await send(row);
    // The replay answers what the first answer said: nothing was recorded again.
    expect(again).toMatchObject({ created: false, repeated: first.repeated });
    expect(again.supersededBy).toBeNull();
    const stopAll = await send(STOP_ALL);

    const replay = await send(row);
    expect(replay).toMatchObject({ created: false, repeated: false });
    expect(replay.supersededBy).toEqual({ recordId: stopAll.recordId, status: 'opted_out', idempotencyKey: 'crm-stop-all-1' });
  });

  it('names the later decision on the row\'s own channel, as before', async () => {
    const row = { ...STOP_ALL, channel: 'sms', idempotencyKey: 'sms-stop-1' };
    await send(row);
    const optIn = await send({ ...OPT_IN, channel: 'sms' });
    expect((await send(row)).supersededBy).toEqual({ recordId: optIn.recordId, status: 'opted_in', idempotencyKey: null });
  });
});

describe('bulkSetConsent: overtakenBy of a row answered from its idempotency key', () => {
  it('lists every decision that overtook a replayed all-channel row, in the order they were recorded, not only the last', async () => {
    const stopAll = await send(STOP_ALL);
    const sms = await send({ ...OPT_IN, channel: 'sms', idempotencyKey: 'shop-signup' });
    const whatsapp = await send({ ...OPT_IN, channel: 'whatsapp', idempotencyKey: 'crm-whatsapp-1' });

    const replay = await send(STOP_ALL);
    expect(replay).toMatchObject({ created: false, recordId: stopAll.recordId });
    expect(replay.overtakenBy).toEqual([
      { recordId: sms.recordId, status: 'opted_in', idempotencyKey: 'shop-signup' },
      { recordId: whatsapp.recordId, status: 'opted_in', idempotencyKey: 'crm-whatsapp-1' },
    ]);
    // supersededBy still names the one recorded last.
    expect(replay.supersededBy).toEqual(replay.overtakenBy.at(-1));
  });

  it('names an all-channel decision in force on several channels once', async () => {
    await send(STOP_ALL);
    await send({ ...OPT_IN, channel: 'whatsapp' });
    await send({ ...OPT_IN, channel: 'sms' });
    const optIn = await send({ ...OPT_IN, channel: 'any', idempotencyKey: 'signup-any' });
    expect((await send(STOP_ALL)).overtakenBy).toEqual([{ recordId: optIn.recordId, status: 'opted_in', idempotencyKey: 'signup-any' }]);
  });

  it('is empty for a recorded row and while a replayed row is in force on every channel it covers', async () => {
    expect((await send(STOP_ALL)).overtakenBy).toEqual([]);
    await send({ ...STOP_ALL, channel: 'sms', idempotencyKey: 'sms-stop-1' });
    const replay = await send(STOP_ALL);
    expect(replay).toMatchObject({ created: false, supersededBy: null });
    expect(replay.overtakenBy).toEqual([]);
  });
});

describe('bulkSetConsent: a replayed row names only decisions recorded after it', () => {
  /** A time before the clock's start, so that a row dated then is older than every decision the tests record. */
  const BACKDATED = '2025-06-01T00:00:00Z';

  it('names no decision for a backdated row that was never in effect, on every replay', async () => {
    await send({ ...OPT_IN, channel: 'email', idempotencyKey: 'signup-1' });
    const row = { ...STOP_ALL, channel: 'email', idempotencyKey: 'old-unsubscribe-1', occurredAt: BACKDATED };
    const first = await send(row);
    expect(first).toMatchObject({ created: true, inEffect: false });

    for (let run = 0; run < 2; run++) {
      const replay = await send(row);
      expect(replay).toMatchObject({ created: false, recordId: first.recordId, supersededBy: null });
      expect(replay.overtakenBy).toEqual([]);
    }
    expect(await ws.canMessage(first.contactId, 'email', 'marketing')).toMatchObject({ allowed: true });
  });

  it('names a decision made after a backdated row, and not the older one that was in force when it came', async () => {
    await send({ ...OPT_IN, channel: 'email', idempotencyKey: 'signup-1' });
    const row = { ...STOP_ALL, channel: 'email', idempotencyKey: 'old-unsubscribe-1', occurredAt: BACKDATED };
    await send(row);
    const stopAll = await send({ ...STOP_ALL, idempotencyKey: 'crm-stop-all-9' });
    const optIn = await send({ ...OPT_IN, channel: 'email', idempotencyKey: 'signup-2' });

    const replay = await send(row);
    expect(replay.overtakenBy).toEqual([{ recordId: optIn.recordId, status: 'opted_in', idempotencyKey: 'signup-2' }]);
    expect(replay.supersededBy).toEqual(replay.overtakenBy[0]);
    // The STOP ALL made since agreed with the row while it stood, so it is not named.
    expect(replay.overtakenBy.map((decision) => decision.recordId)).not.toContain(stopAll.recordId);
  });

  it('names, for a backdated all-channel row, the channel decision made since and not the one in force before it', async () => {
    await send({ ...OPT_IN, channel: 'whatsapp', idempotencyKey: 'whatsapp-signup' });
    const backdatedStopAll = { ...STOP_ALL, idempotencyKey: 'old-stop-all', occurredAt: BACKDATED };
    const first = await send(backdatedStopAll);
    expect(first.created).toBe(true);
    expect(await ws.canMessage(first.contactId, 'whatsapp', 'marketing')).toMatchObject({ allowed: true });

    const replay = await send(backdatedStopAll);
    expect(replay).toMatchObject({ created: false, supersededBy: null, overtakenBy: [] });

    // A decision from elsewhere made since, on another channel, overtakes the STOP ALL there.
    const sms = await send({ ...OPT_IN, channel: 'sms', idempotencyKey: 'shop-signup' });
    const later = await send(backdatedStopAll);
    expect(later.overtakenBy).toEqual([{ recordId: sms.recordId, status: 'opted_in', idempotencyKey: 'shop-signup' }]);
    expect(later.supersededBy).toEqual({ recordId: sms.recordId, status: 'opted_in', idempotencyKey: 'shop-signup' });
  });

  it('names no all-channel decision that was in force before a backdated row on one channel', async () => {
    await send(STOP_ALL);
    const row = { ...OPT_IN, channel: 'email', idempotencyKey: 'paper-form-1', occurredAt: BACKDATED };
    const first = await send(row);
    expect(first.created).toBe(true);
    // The STOP ALL, newer than the row, still governs e-mail.
    expect(await ws.canMessage(first.contactId, 'email', 'marketing')).toMatchObject({ allowed: false, reason: 'opted_out' });
    expect(await send(row)).toMatchObject({ created: false, supersededBy: null, overtakenBy: [] });
  });
});
