import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import { createApiKey } from '../../../src/server/api-keys.js';
import { linkedContact, PORTAL_ID, type Harness } from './harness.js';
import { actionBody, propertyChange, signedHeaders, useHubspotApp } from './http-harness.js';

const sms = channelPropertyNames('sms');
const ACTION_PATH = '/hubspot/actions/check-consent';
const WEBHOOK_PATH = '/hubspot/webhooks';

const setUp = useHubspotApp();

const LogLine = z.object({ level: z.number(), msg: z.string().optional(), reason: z.string().optional(), err: z.unknown().optional() }).passthrough();

async function send(app: Awaited<ReturnType<typeof setUp>>['app'], h: Harness, path: string, body: string) {
  return app.inject({ method: 'POST', url: path, payload: body, headers: signedHeaders(h, path, body, 'v3') });
}

const Fields = z.record(z.string(), z.unknown());

/** A check-consent request for the contact `objectId`, as HubSpot sends it, changed by `edit` (the body and its `object`). */
function editedAction(objectId: string, edit: (body: Record<string, unknown>, object: Record<string, unknown>) => void): string {
  const body = Fields.parse(JSON.parse(actionBody('cb-fields', objectId, { channel: 'sms' })));
  // zod parses into a copy: the edited `object` is put back, unless the edit left it out.
  const object = Fields.parse(body['object']);
  edit(body, object);
  if ('object' in body) body['object'] = object;
  return JSON.stringify(body);
}

/** The answer to a body that is not JSON, `errors` naming where it stops being JSON (`where`: `line L, column C: ...`). */
const notJson = (where: string) => ({
  status: 400,
  code: 'MALFORMED_JSON',
  detail: 'The request body is not valid JSON',
  errors: [{ path: 'body', message: `is not valid JSON: ${where}` }],
});

/** What POST /v1/contacts, whose body Fastify's parser reads, answers for `text`: the API's own answer to a body that is not JSON. */
async function v1Answer(app: Awaited<ReturnType<typeof setUp>>['app'], h: Harness, text: string): Promise<unknown> {
  const { key } = await createApiKey(h.store, { workspaceId: h.workspaceId, clock: h.clock });
  const response = await app.inject({ method: 'POST', url: '/v1/contacts', payload: text, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });
  expect(response.statusCode).toBe(400);
  const { status, code, detail, errors } = z.object({ status: z.number(), code: z.string(), detail: z.string(), errors: z.unknown() }).parse(response.json());
  return { status, code, detail, errors };
}

describe('POST /hubspot/actions/{key}: the fields of a signed request', () => {
  it('names a field left out `is required`, with the status HubSpot is answered for a bad request', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const body = editedAction(hubspotId, (request, object) => {
      delete request['callbackId'];
      delete object['objectId'];
      delete object['objectType'];
    });
    const response = await send(app, h, ACTION_PATH, body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        detail: 'Not a HubSpot workflow action request',
        errors: [
          { path: 'callbackId', message: 'is required' },
          { path: 'object.objectId', message: 'is required' },
          { path: 'object.objectType', message: 'is required' },
        ],
      }),
    );
    const withoutObject = await send(app, h, ACTION_PATH, editedAction(hubspotId, (request) => delete request['object']));
    expect(withoutObject.statusCode).toBe(400);
    expect(withoutObject.json().errors).toEqual([{ path: 'object', message: 'is required' }]);
  });

  it('words a field that is there but wrong as before', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const body = editedAction(hubspotId, (request, object) => {
      request['callbackId'] = 5;
      object['objectType'] = false;
    });
    const response = await send(app, h, ACTION_PATH, body);
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      { path: 'callbackId', message: 'Invalid input: expected string, received number' },
      { path: 'object.objectType', message: 'Invalid input: expected string, received boolean' },
    ]);
    const empty = await send(app, h, ACTION_PATH, editedAction(hubspotId, (request) => (request['callbackId'] = '')));
    expect(empty.json().errors).toEqual([{ path: 'callbackId', message: 'is empty' }]);
  });

  it('names a body that is not JSON as not JSON, where it stops being JSON, signed or not, and logs the refusal at info', async () => {
    const lines: string[] = [];
    const { h, app } = await setUp({}, { logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    const text = `{"callbackId":"cb-1","origin":{"portalId":${PORTAL_ID}}`;
    const signed = await send(app, h, ACTION_PATH, text);
    expect(signed.statusCode).toBe(400);
    expect(signed.json()).toEqual(expect.objectContaining(notJson(`line 1, column ${text.length + 1}: Expected ',' or '}' after property value`)));
    const unsigned = await app.inject({ method: 'POST', url: ACTION_PATH, payload: 'not json', headers: { 'content-type': 'application/json' } });
    expect(unsigned.statusCode).toBe(400);
    expect(unsigned.json()).toEqual(expect.objectContaining(notJson(`line 1, column 2: Unexpected token 'o', "not json"`)));
    // A body not sent is not a malformed one: it names no portal, as before.
    const none = await app.inject({ method: 'POST', url: ACTION_PATH, payload: '', headers: { 'content-type': 'application/json' } });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toEqual(expect.objectContaining({ code: 'VALIDATION_FAILED', detail: 'The body names no HubSpot portal' }));

    const logged = lines.map((line) => LogLine.parse(JSON.parse(line)));
    expect(logged.filter((line) => line.msg === 'HubSpot request refused').map((line) => line.reason)).toEqual(['not_json', 'not_json', 'no_portal']);
    expect(logged.filter((line) => line.level >= 40 || line.err !== undefined)).toEqual([]);
    expect(lines.join('\n')).not.toContain('not json');
  });
});

describe('POST /hubspot/webhooks: the fields of a signed request', () => {
  it('names a field left out of an event `is required`', async () => {
    const { h, app } = await setUp();
    const { contactId, hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const at = h.clock.now().getTime() - 1000;
    const first: Record<string, unknown> = propertyChange(hubspotId, sms.status, 'opted_out', at);
    delete first['occurredAt'];
    delete first['subscriptionType'];
    const second: Record<string, unknown> = propertyChange(hubspotId, sms.status, 'opted_out', at);
    delete second['objectId'];
    const response = await send(app, h, WEBHOOK_PATH, JSON.stringify([first, second]));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        detail: 'Not a HubSpot webhook request',
        errors: [
          { path: '0.occurredAt', message: 'is required' },
          { path: '0.subscriptionType', message: 'is required' },
          { path: '1.objectId', message: 'is required' },
        ],
      }),
    );
    expect(await h.workspace.getHistory(contactId)).toEqual([]);
  });

  it('words a field that is there but wrong as before', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const event = propertyChange(hubspotId, sms.status, 'opted_out', h.clock.now().getTime(), { occurredAt: 'yesterday', subscriptionType: 7, propertyValue: 1 });
    const response = await send(app, h, WEBHOOK_PATH, JSON.stringify([event]));
    expect(response.statusCode).toBe(400);
    expect(response.json().errors).toEqual([
      { path: '0.occurredAt', message: 'Invalid input: expected number, received string' },
      { path: '0.subscriptionType', message: 'Invalid input: expected string, received number' },
      { path: '0.propertyValue', message: 'Invalid input: expected string, received number' },
    ]);
  });

  it('names a body that is not JSON as not JSON, where it stops being JSON', async () => {
    const { h, app } = await setUp();
    const text = `[{"portalId":${PORTAL_ID},\n  "occurredAt":1`;
    const signed = await send(app, h, WEBHOOK_PATH, text);
    expect(signed.statusCode).toBe(400);
    expect(signed.json()).toEqual(expect.objectContaining(notJson(`line 2, column 17: Expected ',' or '}' after property value`)));
    const none = await app.inject({ method: 'POST', url: WEBHOOK_PATH, payload: ' ', headers: { 'content-type': 'application/json' } });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toEqual(expect.objectContaining({ code: 'VALIDATION_FAILED', detail: 'The body names no HubSpot portal' }));
  });
});

describe('a body that is not JSON, on the HubSpot routes as on the API', () => {
  it.each([
    ['{"origin":{"portalId":1}', 'an early end'],
    ['{"origin":\n  {"portalId": 1,}}', 'a stray character, V8 naming its position'],
    ['{"origin": x}', "a stray character, V8 naming no position (Unexpected token 'x', ...)"],
    ['{"a":"\u202e"\n x}', 'a bidirectional formatting character quoted from the body'],
  ])('%j (%s) is answered as POST /v1/contacts answers it', async (text) => {
    const { h, app } = await setUp();
    const api = await v1Answer(app, h, text);
    for (const path of [ACTION_PATH, WEBHOOK_PATH]) {
      const response = await app.inject({ method: 'POST', url: path, payload: text, headers: { 'content-type': 'application/json' } });
      expect(response.statusCode).toBe(400);
      expect(response.json(), path).toEqual(expect.objectContaining(api));
    }
    expect(api).toEqual(expect.objectContaining({ errors: [{ path: 'body', message: expect.stringMatching(/^is not valid JSON: line \d+, column \d+: \S/) }] }));
  });
});

describe('the portal an unsigned body names', () => {
  const unsigned = async (app: Awaited<ReturnType<typeof setUp>>['app'], path: string, payload: string) => {
    const response = await app.inject({ method: 'POST', url: path, payload, headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(400);
    return response.json();
  };
  const NONE = 'The body names no HubSpot portal';
  const MALFORMED = "The body's HubSpot portal id is not the numeric HubSpot account id";

  it('tells a portal id left out from one of another form, naming where it goes', async () => {
    const { app } = await setUp();
    expect(await unsigned(app, ACTION_PATH, '{"callbackId":"x"}')).toEqual(expect.objectContaining({ detail: NONE, errors: [{ path: 'origin', message: 'is required' }] }));
    expect(await unsigned(app, ACTION_PATH, '{"origin":{}}')).toEqual(expect.objectContaining({ detail: NONE, errors: [{ path: 'origin.portalId', message: 'is required' }] }));
    expect(await unsigned(app, ACTION_PATH, '')).toEqual(expect.objectContaining({ detail: NONE, errors: [{ path: 'body', message: 'is required' }] }));
    for (const portalId of ['"abc"', '-5', 'true', '"12.5"', '9007199254740993']) {
      expect(await unsigned(app, ACTION_PATH, `{"origin":{"portalId":${portalId}}}`)).toEqual(
        expect.objectContaining({ code: 'VALIDATION_FAILED', detail: MALFORMED, errors: [{ path: 'origin.portalId', message: 'must be the numeric HubSpot account id' }] }),
      );
    }
  });

  it('names the event of a webhook request whose portal id is missing or malformed, and an empty list', async () => {
    const { app } = await setUp();
    expect(await unsigned(app, WEBHOOK_PATH, '[{"occurredAt":1}]')).toEqual(expect.objectContaining({ detail: NONE, errors: [{ path: '0.portalId', message: 'is required' }] }));
    expect(await unsigned(app, WEBHOOK_PATH, '[{"portalId":"x1"}]')).toEqual(
      expect.objectContaining({ detail: MALFORMED, errors: [{ path: '0.portalId', message: 'must be the numeric HubSpot account id' }] }),
    );
    expect(await unsigned(app, WEBHOOK_PATH, '[]')).toEqual(
      expect.objectContaining({ detail: NONE, errors: [{ path: 'body', message: 'is an empty list: a webhook request holds at least one event' }] }),
    );
  });
});
