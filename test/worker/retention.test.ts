import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type WorkspaceEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import { RETENTION_MARK_KEY, type Store } from '../../src/ports/store.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { createSqliteStore } from '../../src/store/sqlite.js';
import { HOOKS_CURSOR_KEY } from '../../src/worker/hook-dispatcher.js';
import { createHookRegistry } from '../../src/worker/hooks.js';
import { ulidGenerator } from '../../src/ports/ids.js';
import { DEFAULT_RETENTION_INTERVAL_MS, RetentionPruner } from '../../src/worker/retention.js';
import { defaultWorkers } from '../../src/worker/index.js';
import { SLACK_CURSOR_KEY } from '../../connectors/slack/alert-store.js';
import { HUBSPOT_CURSOR_KEY } from '../../connectors/hubspot/fan-out.js';
import { inbound, START } from './fixtures.js';
import { ManualTimers, settleTurns } from './manual-timers.js';
import { recordingLogger } from './recording-logger.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAY = 86_400_000;
const MINUTE = 60_000;

let engine: Engine;
let pruner: RetentionPruner | undefined;
const cleanups: (() => void)[] = [];

afterEach(async () => {
  await pruner?.stop();
  pruner = undefined;
  await engine.store.close();
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface Seeded {
  clock: FakeClock;
  store: Store;
  ws: WorkspaceEngine;
  contactId: string;
  eventCount: number;
}

/**
 * A contact asked for consent (the privacy question, which times out: a finished run), then
 * sending STOP: two stored answers, a run, consent records and their events. The hook dispatcher
 * has read every event unless `cursor` says otherwise.
 */
async function seeded(options: { store?: Store; cursor?: 'all' | 'none' } = {}): Promise<Seeded> {
  const clock = new FakeClock(START);
  const store = options.store ?? createMemoryStore();
  engine = createEngine({ store, clock });
  const workspace = await engine.createWorkspace({ name: 'Acme', settings: { privacyPolicyUrl: 'https://example.com/privacy' } });
  const ws = engine.workspace(workspace.id);
  const { contactId } = await ws.handleInbound(inbound('m1', 'hello'));
  clock.advance(6 * MINUTE);
  await engine.runDueTimers(clock.now());
  await ws.handleInbound(inbound('m2', 'STOP'));
  const events = await store.read((tx) => tx.listEventsAfter(0, 1000));
  if ((options.cursor ?? 'all') === 'all') await store.transaction((tx) => tx.setMeta(HOOKS_CURSOR_KEY, events.at(-1)?.position ?? 0));
  return { clock, store, ws, contactId, eventCount: events.length };
}

function prunerFor(world: Seeded, options: Partial<ConstructorParameters<typeof RetentionPruner>[0]> = {}): RetentionPruner {
  pruner = new RetentionPruner({ store: world.store, clock: world.clock, cursorKeys: [HOOKS_CURSOR_KEY], ...options });
  return pruner;
}

const answerOf = (world: Seeded, messageId: string) => world.store.read((tx) => tx.getProcessedMessage(world.ws.workspaceId, 'whatsapp', messageId));
const runsOf = (world: Seeded) => world.store.read((tx) => tx.listRunsOfContact(world.ws.workspaceId, world.contactId));

describe('RetentionPruner', () => {
  it('keeps everything younger than the retention, and deletes nothing on a pass that finds nothing', async () => {
    const world = await seeded();
    // The first message was processed exactly 30 days before: not older than the retention yet.
    world.clock.advance(30 * DAY - 6 * MINUTE);
    expect(await prunerFor(world).runOnce()).toEqual({ processedMessages: 0, events: 0, deliveries: 0, runs: 0, more: false });
    expect(await answerOf(world, 'm1')).toBeDefined();
    expect(await runsOf(world)).toHaveLength(1);
    expect(await world.store.read((tx) => tx.getMeta(RETENTION_MARK_KEY))).toBeUndefined();
  });

  it('deletes the stored answers, the events but the newest and the finished runs older than 30 days, and keeps the ledger and the contact', async () => {
    const world = await seeded();
    const history = await world.ws.getHistory(world.contactId);
    world.clock.advance(30 * DAY + 1);
    const pass = await prunerFor(world).runOnce();
    expect(pass).toEqual({ processedMessages: 2, events: world.eventCount - 1, deliveries: 0, runs: 1, more: false });
    expect(await answerOf(world, 'm1')).toBeUndefined();
    expect(await answerOf(world, 'm2')).toBeUndefined();
    expect(await runsOf(world)).toEqual([]);
    expect(await world.store.read((tx) => tx.listEventsAfter(0, 1000))).toHaveLength(1);
    expect(await world.ws.getHistory(world.contactId)).toEqual(history);
    expect((await world.ws.verifyLedger()).ok).toBe(true);
    expect((await world.ws.getContact(world.contactId)).id).toBe(world.contactId);
    expect(await world.ws.getConsents(world.contactId)).not.toEqual([]);
    const before = new Date(Date.parse(START) + 6 * MINUTE + 1).toISOString();
    expect(await world.store.read((tx) => tx.getMeta(RETENTION_MARK_KEY))).toBe(before);
  });

  it('reads the retention in days, and refuses fewer than 7 days, more than 3650 and fractions', async () => {
    const world = await seeded();
    world.clock.advance(8 * DAY);
    expect((await prunerFor(world, { retentionDays: 7 }).runOnce()).processedMessages).toBe(2);
    for (const retentionDays of [6, 3651, 7.5, Number.NaN]) {
      expect(() => new RetentionPruner({ store: world.store, clock: world.clock, cursorKeys: [], retentionDays })).toThrow(
        `retentionDays must be a whole number of days from 7 to 3650, got ${String(retentionDays)}`,
      );
    }
  });

  it('keeps the events an outbox reader has not read, however old, and deletes the rest', async () => {
    const world = await seeded({ cursor: 'none' });
    world.clock.advance(31 * DAY);
    const pass = await prunerFor(world).runOnce();
    expect(pass).toMatchObject({ processedMessages: 2, events: 0, runs: 1 });
    expect(await world.store.read((tx) => tx.listEventsAfter(0, 1000))).toHaveLength(world.eventCount);

    await world.store.transaction((tx) => tx.setMeta(HOOKS_CURSOR_KEY, 2));
    expect(await prunerFor(world, { cursorKeys: [HOOKS_CURSOR_KEY, 'outbox.other.position'] }).runOnce()).toMatchObject({ events: 0 });
    await world.store.transaction((tx) => tx.setMeta('outbox.other.position', 'not a position'));
    expect(await prunerFor(world, { cursorKeys: [HOOKS_CURSOR_KEY, 'outbox.other.position'] }).runOnce()).toMatchObject({ events: 0 });
    expect(await prunerFor(world).runOnce()).toMatchObject({ events: 2 });
  });

  it('works through a long backlog in transactions of the batch size, and says when a pass left some', async () => {
    const world = await seeded();
    for (let n = 0; n < 45; n += 1) await world.ws.handleInbound(inbound(`bulk-${n}`, 'STOP'));
    world.clock.advance(31 * DAY);
    const transactions: number[] = [];
    const counting: Store = {
      ...world.store,
      transaction: (fn) => {
        transactions.push(transactions.length);
        return world.store.transaction(fn);
      },
    };
    pruner = new RetentionPruner({ store: counting, clock: world.clock, cursorKeys: [HOOKS_CURSOR_KEY], batchSize: 2 });
    const first = await pruner.runOnce();
    expect(first).toMatchObject({ processedMessages: 40, more: true });
    expect(transactions).toHaveLength(20);
    const second = await pruner.runOnce();
    expect(second).toMatchObject({ processedMessages: 7, more: false });
    expect(await world.store.read((tx) => tx.listProcessedMessagesOfContact(world.ws.workspaceId, world.contactId))).toEqual([]);
  });

  it('logs what a pass deleted and counts it in consentry_retention_deleted_total', async () => {
    const world = await seeded();
    world.clock.advance(31 * DAY);
    const logger = recordingLogger();
    const registry = new Registry();
    await prunerFor(world, { logger, metricsRegistry: registry }).runOnce();
    expect(logger.lines).toEqual([
      expect.objectContaining({ level: 'info', message: 'retention deleted expired rows', details: expect.objectContaining({ processedMessages: 2, runs: 1, more: false }) }),
    ]);
    const text = await registry.metrics();
    expect(text).toContain('consentry_retention_deleted_total{kind="stored_answers"} 2');
    expect(text).toContain('consentry_retention_deleted_total{kind="workflow_runs"} 1');
    expect(text).toContain(`consentry_retention_deleted_total{kind="events"} ${world.eventCount - 1}`);
    // A second pruner on the same registry shares the counter instead of failing to register it.
    expect(() => prunerFor(world, { metricsRegistry: registry })).not.toThrow();
  });

  it('a message delivered again after its stored answer expired is processed as a new one', async () => {
    const world = await seeded();
    world.clock.advance(31 * DAY);
    await prunerFor(world).runOnce();
    const again = await world.ws.handleInbound(inbound('m2', 'STOP'));
    expect(again.contactId).toBe(world.contactId);
    expect(await answerOf(world, 'm2')).toBeDefined();
  });

  it('sleeps the interval between passes, and only a second after one that left a backlog', async () => {
    const world = await seeded();
    for (let n = 0; n < 25; n += 1) await world.ws.handleInbound(inbound(`late-${n}`, 'STOP'));
    world.clock.advance(31 * DAY);
    const timers = new ManualTimers({ settle: settleTurns });
    const logger = recordingLogger();
    pruner = prunerFor(world, { timers, logger, batchSize: 1 });
    pruner.start();
    for (let turn = 0; turn < 100 && timers.pending().length === 0; turn += 1) await settleTurns();
    expect(timers.pending()).toEqual([1000]);
    expect(logger.lines.map((line) => line.details)).toEqual([expect.objectContaining({ processedMessages: 20, more: true })]);
    await timers.advance(999);
    expect(logger.lines).toHaveLength(1);
    await timers.advance(1);
    expect(timers.pending()).toEqual([DEFAULT_RETENTION_INTERVAL_MS]);
    expect(logger.lines.map((line) => line.details)).toEqual([
      expect.objectContaining({ processedMessages: 20, more: true }),
      expect.objectContaining({ processedMessages: 7, more: false }),
    ]);
    await pruner.stop();
    expect(timers.pending()).toEqual([]);
  });

  it("runs beside the server's other workers with RETENTION_DAYS, keeping events until the hook dispatcher, Slack and HubSpot have all read them", async () => {
    const world = await seeded({ cursor: 'none' });
    const workers = defaultWorkers({ engine, store: world.store, clock: world.clock, logger: recordingLogger(), config: { RETENTION_DAYS: 7 } });
    const found = workers.find((worker): worker is RetentionPruner => worker instanceof RetentionPruner);
    expect(found).toBeDefined();
    world.clock.advance(8 * DAY);
    expect(await found?.runOnce()).toMatchObject({ processedMessages: 2, events: 0, runs: 1 });
    const last = world.eventCount;
    for (const key of [HOOKS_CURSOR_KEY, SLACK_CURSOR_KEY]) {
      await world.store.transaction((tx) => tx.setMeta(key, last));
      expect(await found?.runOnce()).toMatchObject({ events: 0 });
    }
    await world.store.transaction((tx) => tx.setMeta(HUBSPOT_CURSOR_KEY, last));
    expect(await found?.runOnce()).toMatchObject({ events: last - 1 });
  });

  it('prunes a SQLite store alike', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consentry-retention-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const world = await seeded({ store: createSqliteStore({ path: join(dir, 'c.db') }) });
    world.clock.advance(31 * DAY);
    expect(await prunerFor(world).runOnce()).toEqual({ processedMessages: 2, events: world.eventCount - 1, deliveries: 0, runs: 1, more: false });
  });
});

describe('page cursors of deleted rows', () => {
  it('reads a cursor of an event retention deleted as the end of the list, and still refuses one it cannot have deleted', async () => {
    const world = await seeded();
    const [first, second] = await world.ws.listEvents({ limit: 2 });
    const oldest = (await world.ws.listEvents({ limit: 500 })).at(-1);
    expect(first && second && oldest).toBeTruthy();
    await expect(world.ws.listEvents({ beforeId: '01KAAAAAAAAAAAAAAAAAAAAAAA' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });

    world.clock.advance(31 * DAY);
    await prunerFor(world).runOnce();
    expect(await world.ws.listEvents({ beforeId: oldest?.id ?? '' })).toEqual([]);
    expect(await world.ws.listEvents({ beforeId: (second?.id ?? '').toLowerCase() })).toEqual([]);
    // The newest event is kept, and paging from it goes on as before.
    expect((await world.ws.listEvents({})).map((event) => event.id)).toEqual([first?.id]);
    expect(await world.ws.listEvents({ beforeId: first?.id ?? '' })).toEqual([]);
    // Stamped after the time retention deleted before: never one it deleted.
    const later = ulidGenerator().next(world.clock.now());
    await expect(world.ws.listEvents({ beforeId: later })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(world.ws.listEvents({ beforeId: 'evt_not_an_id' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('reads the events after an event retention deleted from the oldest one kept', async () => {
    const world = await seeded();
    const [first] = await world.ws.listEvents({ limit: 1 });
    const oldest = (await world.ws.listEvents({ limit: 500 })).at(-1);
    world.clock.advance(31 * DAY);
    await prunerFor(world).runOnce();
    // A poller that last handled an event since deleted gets what is kept after it: the newest.
    expect((await world.ws.listEvents({ afterId: oldest?.id ?? '' })).map((event) => event.id)).toEqual([first?.id]);
    expect(await world.ws.listEvents({ afterId: first?.id ?? '' })).toEqual([]);
    const later = ulidGenerator().next(world.clock.now());
    await expect(world.ws.listEvents({ afterId: later })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it("reads a cursor of a delivery retention deleted as the end of a hook's deliveries", async () => {
    const world = await seeded({ cursor: 'none' });
    const hooks = createHookRegistry({ store: world.store, clock: world.clock, ids: ulidGenerator(), allowPrivateTargets: true });
    const hook = await hooks.create(world.ws.workspaceId, { targetUrl: 'https://hooks.example.com/consent', event: '*' });
    const ids = ulidGenerator();
    const events = await world.store.read((tx) => tx.listEventsAfter(0, 1000));
    await world.store.transaction(async (tx) => {
      for (const event of events) {
        await tx.insertDelivery({
          id: ids.next(world.clock.now()),
          workspaceId: world.ws.workspaceId,
          hookId: hook.id,
          eventId: event.id,
          eventPosition: event.position,
          contactId: event.contactId,
          status: 'delivered',
          attempts: 1,
          nextAttemptAt: world.clock.now().toISOString(),
          lastError: null,
          lastStatusCode: 200,
          deliveredAt: world.clock.now().toISOString(),
          updatedAt: world.clock.now().toISOString(),
          resentAt: null,
        });
      }
      await tx.setMeta(HOOKS_CURSOR_KEY, events.at(-1)?.position ?? 0);
    });
    const page = await hooks.deliveries(world.ws.workspaceId, hook.id, { limit: 2 });
    expect(page.nextCursor).not.toBeNull();
    await expect(hooks.deliveries(world.ws.workspaceId, hook.id, { cursor: ids.next(world.clock.now()) })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });

    world.clock.advance(31 * DAY);
    expect(await prunerFor(world).runOnce()).toMatchObject({ events: events.length - 1, deliveries: events.length - 1 });
    expect(await hooks.deliveries(world.ws.workspaceId, hook.id, { cursor: page.nextCursor ?? '' })).toEqual({ data: [], nextCursor: null });
    expect((await hooks.deliveries(world.ws.workspaceId, hook.id, {})).data).toHaveLength(1);
  });
});
