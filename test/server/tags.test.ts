import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isConsentryError } from '../../src/core/errors.js';
import type { Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { ANA, BEN, expectProblem, problemPaths, testApp, type Tenant, type TestApp } from './helpers.js';

const dirs: string[] = [];
const apps: TestApp[] = [];
const stores: Store[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

const STORES: [string, () => Store][] = [
  ['memory', () => createMemoryStore()],
  [
    'sqlite',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-tags-'));
      dirs.push(dir);
      return createSqliteStore({ path: path.join(dir, 'consentry.db') });
    },
  ],
];

async function open(makeStore: () => Store = () => createMemoryStore()): Promise<{ t: TestApp; acme: Tenant }> {
  const store = makeStore();
  stores.push(store);
  const t = await testApp({ store });
  apps.push(t);
  return { t, acme: await t.tenant('Acme') };
}

async function createContact(t: TestApp, tenant: Tenant, payload: Record<string, unknown>): Promise<string> {
  const res = await t.as(tenant, { method: 'POST', url: '/v1/contacts', payload });
  expect(res.statusCode, res.body).toBe(201);
  return String(res.json().id);
}

describe.each(STORES)('GET /v1/contacts?tag= (%s store)', (_name, makeStore) => {
  it('matches tags as adding and removing them compare them: letter case, spaces and Unicode forms aside', async () => {
    const { t, acme } = await open(makeStore);
    const upper = await createContact(t, acme, { ...ANA, tags: ['GRP/1', 'Élite'] });
    const lower = await createContact(t, acme, { ...BEN, tags: ['grp/1'] });
    await createContact(t, acme, { name: 'Cai Test', tags: ['grp/10'] });
    const ids = async (tag: string): Promise<string[]> => {
      const res = await t.as(acme, { method: 'GET', url: `/v1/contacts?tag=${encodeURIComponent(tag)}` });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().data.map((contact: { id: string }) => contact.id);
    };
    const both = [upper, lower].sort();
    expect(await ids('grp/1')).toEqual(both);
    expect(await ids('GRP/1')).toEqual(both);
    expect(await ids('Grp/1')).toEqual(both);
    expect(await ids('élite')).toEqual([upper]);
    expect(await ids('E\u0301LITE')).toEqual([upper]);
    expect(await ids('grp/')).toEqual([]);

    // GET /v1/tags, what Zapier's tag dropdown reads, lists the tag once, in its first spelling in sort order.
    expect((await t.as(acme, { method: 'GET', url: '/v1/tags' })).json()).toEqual({ data: ['GRP/1', 'grp/10', 'Élite'] });

    const firstPage = await t.as(acme, { method: 'GET', url: '/v1/contacts?tag=GRP%2F1&limit=1' });
    expect(firstPage.json().data.map((contact: { id: string }) => contact.id)).toEqual([both[0]]);
    const secondPage = await t.as(acme, { method: 'GET', url: `/v1/contacts?tag=GRP%2F1&limit=1&cursor=${String(firstPage.json().nextCursor)}` });
    expect(secondPage.json().data.map((contact: { id: string }) => contact.id)).toEqual([both[1]]);
    expect(secondPage.json().nextCursor).toBeNull();

    // Adding "grp/1" to the contact tagged "GRP/1" changes nothing; removing "GRP/1" from the other removes its "grp/1".
    const again = await t.as(acme, { method: 'POST', url: `/v1/contacts/${upper}/tags`, payload: { tag: 'grp/1' } });
    expect(again.json().tags).toEqual(['GRP/1', 'Élite']);
    await t.as(acme, { method: 'DELETE', url: `/v1/contacts/${lower}/tags/GRP%2F1` });
    expect(await ids('gRp/1')).toEqual([upper]);
  });
});

describe('tags with control or bidirectional formatting characters', () => {
  it.each([
    ['a\u0000b', 'U+0000'],
    ['line\nbreak', 'U+000A'],
    ['tab\there', 'U+0009'],
    ['del\u007f', 'U+007F'],
    ['next\u0085line', 'U+0085'],
    ['\u202eevil', 'U+202E'],
    ['isolate\u2066d', 'U+2066'],
    ['mark\u200fed', 'U+200F'],
    ['arabic\u061cmark', 'U+061C'],
  ])('POST .../tags %j is 422 naming tag and %s, and stores nothing', async (tag, codePoint) => {
    const { t, acme } = await open();
    const id = await createContact(t, acme, ANA);
    const res = await t.as(acme, { method: 'POST', url: `/v1/contacts/${id}/tags`, payload: { tag } });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['tag']);
    expect(String(problem.detail)).toContain(codePoint);
    expect((await t.as(acme, { method: 'GET', url: `/v1/contacts/${id}` })).json().tags).toEqual([]);
    expect((await t.as(acme, { method: 'GET', url: '/v1/tags' })).json()).toEqual({ data: [] });
  });

  it('POST /v1/contacts names each such tag by its place, with the body\'s other problems, and creates nothing', async () => {
    const { t, acme } = await open();
    const res = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', email: 'not-an-email', tags: ['vip', 'a\u0000b', '\u202eevil'] } });
    const problem = expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(problemPaths(res)).toEqual(['email', 'tags.1', 'tags.2']);
    expect(String(problem.detail)).toMatch(/tags\.1: tag contains U\+0000, a control character.*tags\.2: tag contains U\+202E, a bidirectional formatting character/);
    const alone = await t.as(acme, { method: 'POST', url: '/v1/contacts', payload: { name: 'Ana Test', tags: ['line\nbreak'] } });
    expectProblem(alone, 422, 'VALIDATION_FAILED');
    expect(problemPaths(alone)).toEqual(['tags.0']);
    expect((await t.as(acme, { method: 'GET', url: '/v1/contacts' })).json().data).toEqual([]);
  });

  it('are refused by the engine for every other caller too, while whitespace around a tag is trimmed', async () => {
    const { t, acme } = await open();
    const workspace = t.engine.workspace(acme.workspaceId);
    const contact = await workspace.createContact({ name: 'Ana Test' });
    const refused = await workspace.addTag(contact.id, 'a\u0000b').then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isConsentryError(refused) && refused.issues).toEqual([{ path: 'tag', message: 'tag contains U+0000, a control character' }]);
    await expect(workspace.createContact({ name: 'Ben Test', tags: ['\u2067rtl'] })).rejects.toThrow(/U\+2067, a bidirectional formatting character/);
    expect((await workspace.addTag(contact.id, '\tvip\n')).tags).toEqual(['vip']);
  });
});
