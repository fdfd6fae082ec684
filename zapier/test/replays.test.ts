import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createAppTester, type ZObject } from 'zapier-platform-core';
import { z } from 'zod';
import { FakeClock } from '../../src/ports/clock.js';
import { startServer } from '../../src/server/index.js';
import { problem } from '../../src/server/problem.js';
import { createMemoryStore } from '../../src/store/memory.js';
import createContact from '../src/creates/create_contact.js';
import requestConsent from '../src/creates/request_consent.js';
import sendInboundMessage from '../src/creates/send_inbound_message.js';
import app from '../src/index.js';
import { errorDetails, rejection, serverApi } from './helpers.js';

// What Zapier's replay of a write meets when the first attempt reached a real Consentry server on
// 127.0.0.1 and its answer never came back (no msw here: it would intercept the loopback calls).

type Operation = (z: ZObject, bundle: Bundle) => unknown;

let server: Awaited<ReturnType<typeof startServer>>;
let proxy: Server;
let proxyUrl = '';
const clock = new FakeClock('2026-03-01T09:00:00.000Z');
let key = '';
let sequence = 0;
/** Requests (`METHOD path`) whose answer the proxy drops once, after the server handled them. */
const cutOnce = new Set<string>();
/** Requests whose answer the proxy replaces once with a 502 page of its own, after the server handled them. */
const badGatewayOnce = new Set<string>();
/** Requests the proxy answers once itself, without forwarding them, with the 503 the server gives when its write lock stays taken: nothing changed. */
const busyOnce = new Set<string>();

beforeAll(async () => {
  server = await startServer({ store: createMemoryStore(), clock, host: '127.0.0.1', port: 0, logger: false, workers: () => [] });
  const upstream = new URL(server.url);
  // Forwards every request; one listed in cutOnce reaches the server, which answers, and then the
  // connection to the app is cut: the request was applied, its answer is lost.
  proxy = createServer((incoming, outgoing) => {
    const id = `${incoming.method} ${(incoming.url ?? '').split('?')[0]}`;
    if (busyOnce.delete(id)) {
      incoming.resume();
      const busy = problem(503, 'STORE_BUSY', 'The database rolled this request back for another write that failed beside it; nothing changed: try again');
      outgoing.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
      outgoing.end(JSON.stringify(busy));
      return;
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        if (cutOnce.delete(id)) {
          answer.resume();
          answer.on('end', () => incoming.socket.destroy());
          return;
        }
        if (badGatewayOnce.delete(id)) {
          answer.resume();
          answer.on('end', () => {
            outgoing.writeHead(502, { 'content-type': 'text/html' });
            outgoing.end('<html><body>502 Bad Gateway</body></html>');
          });
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => proxy.close(() => resolve()));
  await server?.close();
});

// A workspace per test: its contacts are its own.
beforeEach(async () => {
  sequence += 1;
  cutOnce.clear();
  badGatewayOnce.clear();
  busyOnce.clear();
  key = (await server.createWorkspaceWithKey(`Ana Test Shop ${sequence}`)).key;
  await api('/v1/settings', { method: 'PATCH', body: { privacyPolicyUrl: 'https://example.com/privacy' } });
});

/** One Zap's runs: the app tester keeps what the app remembered in zcache between its calls. */
function zap() {
  const tester = createAppTester(app);
  return (operation: unknown, inputData: Record<string, unknown>): Promise<unknown> => {
    if (typeof operation !== 'function') throw new Error('not an operation function');
    return tester(operation as Operation, { authData: { serverUrl: proxyUrl, apiKey: key }, inputData });
  };
}

function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<unknown> {
  return serverApi(server.url, key, path, init);
}

const ContactListSchema = z.object({ data: z.array(z.object({ id: z.string(), name: z.string().nullable(), email: z.string().nullable() })) });
const ItemSchema = z.record(z.string(), z.unknown());

describe('Request Privacy Consent after its answer was lost', () => {
  const input = { phone: '+34600000101', channel: 'whatsapp' };

  it('fails loudly instead of a replay that halts; a replay while that run waits fails too; once it ended a replay goes through', async () => {
    const run = zap();
    cutOnce.add('POST /v1/workflows/request-consent-privacy/runs');
    const first = errorDetails(await rejection(run(requestConsent.operation.perform, input)));
    expect(first).toMatchObject({ name: 'AppError', code: 'OUTCOME_UNKNOWN', status: 504 });
    expect(first.message).toContain('the connection failed before it answered');
    expect(first.message).toContain('after the request was sent, so the "Request Consent: Privacy" workflow may have started for contact');
    expect(first.message).toContain('on whatsapp without this step getting the messages to send, so the contact may not have been asked');
    expect(first.message).toContain("Check the contact's events in Consentry before you replay this run");
    expect(first.message).not.toContain('Zapier will retry');

    // The server did start the run. A Zap that knows of no unclear start meets it as a running request: a halt.
    const otherZap = await rejection(zap()(requestConsent.operation.perform, input));
    expect(otherZap.name).toBe('HaltedError');
    expect(otherZap.message).toContain('is already running for this contact on whatsapp');

    // This Zap's replay while that run waits for an answer: an error, not a halt that reads as done.
    const replay = errorDetails(await rejection(run(requestConsent.operation.perform, input)));
    expect(replay).toMatchObject({ name: 'AppError', code: 'RUN_OUTCOME_UNKNOWN', status: 409 });
    expect(replay.message).toContain('is already running for this contact on whatsapp');
    expect(replay.message).toContain('the running workflow may be the one it started, whose messages no step got');

    // The run ends (here the contact answers); the replay then goes through.
    await run(sendInboundMessage.operation.perform, { channel: 'whatsapp', phone: input.phone, button: 'AGREE & PROCEED' });
    const done = ItemSchema.parse(await run(requestConsent.operation.perform, input));
    expect(done).toMatchObject({ alreadyAgreed: true, channel: 'whatsapp' });
  });
});

describe('Request Privacy Consent refused 503 STORE_BUSY: nothing changed', () => {
  it('is replayed by Zapier (ThrottledError, Retry-After 1), and the replay starts the run and returns its messages', async () => {
    const run = zap();
    const input = { phone: '+34600000103', channel: 'whatsapp' };
    busyOnce.add('POST /v1/workflows/request-consent-privacy/runs');
    const first = errorDetails(await rejection(run(requestConsent.operation.perform, input)));
    expect(first).toMatchObject({ name: 'ThrottledError', delay: 1 });
    const replay = ItemSchema.parse(await run(requestConsent.operation.perform, input));
    expect(replay).toMatchObject({ channel: 'whatsapp', alreadyAgreed: false });
    expect(replay.replyText).toContain('https://example.com/privacy');
  });
});

describe('Create Contact after its answer was lost', () => {
  const input = { name: 'Ana Test', email: 'ana.replay@example.com', phone: '+34 600 000 102', tags: 'Lead' };

  it('is replayed (ThrottledError), and the replay answers the contact the first attempt created, as a create does', async () => {
    const run = zap();
    cutOnce.add('POST /v1/contacts');
    const first = errorDetails(await rejection(run(createContact.operation.perform, input)));
    expect(first).toMatchObject({ name: 'ThrottledError', delay: 60 });
    const [stored, ...others] = ContactListSchema.parse(await api('/v1/contacts?email=ana.replay%40example.com')).data;
    expect(stored).toBeDefined();
    expect(others).toEqual([]);

    const replay = ItemSchema.parse(await run(createContact.operation.perform, input));
    const created = ItemSchema.parse(await run(createContact.operation.perform, { name: 'Eva Test', email: 'eva.new@example.com' }));
    expect(Object.keys(replay).sort()).toEqual(Object.keys(created).sort());
    expect(replay).toMatchObject({
      id: stored?.id,
      name: 'Ana Test',
      email: 'ana.replay@example.com',
      phone: '+34600000102',
      tags: ['Lead'],
      consents: [],
      consentStatus: {},
    });
    expect(ContactListSchema.parse(await api('/v1/contacts?email=ana.replay%40example.com')).data).toHaveLength(1);
  });

  it('is replayed after a proxy’s 502 that came once the server had created the contact, and the replay answers that contact', async () => {
    const run = zap();
    badGatewayOnce.add('POST /v1/contacts');
    const first = errorDetails(await rejection(run(createContact.operation.perform, input)));
    expect(first).toMatchObject({ name: 'ThrottledError', delay: 60 });
    expect(first.message).toContain('Consentry had a server error (502)');
    const [stored] = ContactListSchema.parse(await api('/v1/contacts?email=ana.replay%40example.com')).data;
    expect(await run(createContact.operation.perform, input)).toMatchObject({ id: stored?.id, email: 'ana.replay@example.com', tags: ['Lead'] });
  });

  it('halts for a contact made elsewhere (an import, the API) that holds just what the step sends: no attempt of this step was lost', async () => {
    const made = z.object({ id: z.string() }).parse(await api('/v1/contacts', { method: 'POST', body: { email: 'lead@example.com' } }));
    const error = await rejection(zap()(createContact.operation.perform, { email: 'lead@example.com' }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('Consentry refused this step: email: already used by another contact');
    expect(ContactListSchema.parse(await api('/v1/contacts?email=lead%40example.com')).data.map((contact) => contact.id)).toEqual([made.id]);
  });

  it('keeps the refusal for a contact that is not what the step sends: another person has the email', async () => {
    await api('/v1/contacts', { method: 'POST', body: { name: 'Ana Other', email: 'ana.replay@example.com' } });
    const error = await rejection(zap()(createContact.operation.perform, { name: 'Ana Test', email: 'ana.replay@example.com' }));
    expect(error.name).toBe('HaltedError');
    expect(error.message).toContain('Consentry refused this step: email: already used by another contact');
  });
});
