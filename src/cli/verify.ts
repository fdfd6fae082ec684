import type { Workspace } from '../core/settings.js';
import type { Engine } from '../engine.js';
import { readLedgerPage } from '../engine/ledger-pages.js';
import { ledgerGuardsOf, type SqliteStore } from '../store/sqlite.js';
import { findWorkspace, resolvedDatabasePath } from './database.js';
import type { CliIo } from './io.js';
import { CliFailure, CliRefusal, workspaceLabel, writeLine } from './io.js';
import { noRecordsLine } from './ledger-pages.js';

/** A ledger head kept away from the database, as `--expect-head` gives it. */
export interface ExpectedHead {
  /** The workspace (id, or name in any letter case) as typed; null when left out. */
  workspace: string | null;
  seq: number;
  hash: string;
  /** The option's value as typed, for messages. */
  typed: string;
}

/** A record hash: SHA-256 in hex (core/ledger.ts). */
const RECORD_HASH = /^[0-9a-f]{64}$/;

/** What `verify --help` says of `--expect-head`: where such a head comes from, in the names the outputs give it. */
export const EXPECT_HEAD_HELP =
  'a ledger head kept elsewhere: the record at SEQ must still have hash HASH, and the chain must link on from it to the current head (repeatable); ' +
  'WORKSPACE (id or name) may be left out when one workspace is verified. Take the head from the JSON line verify prints ' +
  '(chain.count is its seq, chain.headHash its hash), from POST /v1/ledger/verify (chain.count, chain.headHash), or from an export (a record\'s seq and hash)';

/**
 * `--expect-head [<workspace>:]<seq>:<hash>`, checked when the command line is read; each one is
 * added to those before it. The seq and the hash are the last two parts, so a workspace name may
 * hold a colon.
 */
export function parseExpectHead(value: string, before: readonly ExpectedHead[] = []): ExpectedHead[] {
  const parts = value.trim().split(':');
  const hash = (parts.pop() ?? '').trim().toLowerCase();
  const seqText = (parts.pop() ?? '').trim();
  const workspace = parts.length === 0 ? null : parts.join(':').trim();
  const form = 'write it as <workspace>:<seq>:<hash>, or <seq>:<hash> when one workspace is verified';
  const refuse = (why: string) => new CliRefusal(`--expect-head must be a ledger head, not "${value}": ${why}; ${form}`);
  if (!RECORD_HASH.test(hash)) throw refuse('the hash must be 64 hexadecimal digits (SHA-256)');
  if (!/^\d+$/.test(seqText) || !Number.isSafeInteger(Number(seqText)) || Number(seqText) < 1) throw refuse(`"${seqText}" is not a record's seq (1 or more)`);
  if (workspace === '') throw refuse('the workspace is empty');
  return [...before, { workspace, seq: Number(seqText), hash, typed: value }];
}

/** What became of one expected head: the hash found at its seq, null when no record there can be read. */
interface HeadCheck {
  seq: number;
  expected: string;
  found: string | null;
  ok: boolean;
}

/**
 * Each expected head with the workspace it is about, among those verified; refused (nothing was
 * checked yet) when a head names none of them, or names none while several are verified.
 * `among`: where the workspaces were looked for (`in <database>`), for messages.
 */
function headsByWorkspace(heads: readonly ExpectedHead[], workspaces: readonly Workspace[], among: string): Map<string, ExpectedHead[]> {
  const byWorkspace = new Map<string, ExpectedHead[]>();
  for (const head of heads) {
    const workspace = head.workspace === null ? workspaces[0] : findWorkspace(workspaces, head.workspace);
    if (head.workspace === null && workspaces.length > 1) {
      throw new CliRefusal(`--expect-head ${head.typed} names no workspace, and ${workspaces.length} workspaces are verified: write it as <workspace>:<seq>:<hash>, or verify one with --workspace`);
    }
    if (!workspace) throw new CliRefusal(`--expect-head ${head.typed}: no workspace "${head.workspace ?? ''}" ${among}`);
    byWorkspace.set(workspace.id, [...(byWorkspace.get(workspace.id) ?? []), head]);
  }
  return byWorkspace;
}

/** The record at `seq`: its hash, or why there is none to compare. */
async function recordAt(engine: Engine, workspaceId: string, seq: number): Promise<{ hash: string } | { problem: string }> {
  const [entry] = await engine.store.read((tx) => readLedgerPage(tx, workspaceId, { afterSeq: seq - 1, limit: 1 }));
  if (entry?.record?.seq === seq) return { hash: entry.record.hash };
  if (entry?.unreadable?.seq === seq) return { problem: `the record at seq ${seq} cannot be read (${entry.unreadable.reason})` };
  return { problem: `there is no record at seq ${seq}` };
}

export interface VerifyOptions {
  expectHeads: readonly ExpectedHead[];
  /** The database as the command names it, and what `--workspace` limited verify to (for messages). */
  database: string;
  workspace?: string | undefined;
}

/**
 * `consentry verify`: one JSON line per workspace, the engine's LedgerReport with the state of
 * the database's append-only guards (`triggers`: "present", "missing" or "altered") and, for a
 * workspace `--expect-head` names, `expectedHeads` (each head's seq, expected and found hash).
 * A line's `ok` is false when anything on it failed. Fails (exit code 1) with one stderr line per
 * failure once every workspace was checked; refuses (exit code 2) a head that names no verified workspace.
 *
 * A head kept elsewhere holds the ledger against whoever can write the file: records removed from
 * the end, with the stored head and the statuses rewritten to match, leave a chain that is
 * consistent in itself, but not one that still holds the record at that seq with that hash.
 * That the chain links on from it to the current head is the chain's own check.
 */
export async function verifyCommand(engine: Engine, store: SqliteStore, workspaces: readonly Workspace[], options: VerifyOptions, io: CliIo): Promise<void> {
  // Named as `import` and `keys create` name it, so a wrong working directory, --db or DATABASE_PATH shows.
  const database = resolvedDatabasePath(options.database);
  if (workspaces.length === 0) throw new CliRefusal(`No workspace in ${database}`);
  const among = options.workspace === undefined ? `in ${database}` : `among those verified (--workspace ${options.workspace})`;
  const heads = headsByWorkspace(options.expectHeads, workspaces, among);
  const failures: string[] = [];
  const guards = await store.readWith(async (_tx, db) => ledgerGuardsOf(db));
  const triggers = guards.missing.length > 0 ? 'missing' : guards.altered.length > 0 ? 'altered' : 'present';
  if (guards.missing.length > 0) failures.push(`${database}: the ledger's append-only guards are missing (triggers ${guards.missing.join(', ')})${GUARDS_GONE}`);
  if (guards.altered.length > 0) failures.push(`${database}: the ledger's append-only guards were changed (triggers ${guards.altered.join(', ')})${GUARDS_GONE}`);
  let records = 0;
  for (const { id, name } of workspaces) {
    const where = `workspace ${workspaceLabel({ id, name })}`;
    const report = await engine.workspace(id).verifyLedger();
    if (!report.ok) {
      const what = report.chain.ok ? 'materialised consent statuses differ from the ledger' : `ledger tampered: ${report.chain.firstBad.message}`;
      failures.push(`${where}: ${what}`);
    }
    const checks: HeadCheck[] = [];
    for (const head of heads.get(id) ?? []) {
      const found = await recordAt(engine, id, head.seq);
      const hash = 'hash' in found ? found.hash : null;
      checks.push({ seq: head.seq, expected: head.hash, found: hash, ok: hash === head.hash });
      if (hash === head.hash) continue;
      const what = 'hash' in found ? `the record at seq ${head.seq} has hash ${found.hash}` : found.problem;
      failures.push(`${where}: expected head seq ${head.seq} hash ${head.hash}, but ${what}: the ledger changed after that head was taken`);
    }
    const ok = report.ok && triggers === 'present' && checks.every((check) => check.ok);
    writeLine(io.stdout, JSON.stringify({ workspace: name, ...report, ok, triggers, ...(checks.length > 0 ? { expectedHeads: checks } : {}) }));
    records += report.records;
  }
  // Empty chains verify: stderr says where nothing was found, as export does.
  if (records === 0) writeLine(io.stderr, noRecordsLine(workspaces, database));
  if (failures.length > 0) throw new CliFailure(failures.join('\n'));
}

const GUARDS_GONE =
  ': the file was changed outside Consentry, and records can now be edited or deleted without an error; check the ledger against a head kept elsewhere (--expect-head) and restore the database from a backup';
