import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BEFORE_FIRST_EVENT } from '../../src/core/paging.js';
import { PUBLIC_EVENT_TYPES } from '../../src/core/events.js';
import { expectProblem, parsed, useTestApp, type Tenant, type TestApp } from './helpers.js';

let t: TestApp;
let acme: Tenant;
let globex: Tenant;

useTestApp(
  (app, first, second) => {
    t = app;
    acme = first;
    if (second) globex = second;
  },
  ['Acme', 'Globex'],
);

const PageSchema = z.object({ data: z.array(z.object({ id: z.string(), type: z.string() })), nextCursor: z.string().nullable() }).strict();

async function page(query: string, tenant: Tenant = acme): Promise<z.output<typeof PageSchema>> {
  const res = await t.as(tenant, { method: 'GET', url: `/v1/events?${query}` });
  expect(res.statusCode, res.body).toBe(200);
  return parsed(res, PageSchema);
}

/** Three senders write hello, then the first writes STOP: conversation.opened ×3, consent.withdrawn, and what else they raise. */
async function someEvents(): Promise<string[]> {
  for (let i = 0; i < 3; i++) {
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: `sms-${i}`, from: { id: `+3460000000${i + 1}` }, text: 'hello' } });
    t.clock.advance(1000);
  }
  await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-stop', from: { id: '+34600000001' }, text: 'STOP' } });
  return (await page('limit=200')).data.map((event) => event.id).reverse();
}

describe('GET /v1/events?after= reads oldest first', () => {
  it('starts from the oldest event with after=0, for a poller that has handled none, and the engine with BEFORE_FIRST_EVENT', async () => {
    const oldestFirst = await someEvents();
    const read: string[] = [];
    let after: string | null = '0';
    while (after !== null) {
      const answer = await page(`limit=3&after=${after}`);
      read.push(...answer.data.map((event) => event.id));
      after = answer.nextCursor;
    }
    expect(read).toEqual(oldestFirst);
    // Another workspace's events are not among them.
    expect(await page('after=0', globex)).toEqual({ data: [], nextCursor: null });
    const fromEngine = await t.engine.workspace(acme.workspaceId).listEvents({ afterId: BEFORE_FIRST_EVENT, types: PUBLIC_EVENT_TYPES, limit: 500 });
    expect(fromEngine.map((event) => event.id)).toEqual(oldestFirst);
  });

  it('answers the events after an id, oldest first, in pages that join up with no gap and no repeat', async () => {
    const oldestFirst = await someEvents();
    expect(oldestFirst.length).toBeGreaterThan(4);
    const [first, ...rest] = oldestFirst;
    if (first === undefined) throw new Error('no event');

    const read: string[] = [];
    let after: string | null = first;
    while (after !== null) {
      const answer = await page(`limit=2&after=${after}`);
      expect(answer.data.length).toBeLessThanOrEqual(2);
      read.push(...answer.data.map((event) => event.id));
      after = answer.nextCursor;
      if (after !== null) expect(after).toBe(answer.data.at(-1)?.id);
    }
    expect(read).toEqual(rest);
    // A poller that handled the newest event finds nothing new, and the next event is the one it then gets.
    expect(await page(`after=${oldestFirst.at(-1)}`)).toEqual({ data: [], nextCursor: null });
    await t.as(acme, { method: 'POST', url: '/v1/messages', payload: { channel: 'sms', messageId: 'sms-start', from: { id: '+34600000001' }, text: 'START' } });
    const next = await page(`after=${oldestFirst.at(-1)}`);
    expect(next.data.map((event) => event.type)).toContain('consent.given');
    expect(next.data.map((event) => event.id)).toEqual([...next.data.map((event) => event.id)].sort());
  });

  it('keeps the type filter, reads the id in any letter case, and takes an id of a type the filter leaves out', async () => {
    const oldestFirst = await someEvents();
    const first = oldestFirst[0] ?? '';
    const opened = await page(`type=conversation.opened,consent.withdrawn&after=${first.toLowerCase()}`);
    expect(opened.data.map((event) => event.type)).toEqual(['conversation.opened', 'conversation.opened', 'consent.withdrawn']);
    expect(opened.nextCursor).toBeNull();
    // The first event is a conversation.opened: read after it, only the withdrawal is of the type asked for.
    expect((await page('limit=200')).data.at(-1)?.type).toBe('conversation.opened');
    const withdrawn = await page(`type=consent.withdrawn&after=${first}`);
    expect(withdrawn.data.map((event) => event.type)).toEqual(['consent.withdrawn']);
  });

  it('refuses an id the workspace never had, another workspace\'s event, and after beside cursor, naming after', async () => {
    const oldestFirst = await someEvents();
    const first = oldestFirst[0] ?? '';
    for (const after of ['7ZZZZZZZZZZZZZZZZZZZZZZZZZ', 'garbage']) {
      const bad = await t.as(acme, { method: 'GET', url: `/v1/events?after=${after}` });
      expectProblem(bad, 422, 'VALIDATION_FAILED');
      expect(bad.json().errors).toEqual([{ path: 'after', message: `no event ${after} in this workspace: pass the id of an event this workspace sent (a page, or a hook delivery)` }]);
    }
    const foreign = await t.as(globex, { method: 'GET', url: `/v1/events?after=${first}` });
    expectProblem(foreign, 422, 'VALIDATION_FAILED');
    expect(foreign.json().errors).toEqual([{ path: 'after', message: expect.stringContaining(`no event ${first} in this workspace`) }]);

    const both = await t.as(acme, { method: 'GET', url: `/v1/events?after=${first}&cursor=${first}` });
    expectProblem(both, 422, 'VALIDATION_FAILED');
    expect(both.json().errors).toEqual([{ path: 'after', message: 'give cursor (newest first) or after (oldest first), not both' }]);
  });
});
