import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Target } from '../worker/target-server.js';
import { hookTestbed, type HookTestbed } from './hook-testbed.js';
import { ANA, parsed, type Tenant, type TestApp } from './helpers.js';

const CreatedSchema = z.object({ id: z.string(), targetUrl: z.string(), filter: z.record(z.string(), z.string()).nullable(), secret: z.string() });
const ListSchema = z.object({ data: z.array(z.object({ id: z.string() })) });
const ContactSchema = z.object({ id: z.string() });
const DeliveredSchema = z.object({ id: z.string(), type: z.string() });

let bed: HookTestbed;
let t: TestApp;
let acme: Tenant;
let target: Target;

beforeEach(async () => {
  bed = await hookTestbed();
  ({ t, target } = bed);
  acme = await t.tenant('Acme');
});

afterEach(() => bed.close());

async function subscribe(payload: Record<string, unknown>): Promise<{ status: number; hook: z.infer<typeof CreatedSchema> }> {
  const response = await t.as(acme, { method: 'POST', url: '/v1/hooks', payload });
  return { status: response.statusCode, hook: parsed(response, CreatedSchema) };
}

describe('POST /v1/hooks again with another spelling of the same subscription', () => {
  it('makes one hook for VIP, vip and the target URL with its scheme in capitals, and the receiver hears one tagging once', async () => {
    const { port, pathname } = new URL(target.url);
    const first = await subscribe({ targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'VIP' } });
    const lowerCase = await subscribe({ targetUrl: target.url, event: 'contact.tagged', filter: { tag: 'vip' } });
    const capitals = await subscribe({ targetUrl: `HTTP://127.0.0.1:${port}${pathname}`, event: 'contact.tagged', filter: { tag: 'VIP' } });

    expect([first.status, lowerCase.status, capitals.status]).toEqual([201, 200, 200]);
    expect(lowerCase.hook.id).toBe(first.hook.id);
    expect(capitals.hook.id).toBe(first.hook.id);
    expect(capitals.hook.secret).toBe(first.hook.secret);
    expect(parsed(await t.as(acme, { method: 'GET', url: '/v1/hooks' }), ListSchema).data.map((hook) => hook.id)).toEqual([first.hook.id]);

    const contact = parsed(await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: ANA }), ContactSchema);
    const tagged = await t.as(acme, { method: 'POST', url: `/v1/contacts/${contact.id}/tags`, payload: { tag: 'VIP' } });
    expect(tagged.statusCode, tagged.body).toBe(200);
    await bed.dispatcher().runOnce();

    const posts = target.received.map((request) => DeliveredSchema.parse(JSON.parse(request.body)));
    expect(posts.map((post) => post.type)).toEqual(['contact.tagged']);
    expect(target.received[0]?.path).toBe(pathname);
  });

  it('answers the hook for the target URL with the default port written out', async () => {
    const first = await subscribe({ targetUrl: 'https://hooks.example.com/zap', event: 'contact.tagged', filter: { tag: 'VIP' } });
    const again = await subscribe({ targetUrl: 'HTTPS://HOOKS.EXAMPLE.COM:443/zap', event: 'contact.tagged', filter: { tag: ' vip ' } });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.hook).toMatchObject({ id: first.hook.id, targetUrl: 'https://hooks.example.com/zap', filter: { tag: 'VIP' } });
  });
});
