import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import type { HookRow, Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createHookRegistry, type HookInput, type HookRegistry } from '../../src/worker/hooks.js';

/**
 * "Already subscribed" reads a subscription as the hook would hear events: filter values as
 * hookMatchesEvent compares them, and the target URL as the WHATWG URL parser reads it
 * (https://url.spec.whatwg.org/#concept-url-serializer: scheme and host in lower case, the
 * scheme's default port left out).
 */
let store: Store;
let clock: FakeClock;
let hooks: HookRegistry;
let workspaceId: string;

beforeEach(async () => {
  store = createMemoryStore();
  clock = new FakeClock('2026-03-01T09:00:00.000Z');
  workspaceId = (await createEngine({ store, clock }).createWorkspace({ name: 'Acme' })).id;
  hooks = createHookRegistry({ store, clock, ids: ulidGenerator() });
});

afterEach(() => store.close());

const TARGET = 'https://hooks.example.com/zap';

async function subscribe(input: HookInput): Promise<{ id: string; alreadySubscribed: boolean; targetUrl: string; filter: Record<string, string> | null }> {
  return hooks.create(workspaceId, input);
}

describe('subscribing again with another spelling of the same subscription', () => {
  it('answers the live hook for a tag written in another letter case, with spaces or in another Unicode form', async () => {
    const first = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIP' } });
    expect(first.alreadySubscribed).toBe(false);
    for (const tag of ['vip', '  Vip ', 'v\u0049p']) {
      await expect(subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag } })).resolves.toMatchObject({ id: first.id, alreadySubscribed: true });
    }
    // "é" precomposed and as "e" + combining acute are one tag (NFC).
    const accented = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'Caf\u00e9' } });
    await expect(subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'cafe\u0301' } })).resolves.toMatchObject({ id: accented.id, alreadySubscribed: true });
    expect((await hooks.list(workspaceId)).map((hook) => hook.id).sort()).toEqual([first.id, accented.id].sort());
  });

  it('keeps the first spelling of the tag for display', async () => {
    const first = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIP' } });
    const again = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'vip' } });
    expect(again.filter).toEqual({ tag: 'VIP' });
    expect(await hooks.get(workspaceId, first.id)).toMatchObject({ filter: { tag: 'VIP' } });
  });

  it('answers the live hook for a target URL whose scheme or host differ in letter case, or that names the default port', async () => {
    const first = await subscribe({ targetUrl: TARGET, event: 'consent.withdrawn' });
    for (const spelling of ['HTTPS://HOOKS.EXAMPLE.COM/zap', 'https://Hooks.Example.com:443/zap']) {
      await expect(subscribe({ targetUrl: spelling, event: 'consent.withdrawn' })).resolves.toMatchObject({ id: first.id, alreadySubscribed: true });
    }
    const plain = await subscribe({ targetUrl: 'HTTP://Hooks.Example.com:80/zap', event: 'consent.withdrawn' });
    expect(plain).toMatchObject({ alreadySubscribed: false, targetUrl: 'http://hooks.example.com/zap' });
    await expect(subscribe({ targetUrl: 'http://hooks.example.com/zap', event: 'consent.withdrawn' })).resolves.toMatchObject({ id: plain.id, alreadySubscribed: true });
    expect(await hooks.list(workspaceId)).toHaveLength(2);
  });

  it('answers the live hook for a target URL with a fragment, which no request carries, and stores it without one', async () => {
    const first = await subscribe({ targetUrl: `${TARGET}#zap`, event: 'consent.withdrawn' });
    expect(first.targetUrl).toBe(TARGET);
    for (const spelling of [TARGET, `${TARGET}#`, `${TARGET}#other`]) {
      await expect(subscribe({ targetUrl: spelling, event: 'consent.withdrawn' })).resolves.toMatchObject({ id: first.id, alreadySubscribed: true });
    }
    expect(await hooks.list(workspaceId)).toHaveLength(1);
  });

  it('stores the target URL as the WHATWG parser serialises it', async () => {
    const hook = await subscribe({ targetUrl: 'HTTPS://Hooks.Example.COM:443/Zap?Key=V', event: 'consent.withdrawn' });
    // The path and query are the receiver's own, case-sensitive (RFC 3986 §6.2.2.1): they stay as written.
    expect(hook.targetUrl).toBe('https://hooks.example.com/Zap?Key=V');
    expect((await hooks.list(workspaceId))[0]?.targetUrl).toBe('https://hooks.example.com/Zap?Key=V');
  });

  it('still tells apart what the hook hears differently: another path, port, tag or a filter key more', async () => {
    const first = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIP' } });
    const others: HookInput[] = [
      { targetUrl: 'https://hooks.example.com/Zap', event: 'contact.tagged', filter: { tag: 'VIP' } },
      { targetUrl: 'https://hooks.example.com:8443/zap', event: 'contact.tagged', filter: { tag: 'VIP' } },
      { targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIPs' } },
      { targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIP', contactId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } },
      { targetUrl: TARGET, event: 'contact.untagged', filter: { tag: 'VIP' } },
    ];
    for (const other of others) {
      const hook = await subscribe(other);
      expect(hook.alreadySubscribed, JSON.stringify(other)).toBe(false);
      expect(hook.id).not.toBe(first.id);
    }
  });

  it('reads ids in any letter case, instants as the moment they name and numbers by their value', async () => {
    const byContact = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { contactId: '01arz3ndektsv4rrffq69g5fav' } });
    await expect(subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { contactId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' } })).resolves.toMatchObject({ id: byContact.id, alreadySubscribed: true });
    const attempts = await subscribe({ targetUrl: TARGET, event: 'consent.failed', filter: { attempts: '3' } });
    await expect(subscribe({ targetUrl: TARGET, event: 'consent.failed', filter: { attempts: '3.0' } })).resolves.toMatchObject({ id: attempts.id, alreadySubscribed: true });
    const at = await subscribe({ targetUrl: TARGET, event: '*', filter: { occurredAt: '2026-03-01T10:00:00Z' } });
    await expect(subscribe({ targetUrl: TARGET, event: '*', filter: { occurredAt: '2026-03-01T11:00:00.000+01:00' } })).resolves.toMatchObject({ id: at.id, alreadySubscribed: true });
  });

  it('matches a hook stored before subscriptions were compared this way, and leaves it as it was stored', async () => {
    const stored: HookRow = {
      id: '01JNM0000000000000000000AA',
      workspaceId,
      apiKeyId: null,
      targetUrl: 'HTTPS://HOOKS.EXAMPLE.COM:443/zap',
      event: 'contact.tagged',
      filter: { tag: ' Vip' },
      secret: 'whsec_stored_before',
      subscriptionId: null,
      createdAt: '2026-02-01T09:00:00.000Z',
      deletedAt: null,
      deletedReason: null,
    };
    await store.transaction((tx) => tx.insertHook(stored));
    const again = await subscribe({ targetUrl: TARGET, event: 'contact.tagged', filter: { tag: 'VIP' } });
    expect(again).toMatchObject({ id: stored.id, alreadySubscribed: true, targetUrl: stored.targetUrl, filter: stored.filter, secret: stored.secret });
    expect(await hooks.list(workspaceId)).toHaveLength(1);
  });
});

describe('create names every bad field of a hook at once', () => {
  it('names a filter value the schema refuses, an unknown purpose and a target host hooks may not reach together', async () => {
    const refusal = await hooks.create(workspaceId, { targetUrl: 'http://127.0.0.1/zap', event: 'consent.withdrawn', filter: { channel: 'whatsap', purpose: 'nope' } }).catch((error: unknown) => error);
    expect(isConsentryError(refusal) && refusal.code).toBe('VALIDATION_FAILED');
    expect(isConsentryError(refusal) && refusal.issues.map((issue) => issue.path).sort()).toEqual(['filter.channel', 'filter.purpose', 'targetUrl']);
    expect(await hooks.list(workspaceId)).toEqual([]);
  });

  it('names an unknown purpose and a refused target host of a body the schema accepts', async () => {
    const refusal = await hooks.create(workspaceId, { targetUrl: 'http://127.0.0.1/zap', event: 'consent.withdrawn', filter: { purpose: 'nope' } }).catch((error: unknown) => error);
    expect(isConsentryError(refusal) && refusal.issues.map((issue) => issue.path).sort()).toEqual(['filter.purpose', 'targetUrl']);
  });

  it('names a purpose once when the schema already refuses it', async () => {
    const refusal = await hooks.create(workspaceId, { targetUrl: TARGET, event: 'contact.tagged', filter: { purpose: 'nope' } }).catch((error: unknown) => error);
    expect(isConsentryError(refusal) && refusal.issues.map((issue) => issue.path)).toEqual(['filter.purpose']);
    expect(isConsentryError(refusal) && refusal.issues[0]?.message).toMatch(/is not a field of the data of contact\.tagged events/);
  });
});
