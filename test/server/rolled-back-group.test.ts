import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransactionRolledBackError, type Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

/**
 * A request whose transaction the database rolled back with its commit group, for another
 * member's failure, wrote nothing and may succeed at once: 503 STORE_BUSY with Retry-After, as for
 * a locked database, not a 500.
 */
describe('a request whose commit group was rolled back', () => {
  let t: TestApp;
  let acme: Tenant;
  let rollsBack = false;

  beforeEach(async () => {
    const memory = createMemoryStore();
    const ioError = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    const store: Store = {
      transaction: (work) => (rollsBack ? Promise.reject(new TransactionRolledBackError(ioError)) : memory.transaction(work)),
      read: (work) => memory.read(work),
      probe: () => memory.probe(),
      close: () => memory.close(),
    };
    t = await testApp({ store });
    acme = await t.tenant('Acme');
  });

  afterEach(async () => {
    rollsBack = false;
    await t.close();
  });

  const stop = { channel: 'sms', messageId: 'rolled-back-1', from: { id: '+34600000001' }, text: 'STOP' };

  it('answers 503 STORE_BUSY with Retry-After, and the same message is recorded when sent again', async () => {
    rollsBack = true;
    const refused = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ status: 503, code: 'STORE_BUSY', detail: expect.stringMatching(/rolled this request back.*try again/) });
    rollsBack = false;
    const again = await t.as(acme, { method: 'POST', url: '/v1/messages', payload: stop });
    expect(again.statusCode).toBe(200);
    expect(again.json().events.map((event: { type: string }) => event.type)).toEqual(['consent.withdrawn']);
  });
});
