import type { Command } from 'commander';
import { canonicalUlid, controlCharacterIn, isUlid } from '../core/contact.js';
import type { Workspace } from '../core/settings.js';
import { WorkspaceNameSchema } from '../engine/inputs.js';
import { createEngine } from '../engine.js';
import { systemClock } from '../ports/clock.js';
import type { ApiKeyRow, Store } from '../ports/store.js';
import { createApiKey, revokeApiKey } from '../server/api-keys.js';
import { databasePath, DB_HELP, DB_OPTION, findWorkspace, isNewDatabase, openStore, resolvedDatabasePath, type OpenOptions } from './database.js';
import type { CliIo } from './io.js';
import { cell, CliRefusal, nonBlankOption, workspaceLabel, writeLine } from './io.js';

interface DbOption {
  db?: string;
}

async function withStore<T>(options: DbOption, io: CliIo, open: OpenOptions, work: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(options, io, open);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** A workspace by id or name; a new name creates it, so the first key of a tenant is one command. */
async function workspaceFor(store: Store, wanted: string | undefined): Promise<{ workspace: Workspace; created: boolean }> {
  const engine = createEngine({ store });
  if (wanted === undefined) {
    const before = await engine.listWorkspaces();
    return { workspace: await engine.ensureDefaultWorkspace(), created: before.length === 0 };
  }
  const match = findWorkspace(await engine.listWorkspaces(), wanted);
  if (match) return { workspace: match, created: false };
  // A workspace id that names none is a typo, not a new tenant's name: a key to a new, empty
  // workspace would look like one to the workspace meant.
  if (isUlid(wanted.trim())) throw new CliRefusal(`No workspace with id ${wanted.trim()}; to create a workspace, name it with words (--workspace "Acme")`);
  return { workspace: await engine.createWorkspace({ name: wanted }), created: true };
}

function keyLine(key: ApiKeyRow, workspaceName: string): string {
  return [key.id, cell(workspaceName), key.name === null ? '-' : cell(key.name), `${key.prefix}…`, key.createdAt, key.lastUsedAt ?? '-', key.revokedAt ?? '-'].join('\t');
}

/** Long enough for "Zapier – marketing team, production", short enough for one line of `keys list`. */
const KEY_NAME_MAX_LENGTH = 100;
const keyNameOption = nonBlankOption('--name', 'say what the key is for', KEY_NAME_MAX_LENGTH);
/**
 * The bounds the engine puts on a workspace name, checked when the command line is read: a name
 * it would refuse must not leave a new database, or its directory, behind. An id fits them too.
 */
const workspaceOption = nonBlankOption('--workspace', 'name a workspace (its id, or a name)', WorkspaceNameSchema.maxLength ?? Number.MAX_SAFE_INTEGER);

/** Refuses a value holding a control or bidirectional formatting character, naming the option. */
function withoutControlCharacters(flag: string, value: string): string {
  const forbidden = controlCharacterIn(value);
  if (forbidden !== undefined) throw new CliRefusal(`${flag} ${forbidden}; names are listed one per line in tab-separated columns`);
  return value;
}

/** `--workspace` of `keys create` and `keys list`, read the same way. */
function workspaceArgumentOption(value: string): string {
  // Spaces around the name are ignored: the workspace is found and named by the trimmed value.
  withoutControlCharacters('--workspace', workspaceOption(value.trim()));
  return value;
}

/** What revoking did to the key's subscriptions: their pending deliveries are not sent either. */
function hooksRemovedLine(count: number): string {
  if (count === 0) return 'Removed 0 webhook subscriptions (hooks): the key had none live';
  if (count === 1) return 'Removed 1 webhook subscription (hook) it created; its pending deliveries will not be sent';
  return `Removed ${count} webhook subscriptions (hooks) it created; their pending deliveries will not be sent`;
}

/** A word a POSIX shell passes on as it is: bare when it is plain, else in single quotes, each ' written as '\''. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./][\w@%+=:,./-]*$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}

/** How `--workspace` names the workspace: by its name when that finds it and no other, else by its id. */
function workspaceArgument(workspace: Workspace, all: readonly Workspace[]): string {
  try {
    if (findWorkspace(all, workspace.name)?.id === workspace.id) return shellWord(workspace.name);
  } catch {
    // Several workspaces answer to the name: only the id names this one.
  }
  return workspace.id;
}

/** What a workspace left without a live key means, and the command that gives it one. */
function noLiveKeyWarning(workspace: Workspace | undefined, workspaceId: string, all: readonly Workspace[], db: string | undefined): string {
  const named = workspace === undefined ? workspaceId : workspaceLabel(workspace);
  const target = workspace === undefined ? workspaceId : workspaceArgument(workspace, all);
  const dbArgument = db === undefined ? '' : ` --db ${shellWord(db)}`;
  return (
    `warning: workspace ${named} has no live API key left: the API refuses every request for it until it has one; ` +
    `make one with: consentry keys create --workspace ${target}${dbArgument}`
  );
}

export function registerKeysCommand(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('API keys: create (shown once), list, revoke');

  keys
    .command('create')
    .description('Create an API key; prints it once (only its SHA-256 is stored)')
    .option(
      '--workspace <name-or-id>',
      'the workspace the key opens, by id or name in any letter case (created when the name is new; default: the first workspace)',
      workspaceArgumentOption,
    )
    .option('--name <label>', 'a label for the key, shown in lists', (value: string) => withoutControlCharacters('--name', keyNameOption(value)))
    .option(
      '--json',
      'print {"workspaceId", "workspace", "created", "database", "createdDatabase", "key"}: "workspace" is its name, "created" whether this command made it, "database" the file the key opens, "createdDatabase" whether this command made that file',
    )
    .option(DB_OPTION, DB_HELP)
    .action((options: DbOption & { workspace?: string; name?: string; json?: boolean }) => {
      // A key is only good on the database the server serves: the file is named, and one this
      // command made is said on stderr, as import says it (a shell without the server's
      // DATABASE_PATH, or a mistyped --db, would hand out a key the server answers 401).
      const path = databasePath(options, io);
      const database = resolvedDatabasePath(path);
      const createdDatabase = isNewDatabase(path);
      return withStore(options, io, {}, async (store) => {
        if (createdDatabase) writeLine(io.stderr, `created new database ${database}: a key opens only the database the server serves (DATABASE_PATH)`);
        const { workspace, created } = await workspaceFor(store, options.workspace);
        const { row, key } = await createApiKey(store, { workspaceId: workspace.id, name: options.name ?? null, clock: systemClock });
        if (options.json) {
          // `created` tells a script that a mistyped name made a new, empty tenant, as the text output's first line tells a person.
          writeLine(io.stdout, JSON.stringify({ workspaceId: workspace.id, workspace: workspace.name, created, database, createdDatabase, key }));
          return;
        }
        if (created) writeLine(io.stdout, `Created workspace ${workspaceLabel(workspace)}`);
        writeLine(io.stdout, `API key ${row.id} for workspace ${workspaceLabel(workspace)} of the database ${database}.`);
        writeLine(io.stdout, 'Store it now: it is shown only this once.');
        writeLine(io.stdout, key);
      });
    });

  keys
    .command('list')
    .description('List API keys (id, workspace, name, prefix, created, last used, revoked); never the keys themselves')
    .option('--workspace <name-or-id>', "only this workspace's keys, the workspace named as keys create names it (by id or name in any letter case)", workspaceArgumentOption)
    .option('--json', 'print one JSON array, an object per key')
    .option(DB_OPTION, DB_HELP)
    .action((options: DbOption & { workspace?: string; json?: boolean }) =>
      // Only reads, so it opens the database read-only, as verify and export do.
      withStore(options, io, { mustExist: true, readOnly: true }, async (store) => {
        const engine = createEngine({ store });
        const workspaces = await engine.listWorkspaces();
        const names = new Map(workspaces.map((w) => [w.id, w.name]));
        let only: Workspace | undefined;
        if (options.workspace !== undefined) {
          only = findWorkspace(workspaces, options.workspace);
          // A list never creates: a name keys create would take for a new workspace names none here.
          if (!only) throw new CliRefusal(`No workspace "${options.workspace.trim()}" in ${resolvedDatabasePath(databasePath(options, io))}: consentry workspaces list names them`);
        }
        const workspaceId = only?.id;
        const rows = await store.transaction((tx) => (workspaceId === undefined ? tx.listApiKeys() : tx.listApiKeys(workspaceId)));
        if (options.json) {
          // Like every --json and --format json output of the CLI, one JSON document (`export --format json` prints its records the same way).
          const listed = rows.map((row) => ({
            id: row.id,
            workspaceId: row.workspaceId,
            workspace: names.get(row.workspaceId) ?? null,
            name: row.name,
            prefix: row.prefix,
            createdAt: row.createdAt,
            lastUsedAt: row.lastUsedAt,
            revokedAt: row.revokedAt,
          }));
          writeLine(io.stdout, JSON.stringify(listed, null, 2));
          return;
        }
        writeLine(io.stdout, ['id', 'workspace', 'name', 'prefix', 'created', 'last used', 'revoked'].join('\t'));
        for (const row of rows) writeLine(io.stdout, keyLine(row, names.get(row.workspaceId) ?? row.workspaceId));
      }),
    );

  keys
    .command('revoke')
    .description('Revoke an API key: requests with it are refused (401) from now on, and the webhook subscriptions (hooks) it created are deleted')
    .argument('<id>', 'the key id (from `keys list`)')
    .option('--json', 'print {"id", "workspaceId", "workspace", "prefix", "revokedAt", "alreadyRevoked", "hooksRemoved", "liveKeysLeft"}')
    .option(DB_OPTION, DB_HELP)
    .action((id: string, options: DbOption & { json?: boolean }) =>
      withStore(options, io, { mustExist: true }, async (store) => {
        // One instant for the command: a key revoked at any other time was revoked before it ran.
        const now = systemClock.now();
        const revoked = await revokeApiKey(store, canonicalUlid(id.trim()), { now: () => now });
        if (!revoked) throw new CliRefusal(`No API key with id "${id}"`);
        const { key, hooksRemoved } = revoked;
        const revokedAt = key.revokedAt ?? now.toISOString();
        const alreadyRevoked = revokedAt !== now.toISOString();
        const liveKeysLeft = (await store.transaction((tx) => tx.listApiKeys(key.workspaceId))).filter((other) => other.revokedAt === null).length;
        const workspaces = await createEngine({ store }).listWorkspaces();
        const workspace = workspaces.find((w) => w.id === key.workspaceId);
        if (options.json) {
          const workspaceName = workspace?.name ?? null;
          writeLine(
            io.stdout,
            JSON.stringify({ id: key.id, workspaceId: key.workspaceId, workspace: workspaceName, prefix: key.prefix, revokedAt, alreadyRevoked, hooksRemoved, liveKeysLeft }),
          );
        } else if (alreadyRevoked) {
          // Its hooks went with it then: nothing is left to remove.
          writeLine(io.stdout, `API key ${key.id} (${key.prefix}…) was already revoked at ${revokedAt}; nothing changed`);
        } else {
          writeLine(io.stdout, `Revoked API key ${key.id} (${key.prefix}…) at ${revokedAt}`);
          writeLine(io.stdout, hooksRemovedLine(hooksRemoved));
        }
        // Nothing makes a key later: `serve` makes one only for a database without any workspace.
        if (liveKeysLeft === 0) writeLine(io.stderr, noLiveKeyWarning(workspace, key.workspaceId, workspaces, options.db));
      }),
    );
}
