import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.js';
import { FakeClock } from '../../src/ports/clock.js';
import type { Store } from '../../src/ports/store.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { DEFAULT_TIMER_GRACE_MS, TimerScheduler } from '../../src/worker/timer-scheduler.js';
import { START } from './fixtures.js';

const FIVE_MINUTES = 5 * 60 * 1000;
const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * The store, with a request's transaction started right after the `nth` transaction from now:
 * group commit runs it in that transaction's group. Its write makes SQLite end the whole database
 * transaction, as SQLITE_IOERR, SQLITE_NOMEM or an interrupt do
 * (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction").
 */
function withRequestJoining(sqlite: SqliteStore): { store: Store; joinAfter(nth: number): Promise<unknown> } {
  sqlite.db.exec("CREATE TRIGGER end_transaction BEFORE INSERT ON meta WHEN NEW.key = 'ends.the.transaction' BEGIN SELECT RAISE(ROLLBACK, 'the transaction was ended'); END");
  let calls = 0;
  let join: { at: number; settle: (error: unknown) => void } | null = null;
  const store: Store = {
    transaction: (fn) => {
      calls += 1;
      const own = sqlite.transaction(fn);
      if (join !== null && calls === join.at) {
        const { settle } = join;
        sqlite.transaction((tx) => tx.setMeta('ends.the.transaction', 1)).then(() => settle(null), settle);
      }
      return own;
    },
    read: (fn) => sqlite.read(fn),
    probe: () => sqlite.probe(),
    close: async () => undefined,
  };
  return {
    store,
    joinAfter: (nth) =>
      new Promise<unknown>((settle) => {
        join = { at: calls + nth, settle };
      }),
  };
}

describe('TimerScheduler on a store whose commit group the database rolled back for another transaction', () => {
  it('keeps the run and its timer (retry: true), and fires it on the next pass', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consentry-timer-rollback-'));
    dirs.push(dir);
    // The group commit clock stands still: a transaction asked for while another runs always joins
    // its group, however slow the machine (no group grows too old to admit it).
    const sqlite = createSqliteStore({ path: path.join(dir, 'consentry.db'), groupCommitClock: () => 0 });
    stores.push(sqlite);
    const { store, joinAfter } = withRequestJoining(sqlite);
    const clock = new FakeClock(START);
    const engine = createEngine({ store, clock });
    const workspace = await engine.createWorkspace({
      name: 'Acme',
      settings: { privacyPolicyUrl: 'https://example.com/privacy', defaultCountry: 'ES', triggers: [{ trigger: 'conversation_opened', template: 'request-consent-privacy' }] },
    });
    const ws = engine.workspace(workspace.id);
    const opened = await ws.handleInbound({ channel: 'whatsapp', messageId: 'm1', from: { id: '+34600000001', name: 'Ana Test' }, text: 'hola' });
    const [run] = await sqlite.read((tx) => tx.listActiveRuns(workspace.id, opened.contactId));
    if (!run) throw new Error('the conversation started no run');
    const conversationId = opened.conversationId;
    if (conversationId === null) throw new Error('the message opened no conversation');
    const scheduler = new TimerScheduler({ engine, clock });

    clock.advance(FIVE_MINUTES + DEFAULT_TIMER_GRACE_MS);
    // The due timers are read in the next transaction; the firing's is the one after it.
    const joined = joinAfter(2);
    const firings = await scheduler.runOnce();
    expect(await joined).toMatchObject({ code: 'SQLITE_CONSTRAINT_TRIGGER' });
    expect(firings).toEqual([
      { workspaceId: workspace.id, runId: run.id, contactId: '', replies: [], events: [], error: 'the database rolled the transaction back: the transaction was ended', retry: true },
    ]);
    expect((await ws.getRun(run.id)).status).toBe('active');
    expect((await sqlite.read((tx) => tx.getConversation(workspace.id, conversationId)))?.status).toBe('open');
    expect(await ws.listEvents({ types: ['conversation.closed', 'consent.failed'] })).toEqual([]);

    // The timer stayed: the next pass fires it as if nothing had happened.
    const next = await scheduler.runOnce();
    expect(next.map((firing) => ({ runId: firing.runId, error: firing.error, retry: firing.retry }))).toEqual([{ runId: run.id, error: null, retry: false }]);
    expect(next[0]?.events.find((event) => event.type === 'consent.failed')?.data).toMatchObject({ reason: 'timeout', purpose: 'privacy' });
  });
});
