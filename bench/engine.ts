import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { classifyKeyword, findPlainLanguageOptOut } from '../src/core/keywords.js';
import { createEngine, type WorkspaceEngine } from '../src/engine.js';
import { FakeClock } from '../src/ports/clock.js';
import type { WorkflowRunRow } from '../src/ports/store.js';
import { createSqliteStore, type SqliteStore } from '../src/store/sqlite.js';
import { envNumber, fmt, median } from './stats.js';

/**
 * Engine throughput against the embedded store, each message its own transaction, beside a
 * bare SQLite transaction of three inserts measured in the same run on the same disk.
 *
 * Environment: BENCH_ROUNDS (30), BENCH_MESSAGES per block (500), BENCH_DUE_TIMERS (100),
 * BENCH_FEW_PENDING (1,000) and BENCH_MANY_PENDING (100,000) timers; BENCH_WRITER_CHECKPOINTS=on
 * adds, to every round, both kinds of message on stores that checkpoint on the writer's own
 * connection, and prints how much the background checkpoints gain.
 */

interface Setup {
  dir: string;
  path: string;
}

function tempDatabase(label: string): Setup {
  const dir = mkdtempSync(join(tmpdir(), `consentry-bench-${label}-`));
  return { dir, path: join(dir, 'bench.db') };
}

/** Something measured in blocks: each call runs `count` more units and answers its duration in ms. */
interface Subject {
  block(count: number): Promise<number>;
  /**
   * Untimed, after each block: lets work the block left running in the background finish, so it
   * lands in no other subject's block. On a busy store that work never stops; it only ever
   * overlaps the store's own later messages.
   */
  settle(): Promise<void>;
  close(): Promise<void>;
  /** The database file, whose -wal file grows by one frame (a page and its 24-byte header) per page a COMMIT writes. */
  path: string;
}

/**
 * A bare SQLite transaction of three inserts, on SQLite's own defaults for a WAL database;
 * `checkpoints: false` turns its automatic checkpoints off, so the WAL keeps every frame.
 */
function bareSubject(checkpoints = true): Subject {
  const { dir, path } = tempDatabase('bare');
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  if (!checkpoints) db.pragma('wal_autocheckpoint = 0');
  db.exec(`
    CREATE TABLE a (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);
    CREATE TABLE b (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);
    CREATE TABLE c (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);`);
  const insertA = db.prepare('INSERT INTO a (k, v) VALUES (?, ?)');
  const insertB = db.prepare('INSERT INTO b (k, v) VALUES (?, ?)');
  const insertC = db.prepare('INSERT INTO c (k, v) VALUES (?, ?)');
  const write = db.transaction((i: number) => {
    insertA.run(`a${i}`, 'x'.repeat(64));
    insertB.run(`b${i}`, 'y'.repeat(64));
    insertC.run(`c${i}`, 'z'.repeat(64));
  });
  let next = 0;
  return {
    block: async (count) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) write(next++);
      return performance.now() - started;
    },
    // SQLite's own checkpoints run inside the bare transactions' COMMITs and are timed with them.
    settle: async () => {},
    close: async () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
    path,
  };
}

const CONTACTS = 500;

/**
 * `checkpoints`: 'background' (the default store), 'writer' (checkpoints on the writer's own
 * connection), or 'none', where the WAL keeps every frame for walFramesPerTransaction.
 */
async function engineSubject(kind: 'keyword' | 'workflow', checkpoints: 'background' | 'writer' | 'none' = 'background'): Promise<Subject> {
  const { dir, path } = tempDatabase(kind);
  const store = createSqliteStore({
    path,
    checkpointInBackground: checkpoints === 'background',
    ...(checkpoints === 'none' ? { walAutocheckpointPages: Number.MAX_SAFE_INTEGER } : {}),
  });
  const clock = new FakeClock('2026-01-01T00:00:00.000Z');
  const engine = createEngine({ store, clock });
  const ws = await engine.createWorkspace({ name: 'bench', settings: { privacyPolicyUrl: 'https://example.com/privacy' } });
  const workspace = engine.workspace(ws.id);
  // Every contact exists before the first measured block, so blocks measure steady-state traffic.
  for (let c = 0; c < CONTACTS; c++) await send(workspace, kind, c, -1 - c);
  let next = 0;
  return {
    block: async (count) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        clock.advance(1);
        await send(workspace, kind, next % CONTACTS, next);
        next++;
      }
      return performance.now() - started;
    },
    // The background checkpointer copies what the block's COMMITs appended to the WAL.
    settle: async () => {
      await store.backgroundCheckpoint();
    },
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    path,
  };
}

const KEYWORDS = ['STOP', 'START'] as const;

/** Keyword traffic alternates STOP/START; workflow traffic answers or re-opens the consent question. */
async function send(workspace: WorkspaceEngine, kind: 'keyword' | 'workflow', contact: number, i: number): Promise<void> {
  const round = Math.floor(Math.abs(i) / CONTACTS);
  const text = kind === 'keyword' ? KEYWORDS[round % 2] : round % 2 === 0 ? 'hello' : 'not sure';
  await workspace.handleInbound({
    channel: 'whatsapp',
    messageId: `m-${kind}-${i}`,
    from: { id: `+3460000${String(1000 + contact).padStart(4, '0')}` },
    text: text ?? 'hello',
  });
}

/**
 * Pages written per COMMIT, as WAL frames appended per transaction while nothing checkpoints:
 * in WAL mode a COMMIT appends each page the transaction changed (https://www.sqlite.org/wal.html,
 * https://www.sqlite.org/fileformat.html#the_write_ahead_log), so this counts what a COMMIT
 * costs independently of the machine's speed. One warm-up block first, as in the timed rounds,
 * then FRAME_BLOCKS blocks: whole cycles of both kinds of traffic, which write more or fewer
 * pages from one block to the next (a STOP and a START; a question asked, re-asked, closed).
 */
/** Keyword traffic repeats every 2 blocks and workflow traffic every 5 (see send), so 10 spans whole cycles of both. */
const FRAME_BLOCKS = 10;

async function walFramesPerTransaction(subject: Subject, count: number): Promise<number> {
  try {
    await subject.block(count);
    const walBytes = (): number => (existsSync(`${subject.path}-wal`) ? statSync(`${subject.path}-wal`).size : 0);
    const pageSize = new BetterSqlite3(subject.path, { readonly: true });
    const frameBytes = Number(pageSize.pragma('page_size', { simple: true })) + 24;
    pageSize.close();
    const before = walBytes();
    for (let block = 0; block < FRAME_BLOCKS; block++) await subject.block(count);
    return (walBytes() - before) / frameBytes / (FRAME_BLOCKS * count);
  } finally {
    await subject.close();
  }
}

interface TimerFiringResult {
  /** Median over the waves of the time to fire one wave. */
  ms: number;
  /** Timers fired per wave (all waves fire the same number or the run fails). */
  fired: number;
  /** Other timers pending while the waves fired. */
  pending: number;
}

const TIMER_WAVES = 5;
const WAVE_SPACING_MS = 10 * 60_000;

/**
 * Time to fire `due` question time-outs while `pending` other timers wait, as the median of
 * TIMER_WAVES waves due ten minutes apart. Every pending timer belongs to a run of its own
 * contact and conversation, as in a real workspace: when they all hung off one contact's
 * conversation, the first time-out closed that conversation and cancelled every run in it, which
 * measured a mass cancellation rather than the scheduler.
 */
async function timerFiring(pending: number, due: number): Promise<TimerFiringResult> {
  const { dir, path } = tempDatabase('timers');
  const store: SqliteStore = createSqliteStore({ path });
  try {
    const start = Date.parse('2026-01-01T00:00:00.000Z');
    const clock = new FakeClock(start);
    const engine = createEngine({ store, clock });
    const ws = await engine.createWorkspace({ name: 'bench', settings: { privacyPolicyUrl: 'https://example.com/privacy', triggers: [] } });
    const workspace = engine.workspace(ws.id);
    // Each wave's runs ask the consent question, which times out 5 minutes later.
    let template: WorkflowRunRow | undefined;
    for (let wave = 0; wave < TIMER_WAVES; wave++) {
      clock.set(start + wave * WAVE_SPACING_MS);
      for (let i = 0; i < due; i++) {
        const contact = await workspace.createContact({ identities: [{ channel: 'whatsapp', externalId: `due-${wave}-${i}` }] });
        const started = await workspace.startWorkflow('request-consent-privacy', contact.id, 'whatsapp');
        template ??= await workspace.getRun(started.runId);
      }
    }
    if (!template) throw new Error('no due run was started');
    // Runs waiting on the same question with a time-out a year away, written in bulk.
    const createdAt = clock.now().toISOString();
    const later = '2027-01-01T00:00:00.000Z';
    const batch = 10_000;
    for (let offset = 0; offset < pending; offset += batch) {
      await store.transaction(async (tx) => {
        for (let i = offset; i < Math.min(pending, offset + batch); i++) {
          const n = String(i).padStart(7, '0');
          const contactId = `filler-contact-${n}`;
          await tx.insertContact({
            id: contactId,
            workspaceId: ws.id,
            name: null,
            email: null,
            phone: null,
            identities: [{ channel: 'webchat', externalId: `filler-${n}` }],
            fields: {},
            tags: [],
            hubspotId: null,
            createdAt,
            updatedAt: createdAt,
            erasedAt: null,
          });
          const conversationId = `filler-conversation-${n}`;
          await tx.insertConversation({ id: conversationId, workspaceId: ws.id, contactId, channel: 'webchat', status: 'open', openedAt: createdAt, closedAt: null });
          const runId = `filler-run-${n}`;
          await tx.insertRun({ ...template, id: runId, contactId, conversationId, channel: 'webchat' });
          await tx.setTimer({ id: `filler-timer-${n}`, workspaceId: ws.id, runId, token: 'far', dueAt: later });
        }
      });
    }
    const others = (await store.transaction((tx) => tx.countTimers())) - TIMER_WAVES * due;
    // A server builds such a backlog over days, its automatic checkpoints folding each stretch of
    // WAL back into the database file; checkpointing after the bulk insert starts the measurement
    // from that state rather than from one bulk burst still sitting in the WAL.
    store.checkpoint();
    const times: number[] = [];
    for (let wave = 0; wave < TIMER_WAVES; wave++) {
      const started = performance.now();
      const fired = await engine.runDueTimers(new Date(start + wave * WAVE_SPACING_MS + 6 * 60_000));
      times.push(performance.now() - started);
      if (fired.length !== due) throw new Error(`wave ${wave} fired ${fired.length} timers, not ${due}`);
    }
    return { ms: median(times), fired: due, pending: others };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  const rounds = envNumber('BENCH_ROUNDS', 30);
  const messages = envNumber('BENCH_MESSAGES', 500);
  const compareWriter = process.env.BENCH_WRITER_CHECKPOINTS === 'on';
  const kinds = ['keyword', 'workflow'] as const;
  const bare = bareSubject();
  const subjects = { keyword: await engineSubject('keyword'), workflow: await engineSubject('workflow') };
  const writerSubjects = compareWriter ? { keyword: await engineSubject('keyword', 'writer'), workflow: await engineSubject('workflow', 'writer') } : null;
  // Rounds of adjacent blocks on long-lived databases: a burst of load on this shared machine
  // slows the blocks of one round together, so the per-round ratios hold still where rates
  // measured apart would not. One warm-up round goes unrecorded.
  const bareRates: number[] = [];
  const rates = { keyword: [] as number[], workflow: [] as number[] };
  const ratios = { keyword: [] as number[], workflow: [] as number[] };
  const gains = { keyword: [] as number[], workflow: [] as number[] };
  const rate = async (subject: Subject, count: number): Promise<number> => {
    const ms = await subject.block(count);
    await subject.settle();
    return count / (ms / 1000);
  };
  try {
    for (let r = -1; r < rounds; r++) {
      // Three times as many bare transactions, so each block spans several of SQLite's own checkpoints.
      const bareRate = await rate(bare, 3 * messages);
      for (const kind of kinds) {
        const measured = await rate(subjects[kind], messages);
        const onWriter = writerSubjects ? await rate(writerSubjects[kind], messages) : null;
        if (r < 0) continue;
        rates[kind].push(measured);
        ratios[kind].push(measured / bareRate);
        if (onWriter !== null) gains[kind].push(measured / onWriter);
      }
      if (r >= 0) bareRates.push(bareRate);
    }
  } finally {
    await bare.close();
    for (const subject of [...Object.values(subjects), ...Object.values(writerSubjects ?? {})]) await subject.close();
  }
  console.log(`engine: ${rounds} rounds of adjacent ${messages}-message blocks on long-lived databases, medians`);
  console.log(`  bare SQLite transaction (3 inserts)  ${fmt(median(bareRates))} tx/s`);
  for (const kind of kinds) {
    const label = `${kind} messages`;
    console.log(`  ${label.padEnd(36)} ${fmt(median(rates[kind]))} msg/s   ratio ${fmt(median(ratios[kind]), 2)} (target >= 0.30; rounds ${fmt(Math.min(...ratios[kind]), 2)}–${fmt(Math.max(...ratios[kind]), 2)})`);
  }
  if (writerSubjects) {
    for (const kind of kinds) {
      console.log(`  ${kind} with background checkpoints / with checkpoints on the writer: ${fmt(median(gains[kind]), 2)}× (median of the rounds)`);
    }
  }
  const frames = {
    bare: await walFramesPerTransaction(bareSubject(false), messages),
    keyword: await walFramesPerTransaction(await engineSubject('keyword', 'none'), messages),
    workflow: await walFramesPerTransaction(await engineSubject('workflow', 'none'), messages),
  };
  console.log(
    `  pages each COMMIT writes (WAL frames, mean of ${fmt(FRAME_BLOCKS * messages)} transactions): bare ${fmt(frames.bare, 1)}, ` +
      `keyword ${fmt(frames.keyword, 1)}, workflow ${fmt(frames.workflow, 1)}`,
  );

  const due = envNumber('BENCH_DUE_TIMERS', 100);
  const few = await timerFiring(envNumber('BENCH_FEW_PENDING', 1_000), due);
  const many = await timerFiring(envNumber('BENCH_MANY_PENDING', 100_000), due);
  console.log(`timers: firing ${fmt(due)} due timers, median of ${TIMER_WAVES} waves`);
  for (const result of [few, many]) {
    const label = `with ${fmt(result.pending)} other timers pending`;
    console.log(`  ${label.padEnd(36)} ${fmt(result.ms, 1)} ms (${fmt(result.fired)} fired)`);
  }
  console.log(`  ratio ${fmt(many.ms / few.ms, 2)} (flat is ~1)`);

  craftedMessages();
}

/**
 * The keyword recogniser on 4,096-character texts (the longest POST /v1/messages takes) built
 * so that a pattern tried at every position would read the rest of a long run again each time,
 * beside an ordinary sentence, read the same way (classification and the plain-language scan).
 * A linear recogniser keeps the worst within a small multiple of the ordinary per character.
 */
function craftedMessages(): void {
  const run = (unit: string, length: number): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
  const crafted: Record<string, string> = {
    'noise run inside': `a${run('!', 4094)}a`,
    'dots, then a slash': `a${run('.', 4093)}a/`,
    'a scheme that never comes': `${run('a.', 4095)}/`,
    'a mailbox that never comes': `@${run('a-', 4095)}`,
  };
  const ordinary = 'Please stop sending me these offers, I am not interested any more. Thanks!';
  const msPerMessage = (text: string): number => {
    const times: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      const started = performance.now();
      classifyKeyword(text);
      findPlainLanguageOptOut(text);
      times.push(performance.now() - started);
    }
    return median(times);
  };
  const baseline = msPerMessage(ordinary);
  console.log(`keywords: 4,096-character crafted texts, median of 21 readings each, beside a ${ordinary.length}-character sentence (${fmt(baseline * 1000, 1)} µs)`);
  for (const [label, text] of Object.entries(crafted)) {
    const ms = msPerMessage(text);
    console.log(`  ${label.padEnd(36)} ${fmt(ms, 2)} ms   per character ${fmt(ms / text.length / (baseline / ordinary.length), 1)}× the sentence's`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
