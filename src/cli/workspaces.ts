import type { Command } from 'commander';
import { UnreadableRowError } from '../core/errors.js';
import type { Workspace } from '../core/settings.js';
import type { Store, StoreTx } from '../ports/store.js';
import { databasePath, DB_HELP, DB_OPTION, resolvedDatabasePath, withWorkspaces, type DatabaseOptions } from './database.js';
import type { CliIo } from './io.js';
import { cell, EXIT_CODES, workspaceLabel, writeLine } from './io.js';

/** One workspace as `workspaces list` shows it. */
export interface ListedWorkspace {
  id: string;
  name: string;
  createdAt: string;
  /** API keys of the workspace not revoked: 0 means the API refuses every request for it. */
  liveKeys: number;
  /**
   * Consent records in its ledger: the seq of its last record, which in a chain that verifies
   * counts them (seqs run from 1 without a gap). Null when that record cannot be read back.
   */
  records: number | null;
}

/** The columns of the text output, named in its first line as `keys list` names its own. */
const COLUMNS = ['id', 'name', 'created', 'live keys', 'records'] as const;

/** The last record's seq, read through the ledger's index: no count of the whole ledger. */
async function recordsOf(tx: StoreTx, workspaceId: string): Promise<number | null> {
  try {
    return (await tx.lastConsentRecord(workspaceId))?.seq ?? 0;
  } catch (error) {
    if (error instanceof UnreadableRowError && error.table === 'consent_records') return null;
    throw error;
  }
}

async function listed(store: Store, workspaces: readonly Workspace[]): Promise<ListedWorkspace[]> {
  // One snapshot: the keys and the ledger heads are read as they stood together.
  return store.read(async (tx) => {
    const liveKeys = new Map<string, number>();
    for (const key of await tx.listApiKeys()) if (key.revokedAt === null) liveKeys.set(key.workspaceId, (liveKeys.get(key.workspaceId) ?? 0) + 1);
    const rows: ListedWorkspace[] = [];
    for (const workspace of workspaces) {
      rows.push({ id: workspace.id, name: workspace.name, createdAt: workspace.createdAt, liveKeys: liveKeys.get(workspace.id) ?? 0, records: await recordsOf(tx, workspace.id) });
    }
    return rows;
  });
}

/**
 * `consentry workspaces list`: every workspace of the database, in creation order, so one made by
 * a mistyped `keys create --workspace` can be found, and its keys revoked. Returns the exit code:
 * 1 when a ledger's last record cannot be read back (its count is then unknown).
 */
export async function workspacesListCommand(options: Pick<DatabaseOptions, 'db'>, json: boolean, io: CliIo): Promise<number> {
  // Only reads, so it opens the database read-only, as keys list, verify and export do.
  return withWorkspaces(options, io, { mustExist: true, readOnly: true }, async (_engine, workspaces, store) => {
    const rows = await listed(store, workspaces);
    if (json) {
      // One JSON document, as every --json output of the CLI.
      writeLine(io.stdout, JSON.stringify(rows, null, 2));
    } else {
      writeLine(io.stdout, COLUMNS.join('\t'));
      for (const row of rows) writeLine(io.stdout, [row.id, cell(row.name), row.createdAt, String(row.liveKeys), row.records === null ? '?' : String(row.records)].join('\t'));
    }
    const database = resolvedDatabasePath(databasePath(options, io));
    // An empty stdout (or a header alone) reads like a failed look-up: the file read is named.
    if (rows.length === 0) writeLine(io.stderr, `no workspace in ${database}`);
    const unreadable = rows.filter((row) => row.records === null);
    for (const row of unreadable) {
      writeLine(io.stderr, `warning: the last consent record of workspace ${workspaceLabel(row)} cannot be read back, so its records are not counted: run consentry verify`);
    }
    return unreadable.length > 0 ? EXIT_CODES.failed : EXIT_CODES.done;
  });
}

export function registerWorkspacesCommand(program: Command, io: CliIo, outcome: { exitCode: number }): void {
  const workspaces = program.command('workspaces').description('Workspaces (tenants): list');
  workspaces
    .command('list')
    .description('List the workspaces (id, name, created, live keys, records): live keys counts the API keys not revoked, records the consent records of its ledger')
    .option('--json', 'print one JSON array, an object per workspace: {"id", "name", "createdAt", "liveKeys", "records"}')
    .option(DB_OPTION, DB_HELP)
    .action(async (options: { db?: string; json?: boolean }) => {
      outcome.exitCode = await workspacesListCommand(options.db === undefined ? {} : { db: options.db }, options.json === true, io);
    });
}
