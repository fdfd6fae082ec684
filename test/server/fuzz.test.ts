import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, LEGAL_BASES } from '../../src/core/consent.js';
import { PUBLIC_EVENT_TYPES } from '../../src/core/events.js';
import { testApp, type Tenant, type TestApp } from './helpers.js';

/*
 * Arbitrary JSON, arbitrary strings, and objects with the right keys holding wrong types: every
 * route must answer with a 2xx/4xx (a problem for 4xx), never a 5xx and never a crash.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

let t: TestApp;
let acme: Tenant;
let contactId: string;

beforeAll(async () => {
  t = await testApp();
  acme = await t.tenant('Acme');
  await t.as(acme, { method: 'PATCH', url: '/v1/settings', payload: { privacyPolicyUrl: 'https://example.com/privacy' } });
  const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: 'ana.test@example.com', phone: '+34600000001', tags: ['VIP'] } });
  contactId = created.json().id;
});

afterAll(async () => {
  await t.close();
});

function assertHandled(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what} → ${res.body.slice(0, 500)}`).toBeLessThan(500);
  if (res.statusCode >= 400) expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const oneOf = <T>(...values: T[]) => fc.constantFrom(...values);
/** A field that is sometimes right and often wrong. */
const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof(valid, anyJson, text);

const channel = field(oneOf(...CHANNELS));
const status = field(oneOf('opted_in', 'opted_out'));
const legalBasis = field(oneOf(...LEGAL_BASES, null));
const date = field(oneOf('2026-02-28T10:00:00Z', '2026-03-01T08:59:00.000+01:00', 'yesterday'));
const keywordText = field(oneOf('STOP', 'START', 'HELP', 'stop all', 'ARRÊTER', '停止', 'hola', 'AGREE & PROCEED'));

const bodies: Record<string, fc.Arbitrary<unknown>> = {
  message: fc.record(
    {
      channel,
      messageId: field(fc.string({ minLength: 1, maxLength: 12 })),
      from: fc.oneof(
        fc.record({ id: field(oneOf('+34600000001', '+34600000002', 'visitor-1')), phone: field(oneOf('+34600000003', '12')), email: field(oneOf('x@example.com', 'nope')), name: field(text) }, { requiredKeys: [] }),
        anyJson,
      ),
      text: keywordText,
      button: field(oneOf('AGREE & PROCEED', 'agree')),
      timestamp: date,
    },
    { requiredKeys: [] },
  ),
  contact: fc.record(
    {
      name: field(text),
      email: field(oneOf('ben.test@example.com', 'not-an-email', '')),
      phone: field(oneOf('+34600000002', '600000002', 'abc')),
      fields: field(fc.dictionary(text, text, { maxKeys: 3 })),
      tags: field(fc.array(text, { maxLength: 3 })),
      identities: field(fc.array(fc.record({ channel, externalId: field(text) }, { requiredKeys: [] }), { maxLength: 2 })),
    },
    { requiredKeys: [] },
  ),
  tag: fc.record({ tag: field(text) }, { requiredKeys: [] }),
  consent: fc.record({ status, legalBasis, explanation: field(text), occurredAt: date, idempotencyKey: field(text) }, { requiredKeys: [] }),
  bulk: fc.record(
    {
      rows: field(
        fc.array(
          fc.oneof(
            fc.record(
              { contactId: field(oneOf('nobody')), email: field(oneOf('bulk@example.com', 'bad')), phone: field(oneOf('+34600000004')), purpose: field(oneOf('marketing', 'privacy', 'Bad!')), channel, status, legalBasis, explanation: field(text), occurredAt: date, idempotencyKey: field(text) },
              { requiredKeys: [] },
            ),
            anyJson,
          ),
          { maxLength: 4 },
        ),
      ),
    },
    { requiredKeys: [] },
  ),
  run: fc.record({ contactId: field(oneOf('nobody')), channel }, { requiredKeys: [] }),
  settings: fc.record(
    {
      privacyPolicyUrl: field(oneOf('https://example.com/privacy', 'ftp://x', null)),
      defaultCountry: field(oneOf('ES', 'FR', 'es', null)),
      triggers: field(fc.array(fc.record({ trigger: field(oneOf('conversation_opened', 'manual', 'tag_added')), template: field(oneOf('request-consent-privacy', 'nope')), match: field(text), enabled: field(fc.boolean()) }, { requiredKeys: [] }), { maxLength: 2 })),
      keywords: field(fc.dictionary(oneOf('en', 'es', 'xx'), fc.record({ opt_in: field(fc.array(text, { maxLength: 2 })), opt_out: field(fc.array(text, { maxLength: 2 })), help: field(fc.array(text, { maxLength: 2 })), removed: field(fc.array(oneOf('STOP', 'CANCEL', 'QUIT'), { maxLength: 2 })) }, { requiredKeys: [] }), { maxKeys: 2 })),
      replies: field(fc.dictionary(oneOf('en', 'ja'), fc.dictionary(oneOf('help', 'opt_in_confirmation', 'nope'), text, { maxKeys: 2 }), { maxKeys: 2 })),
      defaultLanguage: field(oneOf('en', 'fr', 'tlh')),
      outboundWebhookUrl: field(oneOf('https://example.com/hook', 'http://127.0.0.1/hook', 'http://[::1]/', 'nope', null)),
    },
    { requiredKeys: [] },
  ),
  hook: fc.record(
    {
      targetUrl: field(oneOf('https://example.com/hook', 'http://10.0.0.1/', 'http://localhost:3000/', 'http://0x7f.1/', 'ftp://example.com/', 'nope')),
      event: field(oneOf('consent.given', '*', 'message.outbound', 'nope')),
      filter: field(fc.dictionary(text, field(text), { maxKeys: 3 })),
    },
    { requiredKeys: [] },
  ),
};

/** Some body: the route's own shape with wrong types, any JSON value, or any object. */
const bodyFor = (shape: fc.Arbitrary<unknown>) => fc.oneof(shape, anyJson, fc.dictionary(text, anyJson, { maxKeys: 4 }));

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
const id = () => fc.oneof(fc.constant(contactId), fc.string({ maxLength: 30 }));
const segment = (s: string) => encodeURIComponent(s);

const bodyRoutes: { name: string; method: Method; url: () => fc.Arbitrary<string>; body: fc.Arbitrary<unknown> }[] = [
  { name: 'POST /v1/messages', method: 'POST', url: () => fc.constant('/v1/messages'), body: bodies.message! },
  { name: 'POST /v1/contacts', method: 'POST', url: () => fc.constant('/v1/contacts'), body: bodies.contact! },
  { name: 'PATCH /v1/contacts/{id}', method: 'PATCH', url: () => id().map((i) => `/v1/contacts/${segment(i)}`), body: bodies.contact! },
  { name: 'POST /v1/contacts/{id}/tags', method: 'POST', url: () => id().map((i) => `/v1/contacts/${segment(i)}/tags`), body: bodies.tag! },
  {
    name: 'PUT /v1/contacts/{id}/consents/{purpose}/{channel}',
    method: 'PUT',
    url: () => fc.tuple(id(), fc.oneof(oneOf('marketing', 'privacy'), fc.string({ maxLength: 10 })), fc.oneof(oneOf(...CHANNELS), fc.string({ maxLength: 10 }))).map(([i, p, c]) => `/v1/contacts/${segment(i)}/consents/${segment(p)}/${segment(c)}`),
    body: bodies.consent!,
  },
  { name: 'POST /v1/consents/bulk', method: 'POST', url: () => fc.constant('/v1/consents/bulk'), body: bodies.bulk! },
  { name: 'POST /v1/workflows/{template}/runs', method: 'POST', url: () => fc.oneof(oneOf('request-consent-privacy', 'welcome-request-email'), fc.string({ maxLength: 20 })).map((tpl) => `/v1/workflows/${segment(tpl)}/runs`), body: bodies.run! },
  { name: 'PATCH /v1/settings', method: 'PATCH', url: () => fc.constant('/v1/settings'), body: bodies.settings! },
  { name: 'PATCH /v1/me', method: 'PATCH', url: () => fc.constant('/v1/me'), body: fc.record({ name: field(fc.oneof(text, fc.constant(''), fc.constant('Acme\u202e'))) }, { requiredKeys: [] }) },
  { name: 'POST /v1/ledger/verify', method: 'POST', url: () => fc.constant('/v1/ledger/verify'), body: anyJson },
  { name: 'POST /v1/hooks', method: 'POST', url: () => fc.constant('/v1/hooks'), body: bodies.hook! },
];

const queryValue = (...valid: string[]) => fc.oneof(oneOf(...valid), fc.string({ maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 10 }));
const queryRoutes: { name: string; path: () => fc.Arbitrary<string>; query: fc.Arbitrary<Record<string, string>> }[] = [
  {
    name: 'GET /v1/contacts',
    path: () => fc.constant('/v1/contacts'),
    query: fc.record({ email: queryValue('ana.test@example.com', 'bad'), phone: queryValue('+34600000001', '12'), tag: queryValue('VIP'), cursor: queryValue(''), limit: queryValue('1', '500', '0', '-1', '1e2'), junk: fc.string() }, { requiredKeys: [] }),
  },
  {
    name: 'GET /v1/events',
    path: () => fc.constant('/v1/events'),
    query: fc.record({ type: queryValue(...PUBLIC_EVENT_TYPES, 'message.outbound', 'consent.given,contact.tagged', ','), limit: queryValue('1', '200', '201'), cursor: queryValue('01ZZZZZZZZZZZZZZZZZZZZZZZZ'), junk: fc.string() }, { requiredKeys: [] }),
  },
  {
    name: 'GET /v1/contacts/{id}/permission',
    path: () => id().map((i) => `/v1/contacts/${segment(i)}/permission`),
    query: fc.record({ channel: queryValue(...CHANNELS), purpose: queryValue('marketing', 'privacy', 'Bad'), junk: fc.string() }, { requiredKeys: [] }),
  },
  ...['', '/consents', '/consents/history', '/proof'].map((suffix) => ({
    name: `GET /v1/contacts/{id}${suffix}`,
    path: () => id().map((i) => `/v1/contacts/${segment(i)}${suffix}`),
    query: fc.record({ junk: fc.string() }, { requiredKeys: [] }),
  })),
  { name: 'GET /v1/me', path: () => fc.constant('/v1/me'), query: fc.record({ junk: fc.string() }, { requiredKeys: [] }) },
  { name: 'GET /v1/tags', path: () => fc.constant('/v1/tags'), query: fc.record({ junk: fc.string() }, { requiredKeys: [] }) },
  { name: 'GET /v1/settings', path: () => fc.constant('/v1/settings'), query: fc.record({ junk: fc.string() }, { requiredKeys: [] }) },
  { name: 'GET /v1/hooks', path: () => fc.constant('/v1/hooks'), query: fc.record({ junk: fc.string() }, { requiredKeys: [] }) },
  ...['/v1/hooks/{id}/deliveries', '/v1/settings/outbound-webhook/deliveries'].map((name) => ({
    name: `GET ${name}`,
    path: () => (name.includes('{id}') ? fc.oneof(fc.constant('01UNKNOWN'), fc.string({ maxLength: 30 })).map((i) => `/v1/hooks/${segment(i)}/deliveries`) : fc.constant(name)),
    query: fc.record({ status: queryValue('pending', 'delivered', 'dead', 'lost'), limit: queryValue('1', '500', '501', '0'), junk: fc.string() }, { requiredKeys: [] }),
  })),
  { name: 'DELETE /v1/hooks/{id}', path: () => fc.string({ maxLength: 30 }).map((i) => `/v1/hooks/${segment(i)}`), query: fc.record({}) },
  { name: 'DELETE /v1/contacts/{id}/tags/{tag}', path: () => fc.tuple(id(), fc.string({ maxLength: 20 })).map(([i, tag]) => `/v1/contacts/${segment(i)}/tags/${segment(tag)}`), query: fc.record({}) },
];

const headers = fc.record({ 'x-consentry-source': fc.oneof(oneOf('zapier', 'api'), fc.string({ maxLength: 10 }).filter((s) => /^[\x20-\x7e]*$/.test(s))) }, { requiredKeys: [] });

describe('fuzzing every JSON body', () => {
  for (const route of bodyRoutes) {
    it(`${route.name}: structured bodies never make a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(route.url(), bodyFor(route.body), headers, async (url, payload, extra) => {
          const res = await t.as(acme, { method: route.method, url, headers: { 'content-type': 'application/json', ...extra }, payload: JSON.stringify(payload) });
          assertHandled(res, `${route.method} ${url} ${JSON.stringify(payload)}`);
        }),
        { numRuns: RUNS },
      );
    });

    it(`${route.name}: raw text bodies never make a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(route.url(), fc.oneof(fc.json(), fc.string(), fc.string({ unit: 'binary' })), async (url, raw) => {
          const res = await t.as(acme, { method: route.method, url, headers: { 'content-type': 'application/json' }, payload: raw });
          assertHandled(res, `${route.method} ${url} ${raw}`);
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('fuzzing every query string', () => {
  for (const route of queryRoutes) {
    it(`${route.name}: never a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(route.path(), route.query, fc.string({ maxLength: 30 }), async (path, query, rawTail) => {
          const search = new URLSearchParams(query).toString();
          const method = route.name.startsWith('DELETE') ? 'DELETE' : 'GET';
          const res = await t.as(acme, { method, url: `${path}?${search}` });
          assertHandled(res, `${method} ${path}?${search}`);
          const raw = await t.as(acme, { method: 'GET', url: `${path}?${encodeURI(rawTail)}` });
          assertHandled(raw, `GET ${path}?${rawTail}`);
        }),
        { numRuns: RUNS },
      );
    });
  }
});
