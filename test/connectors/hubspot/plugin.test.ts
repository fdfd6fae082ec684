import { Signature } from '@hubspot/api-client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelPropertyNames } from '../../../connectors/hubspot/properties.js';
import type { AppOptions } from '../../../src/server/app.js';
import { CLIENT_SECRET, linkedContact, PORTAL_ID } from './harness.js';
import { actionBody, PUBLIC_URL, useHubspotApp } from './http-harness.js';

const sms = channelPropertyNames('sms');

// Without PUBLIC_URL unless a test sets one: what the server does when it rebuilds the signed URL is under test.
const setUpServer = useHubspotApp({});

const LogLineSchema = z.object({ level: z.number(), msg: z.string().optional(), err: z.unknown().optional() }).passthrough();

const setUp = (options: Partial<AppOptions> = {}) => setUpServer({}, options);

function v3(url: string, body: string, timestamp: number, secret = CLIENT_SECRET): Record<string, string> {
  const signature = Signature.getSignature('POST', 'v3', { clientSecret: secret, requestBody: body, url, timestamp, signature: '' });
  return { 'content-type': 'application/json', 'x-hubspot-signature-v3': signature, 'x-hubspot-request-timestamp': String(timestamp) };
}

function v2(url: string, body: string): Record<string, string> {
  const signature = Signature.getSignature('POST', 'v2', { clientSecret: CLIENT_SECRET, requestBody: body, url, signature: '' });
  return { 'content-type': 'application/json', 'x-hubspot-signature': signature, 'x-hubspot-signature-version': 'v2' };
}

const checkConsentBody = (objectId: string): string => actionBody('cb-proxy', objectId, { channel: 'sms' });

const DetailSchema = z.object({ detail: z.string(), code: z.string() });

describe('HubSpot routes: refused requests', () => {
  it('answers unsigned, stale, future, v2-only and unknown-portal requests without an error in the log', async () => {
    const lines: string[] = [];
    const { h, app } = await setUp({ publicUrl: PUBLIC_URL, logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const now = h.clock.now().getTime();
    const webhook = JSON.stringify([
      { portalId: Number(PORTAL_ID), occurredAt: now, subscriptionType: 'contact.propertyChange', objectId: Number(hubspotId), propertyName: sms.status, propertyValue: 'opted_out' },
    ]);
    const webhookUrl = `${PUBLIC_URL}/hubspot/webhooks`;
    const action = checkConsentBody(hubspotId);
    const actionUrl = `${PUBLIC_URL}/hubspot/actions/check-consent`;
    const send = (url: string, payload: string, headers: Record<string, string>) => app.inject({ method: 'POST', url, payload, headers });

    const statuses = [
      (await send('/hubspot/webhooks', webhook, v3(webhookUrl, webhook, now - 6 * 60_000))).statusCode,
      (await send('/hubspot/webhooks', webhook, v3(webhookUrl, webhook, now + 10 * 60_000))).statusCode,
      (await send('/hubspot/webhooks', webhook, v2(webhookUrl, webhook))).statusCode,
      (await send('/hubspot/actions/check-consent', action, { 'content-type': 'application/json' })).statusCode,
      (await send('/hubspot/actions/check-consent', action, v3(actionUrl, action, now, 'not-the-secret'))).statusCode,
      (await send('/hubspot/webhooks', webhook.replace(PORTAL_ID, '99999'), v3(webhookUrl, webhook, now))).statusCode,
      (await send('/hubspot/webhooks', '[]', v3(webhookUrl, '[]', now))).statusCode,
    ];
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 400]);

    const logged = lines.map((line) => LogLineSchema.parse(JSON.parse(line)));
    expect(logged.filter((line) => line.level >= 40)).toEqual([]);
    expect(logged.filter((line) => line.err !== undefined)).toEqual([]);
    expect(logged.filter((line) => line.msg === 'HubSpot request refused')).toHaveLength(7);
    // A signed request is still served.
    expect((await send('/hubspot/actions/check-consent', action, v3(actionUrl, action, now))).statusCode).toBe(200);
  });
});

describe('HubSpot routes: PUBLIC_URL behind a proxy', () => {
  it('names the URL it checked, and the PUBLIC_URL to set when the request was signed for the proxy\'s address', async () => {
    const { h, app } = await setUp();
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const body = checkConsentBody(hubspotId);
    const signedFor = `${PUBLIC_URL}/hubspot/actions/check-consent`;
    const proxied = { host: 'consent.example.com', 'x-forwarded-proto': 'https' };
    const response = await app.inject({
      method: 'POST',
      url: '/hubspot/actions/check-consent',
      payload: body,
      headers: { ...v3(signedFor, body, h.clock.now().getTime()), ...proxied },
    });
    expect(response.statusCode).toBe(401);
    const { detail } = DetailSchema.parse(response.json());
    expect(detail).toBe(
      'HubSpot signature refused: bad_signature (checked over http://consent.example.com/hubspot/actions/check-consent); ' +
        `it was signed for ${signedFor}: set PUBLIC_URL to ${PUBLIC_URL}, the address HubSpot calls`,
    );

    // A signature made with another secret verifies over no URL: no advice, only the URL checked.
    const forged = await app.inject({
      method: 'POST',
      url: '/hubspot/actions/check-consent',
      payload: body,
      headers: { ...v3(signedFor, body, h.clock.now().getTime(), 'not-the-secret'), ...proxied },
    });
    expect(DetailSchema.parse(forged.json()).detail).toBe('HubSpot signature refused: bad_signature (checked over http://consent.example.com/hubspot/actions/check-consent)');
  });

  it('points at the address HubSpot called when PUBLIC_URL names another one', async () => {
    const { h, app } = await setUp({ publicUrl: 'https://old-consent.example.com' });
    const { hubspotId } = await linkedContact(h, 'ana.test@example.com');
    const body = JSON.stringify([
      { portalId: Number(PORTAL_ID), occurredAt: h.clock.now().getTime(), subscriptionType: 'contact.propertyChange', objectId: Number(hubspotId), propertyName: sms.status, propertyValue: 'opted_out' },
    ]);
    const response = await app.inject({
      method: 'POST',
      url: '/hubspot/webhooks',
      payload: body,
      headers: { ...v3(`${PUBLIC_URL}/hubspot/webhooks`, body, h.clock.now().getTime()), host: 'consent.example.com' },
    });
    expect(response.statusCode).toBe(401);
    expect(DetailSchema.parse(response.json()).detail).toContain(
      `(checked over https://old-consent.example.com/hubspot/webhooks); it was signed for ${PUBLIC_URL}/hubspot/webhooks: set PUBLIC_URL to ${PUBLIC_URL}`,
    );
  });
});
