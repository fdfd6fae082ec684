import net from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { expectProblem, problemPaths, testApp, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;
let globex: Tenant;

useTestApp(
  (app, first, second) => {
    t = app;
    acme = first;
    globex = second;
  },
  ['Acme', 'Globex'],
);

const row = (email: string) => ({ email, purpose: 'marketing', channel: 'email', status: 'opted_out' });
const bulkBody = (email: string) => JSON.stringify({ rows: [row(email)] });

/** A bulk request whose body is still arriving until `finish` is called. */
function slowBulk(tenant: Tenant, email: string) {
  const body = new PassThrough();
  const text = bulkBody(email);
  body.write(text.slice(0, 10));
  const response = t.as(tenant, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload: body });
  return {
    response,
    finish: () => body.end(text.slice(10)),
  };
}

/** Lets the request in flight reach its handler's wait for the body. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('POST /v1/consents/bulk, one at a time per workspace', () => {
  it("refuses a workspace's second bulk request while its first is in flight, with 429 and Retry-After, before reading its body", async () => {
    const first = slowBulk(acme, 'ana@example.com');
    await settle();
    const second = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('bob@example.com')] } });
    const problem = expectProblem(second, 429, 'TOO_MANY_REQUESTS');
    expect(second.headers['retry-after']).toBe('1');
    expect(problemPaths(second)).toEqual(['rows']);
    expect(problem.detail).toBe('rows: one bulk request per workspace at a time, and another is being recorded: send this batch again once it is answered');

    // Another workspace is not held up.
    const other = await t.as(globex, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('carla@example.com')] } });
    expect(other.statusCode).toBe(200);

    first.finish();
    expect((await first.response).statusCode).toBe(200);
    // The slot is given back: the next batch goes through, and the refused one recorded nothing.
    const third = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('bob@example.com')] } });
    expect(third.json().results).toEqual([expect.objectContaining({ ok: true, created: true })]);
  });

  it('gives the slot back after a refused body too', async () => {
    const refused = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', headers: { 'content-type': 'application/json' }, payload: '{"rows": [' });
    expect(refused.statusCode).toBe(400);
    const next = await t.as(acme, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [row('ana@example.com')] } });
    expect(next.statusCode).toBe(200);
  });

  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** A store whose `gated`-th transaction from now waits until `open` is called. */
  function gatedStore(inner: Store) {
    let count = 0;
    let gated = 0;
    let waiting = false;
    let open = (): void => undefined;
    const store: Store = {
      transaction: async (fn) => {
        count += 1;
        if (count === gated) {
          waiting = true;
          await new Promise<void>((resolve) => {
            open = resolve;
          });
        }
        return inner.transaction(fn);
      },
      read: (fn) => inner.read(fn),
      probe: () => inner.probe(),
      close: () => inner.close(),
    };
    return {
      store,
      gate(nth: number) {
        gated = count + nth;
      },
      get waiting() {
        return waiting;
      },
      open: () => open(),
    };
  }

  it.each([
    ['while its API key is checked', 1],
    ['while its batch is recorded', 2],
  ])('gives the slot back when the client goes away %s', async (_when, nth) => {
    const gated = gatedStore(createMemoryStore());
    const app = await testApp({ store: gated.store });
    try {
      const tenant = await app.tenant('Initech');
      const address = await app.app.listen({ host: '127.0.0.1', port: 0 });
      const text = bulkBody('ana@example.com');
      gated.gate(nth);
      const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(address).port) });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        `POST /v1/consents/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tenant.key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
      for (let attempt = 0; attempt < 10_000 && !gated.waiting; attempt += 1) await turn();
      expect(gated.waiting).toBe(true);
      socket.destroy();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      for (let attempt = 0; attempt < 100; attempt += 1) await turn();
      gated.open();
      // An empty batch is 422 when the slot is free, 429 while it is held.
      let status = 429;
      for (let attempt = 0; attempt < 1000 && status === 429; attempt += 1) {
        await turn();
        status = (await app.as(tenant, { method: 'POST', url: '/v1/consents/bulk', payload: { rows: [] } })).statusCode;
      }
      expect(status).toBe(422);
    } finally {
      await app.close();
    }
  });
});
