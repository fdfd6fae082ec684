import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PUBLIC_EVENT_DATA_SCHEMAS, PUBLIC_EVENT_TYPES, isPublicEventType } from '../../src/core/events.js';
import { ANA, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;

useTestApp((app, first) => {
  t = app;
  acme = first;
});

const PropertySchema = z.object({ type: z.unknown().optional(), description: z.string().optional() }).loose();
const DataSchema = z.object({ type: z.literal('object'), properties: z.record(z.string(), PropertySchema), required: z.array(z.string()) }).loose();
const VariantSchema = z.object({
  title: z.string(),
  description: z.string(),
  properties: z.object({ type: z.object({ enum: z.tuple([z.string()]) }).or(z.object({ const: z.string() })), data: DataSchema }),
});
const DocumentSchema = z.object({
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
  webhooks: z.record(z.string(), z.object({ post: z.unknown() })),
});
const OperationSchema = z.object({
  requestBody: z.object({ content: z.record(z.string(), z.object({ schema: z.unknown() })) }).optional(),
  responses: z.record(z.string(), z.object({ content: z.record(z.string(), z.object({ schema: z.unknown() })).optional() }).loose()),
});

async function openApi(): Promise<z.infer<typeof DocumentSchema>> {
  const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(response.statusCode).toBe(200);
  return DocumentSchema.parse(response.json());
}

function operation(doc: z.infer<typeof DocumentSchema>, path: string, method: string): z.infer<typeof OperationSchema> {
  return OperationSchema.parse(doc.paths[path]?.[method]);
}

/** The documented data of each event type of GET /v1/events, by type. */
async function documentedData(): Promise<Map<string, z.infer<typeof DataSchema>>> {
  const events = operation(await openApi(), '/v1/events', 'get').responses['200']?.content?.['application/json']?.schema;
  const variants = z.object({ properties: z.object({ data: z.object({ items: z.object({ oneOf: z.array(VariantSchema) }) }) }) }).parse(events).properties.data.items.oneOf;
  return new Map(variants.map((variant) => ['const' in variant.properties.type ? variant.properties.type.const : variant.properties.type.enum[0], variant.properties.data]));
}

describe('/openapi.json describes the data of each event type', () => {
  it('lists, for GET /v1/events, every public type with the fields its data is made with, described', async () => {
    const documented = await documentedData();
    expect([...documented.keys()]).toEqual([...PUBLIC_EVENT_TYPES]);
    for (const type of PUBLIC_EVENT_TYPES) {
      const data = documented.get(type);
      expect(Object.keys(data?.properties ?? {}), type).toEqual(Object.keys(PUBLIC_EVENT_DATA_SCHEMAS[type].shape));
    }
    expect(documented.get('contact.updated')?.properties['changes']).toMatchObject({ type: 'array', description: expect.stringContaining('never the values') });
    expect(documented.get('consent.withdrawn')?.properties['channel']).toMatchObject({ enum: expect.arrayContaining(['whatsapp', 'any']), description: expect.stringContaining('STOP ALL') });
    expect(documented.get('contact.tagged')?.required).toEqual(['contactId', 'tag']);
    expect(documented.get('sync.failed')?.properties['contactId']).toMatchObject({ type: ['string', 'null'] });
  });

  it("documents the body every hook (and the outbound webhook) receives under the document's webhooks", async () => {
    const doc = await openApi();
    expect(Object.keys(doc.webhooks)).toEqual([...PUBLIC_EVENT_TYPES, 'message.outbound']);
    const BodySchema = z.object({
      parameters: z.array(z.object({ name: z.string(), in: z.literal('header') })),
      requestBody: z.object({
        content: z.object({
          'application/json': z.object({ schema: z.object({ properties: z.object({ id: z.unknown(), occurredAt: z.unknown(), data: DataSchema }), required: z.array(z.string()) }) }),
        }),
      }),
    });
    const tagged = BodySchema.parse(doc.webhooks['contact.tagged']?.post);
    expect(tagged.parameters.map((header) => header.name)).toEqual(['X-Consentry-Event-Id', 'X-Consentry-Event-Type', 'X-Consentry-Timestamp', 'X-Consentry-Signature']);
    const envelope = tagged.requestBody.content['application/json'].schema;
    expect(envelope.required).toEqual(['id', 'type', 'version', 'workspaceId', 'occurredAt', 'contactId', 'data']);
    expect(Object.keys(envelope.properties.data.properties)).toEqual(['contactId', 'tag']);
    const outbound = BodySchema.parse(doc.webhooks['message.outbound']?.post).requestBody.content['application/json'].schema.properties.data;
    expect(Object.keys(outbound.properties)).toEqual(['contactId', 'conversationId', 'channel', 'to', 'text', 'options', 'inReplyTo', 'inAnswer']);
    expect(outbound.required).not.toContain('options');
    expect(outbound.required).toContain('inAnswer');
    expect(JSON.stringify(doc.paths['/v1/hooks']?.['post'])).toContain('webhooks of this document');
  });

  it('matches the events the API serves, which keep their shape', async () => {
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
    const id = z.object({ id: z.string() }).parse(created.json()).id;
    await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag: 'VIP' } });
    await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${id}/tags/VIP` });
    await t.as(acme, { method: 'PATCH', url: `/v1/contacts/${id}`, payload: { name: 'Ana B. Test', fields: { plan: 'gold' } } });
    const consent = { legalBasis: 'CONSENT_WITH_NOTICE', explanation: 'Signed up at the counter' };
    await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload: { status: 'opted_in', ...consent } });
    await t.as(acme, { method: 'PUT', url: `/v1/contacts/${id}/consents/marketing/whatsapp`, payload: { status: 'opted_out' } });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'wamid.1', from: { id: '+34600000002', name: 'Ben Test' }, text: 'please stop texting me' } });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'whatsapp', messageId: 'wamid.2', from: { id: '+34600000002' }, text: 'hello' } });

    const listed = z
      .object({ data: z.array(z.object({ id: z.string(), type: z.string(), data: z.record(z.string(), z.unknown()) })) })
      .parse((await t.as(acme, { method: 'GET', url: '/v1/events?limit=200' })).json()).data;
    const stored = (await t.engine.workspace(acme.workspaceId).listEvents({ limit: 200 })).filter((event) => isPublicEventType(event.type));
    expect(listed.map((event) => [event.id, event.data])).toEqual(stored.map((event) => [event.id, { ...event.data }]));
    expect(new Set(listed.map((event) => event.type))).toEqual(
      new Set(['contact.tagged', 'contact.untagged', 'contact.updated', 'consent.given', 'consent.withdrawn', 'conversation.opened', 'optout.review_needed']),
    );

    const documented = await documentedData();
    for (const event of listed) {
      const data = documented.get(event.type);
      expect(data, event.type).toBeDefined();
      for (const field of data?.required ?? []) expect(Object.keys(event.data), `${event.type} ${field}`).toContain(field);
      for (const field of Object.keys(event.data)) expect(Object.keys(data?.properties ?? {}), `${event.type} ${field}`).toContain(field);
    }
  });
});

describe('/openapi.json declares both media types of a JSON Merge Patch', () => {
  it('for the contacts and settings PATCH routes, and a contact PATCH is taken as application/merge-patch+json', async () => {
    const doc = await openApi();
    for (const path of ['/v1/contacts/{id}', '/v1/settings']) {
      expect(Object.keys(operation(doc, path, 'patch').requestBody?.content ?? {}), path).toEqual(['application/json', 'application/merge-patch+json']);
    }
    const created = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA });
    const id = z.object({ id: z.string() }).parse(created.json()).id;
    const patched = await t.as(acme, {
      method: 'PATCH',
      url: `/v1/contacts/${id}`,
      headers: { 'content-type': 'application/merge-patch+json' },
      payload: JSON.stringify({ name: null }),
    });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ id, name: null });
  });
});
