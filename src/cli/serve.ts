import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../config.js';
import type { Workspace } from '../core/settings.js';
import { settingsWarnings, type WarnedSetting } from '../core/settings-warnings.js';
import { createEngine } from '../engine.js';
import { systemClock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';
import { newApiKey } from '../server/api-keys.js';
import { DB_HELP, DB_OPTION, openStoreAt, resolvedDatabasePath } from './database.js';
import type { CliIo } from './io.js';
import { cell, CliFailure, CliRefusal, workspaceLabel, writeLine } from './io.js';

export const DEFAULT_WORKSPACE_NAME = 'Default workspace';

/**
 * The first of SIGTERM / SIGINT (how container runtimes and a terminal ask to stop). A signal that
 * comes again while the server drains is said and otherwise ignored, until `release`: one stop
 * often arrives twice (npm passes on the SIGTERM a process manager sends to its whole process
 * group, and the SIGINT of Ctrl-C reaches npm and the server alike), and Node's default handler
 * would end the process at once, its requests unanswered and its worker lease held.
 */
function shutdownRequested(io: CliIo): { signal: Promise<NodeJS.Signals>; release(): void } {
  let first: NodeJS.Signals | null = null;
  let resolveSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signal = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  const onSignal = (received: NodeJS.Signals) => {
    if (first !== null) {
      writeLine(io.stdout, `${received} again: already stopping since ${first}; the drain ends on its own`);
      return;
    }
    first = received;
    resolveSignal(received);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    signal,
    release: () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}

/** The error code Node gives a failed system call (`EADDRINUSE`, `ENOTFOUND`, ...), when there is one. */
function errorCode(error: unknown): string | undefined {
  const code = error instanceof Error ? Reflect.get(error, 'code') : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Why the server could not listen, said in terms of the variable to change: Node names only the
 * system call's error and address (`listen EADDRINUSE: address already in use 127.0.0.1:3000`,
 * `getaddrinfo ENOTFOUND name`). Undefined for any other failure.
 */
export function listenFailure(error: unknown, host: string, port: number): string | undefined {
  switch (errorCode(error)) {
    case 'EADDRINUSE':
      return `PORT ${port} on ${host} is already in use: stop the process listening there, or set PORT to a free port (0 picks one)`;
    case 'EACCES':
      return `PORT ${port} on ${host} needs privileges this process does not have (ports below 1024 usually do): set PORT to 1024 or above`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return `HOST ${host} does not resolve: set HOST to an address of this machine, such as 0.0.0.0 (every interface) or 127.0.0.1`;
    case 'EADDRNOTAVAIL':
      return `HOST ${host} is not an address of this machine: set HOST to one of its addresses, such as 0.0.0.0 (every interface) or 127.0.0.1`;
    default:
      return undefined;
  }
}

/** The file INITIAL_API_KEY_FILE names, open until the first key is written to it or the start gives up. */
interface InitialKeyFile {
  path: string;
  write(key: string): void;
  /**
   * Closes the file, which stays as it is: empty, so that the next start writes the key into it.
   * It is not removed: another server starting beside this one may have opened the same file, and
   * be about to write its key there.
   */
  discard(): void;
}

/** What this start does about INITIAL_API_KEY_FILE. */
type KeyFilePlan =
  | { kind: 'none' }
  /** The database has no workspace: the first workspace and its key are made, the key written to the file. */
  | { kind: 'first'; file: InitialKeyFile }
  /** An earlier first start made the workspace and stopped before its key (the file is empty): the key is made now. */
  | { kind: 'only_workspace_key'; file: InitialKeyFile; workspace: Workspace }
  /** The file is empty, and the database has an API key already (or several workspaces): nothing is written, the start says how to get a key. */
  | { kind: 'empty_file_left'; notice: string };

function errorWhy(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const NOT_A_PLAIN_FILE = (shown: string) =>
  `INITIAL_API_KEY_FILE: ${shown} exists already and is not a plain file of this user (a link, a directory, a file with other names or of another user): ` +
  'the first API key is written only to a new file, or to an empty one an earlier start left: move it away, or name a new file';

/**
 * The empty file an earlier start left (it created the file, then stopped before writing the key):
 * opened for writing without following a link (O_NOFOLLOW), without waiting on a FIFO (O_NONBLOCK)
 * and without truncating, then checked on the descriptor itself, so what was checked is what is
 * written: a regular file of this user's, with no other name, and still empty. Its mode is put back
 * to 0600 whatever it was.
 */
function reuseEmptyFile(path: string, shown: string): InitialKeyFile {
  let descriptor: number;
  try {
    descriptor = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ELOOP' || code === 'EISDIR' || code === 'ENXIO') throw new CliRefusal(NOT_A_PLAIN_FILE(shown));
    if (code === 'EACCES' || code === 'EPERM') throw new CliRefusal(`INITIAL_API_KEY_FILE: permission denied: this user cannot write ${shown}`);
    throw new CliRefusal(`INITIAL_API_KEY_FILE: cannot open ${shown}: ${errorWhy(error)}`);
  }
  try {
    const stat = fstatSync(descriptor);
    const ownUid = process.getuid?.();
    if (!stat.isFile() || stat.nlink !== 1 || (ownUid !== undefined && stat.uid !== ownUid)) throw new CliRefusal(NOT_A_PLAIN_FILE(shown));
    if (stat.size > 0) {
      throw new CliRefusal(
        `INITIAL_API_KEY_FILE: ${shown} exists already and is not empty, and the first API key is never written over a file: move it away, or name a new file`,
      );
    }
    fchmodSync(descriptor, 0o600);
  } catch (error) {
    closeSync(descriptor);
    throw error;
  }
  return keyFileAt(shown, descriptor);
}

function keyFileAt(shown: string, descriptor: number): InitialKeyFile {
  let open = true;
  const close = () => {
    if (open) closeSync(descriptor);
    open = false;
  };
  return {
    path: shown,
    write(key) {
      try {
        writeSync(descriptor, `${key}\n`, 0);
        // On disk before the start says where the key is: the database already holds it.
        fsyncSync(descriptor);
      } finally {
        close();
      }
    },
    discard: close,
  };
}

/**
 * Opens the file for the first key: created exclusively (O_EXCL, so neither a file nor a symbolic
 * link planted at the path is written through) with mode 0600, only its owner reads it; or the
 * empty file an earlier start left. A file that cannot be used stops the start before anything is made.
 */
function openKeyFile(path: string): InitialKeyFile {
  const shown = resolve(path);
  try {
    return keyFileAt(shown, openSync(path, 'wx', 0o600));
  } catch (error) {
    const code = errorCode(error);
    if (code === 'EEXIST') return reuseEmptyFile(path, shown);
    const why =
      code === 'ENOENT'
        ? `the directory of ${shown} does not exist`
        : code === 'EACCES' || code === 'EPERM'
          ? `permission denied: this user cannot create ${shown}`
          : `cannot create ${shown}: ${errorWhy(error)}`;
    throw new CliRefusal(`INITIAL_API_KEY_FILE: ${why}`);
  }
}

/** Whether `path` is an empty regular file (not through a link): what a start that stopped before writing the key leaves. */
function isEmptyFile(path: string): boolean {
  try {
    const stat = lstatSync(path);
    return stat.isFile() && stat.size === 0;
  } catch {
    return false;
  }
}

/**
 * What this start does with INITIAL_API_KEY_FILE, decided before the server listens: a file that
 * cannot be used stops the start with nothing made. A database without a workspace gets its first
 * workspace and key, written to the file. Later starts leave the file alone, except the empty file
 * a first start leaves when it stops between creating the file and writing the key: while the
 * database has no API key, the key is made and written into it; once it has one, whose value
 * cannot be read back from the database, the start says how to make another.
 */
async function keyFilePlan(path: string | undefined, store: Store): Promise<KeyFilePlan> {
  if (path === undefined) return { kind: 'none' };
  const workspaces = await createEngine({ store }).listWorkspaces();
  const [only] = workspaces;
  if (only === undefined) return { kind: 'first', file: openKeyFile(path) };
  if (!isEmptyFile(path)) return { kind: 'none' };
  const keys = await store.read((tx) => tx.listApiKeys());
  const shown = resolve(path);
  if (keys.length === 0 && workspaces.length === 1) return { kind: 'only_workspace_key', file: openKeyFile(path), workspace: only };
  const notice =
    keys.length > 0
      ? `INITIAL_API_KEY_FILE: ${shown} is empty, and the database has an API key already, so this start writes none to it. ` +
        `If a first start stopped before writing its key there, that key cannot be shown again: make a new one with: consentry keys create --workspace ${only.id} ` +
        '(and revoke the unused one: consentry keys list, consentry keys revoke). Then delete the file.'
      : `INITIAL_API_KEY_FILE: ${shown} is empty, and the database has ${workspaces.length} workspaces and no API key, so this start writes none to it: ` +
        'make a key with: consentry keys create --workspace <id-or-name>. Then delete the file.';
  return { kind: 'empty_file_left', notice };
}

/** The key of the only workspace, for a database whose first start made the workspace and stopped before its key. */
async function keyForOnlyWorkspace(store: Store, workspace: Workspace): Promise<{ workspaceId: string; key: string } | null> {
  const created = newApiKey({ workspaceId: workspace.id, name: 'default', clock: systemClock });
  // Looked for and made in one transaction: another server starting beside this one may have made
  // it meanwhile, and its key is the one to keep.
  const made = await store.transaction(async (tx) => {
    if ((await tx.listApiKeys()).length > 0) return false;
    await tx.insertApiKey(created.row);
    return true;
  });
  return made ? { workspaceId: workspace.id, key: created.key } : null;
}

/** An example value of each setting a warning names, for the command that sets it. */
const SETTING_EXAMPLES: Readonly<Record<'privacyPolicyUrl' | 'defaultCountry' | 'outboundWebhookUrl', string>> = {
  privacyPolicyUrl: 'https://example.com/privacy',
  defaultCountry: 'ES',
  outboundWebhookUrl: 'https://example.com/consentry/outbound',
};

function hasExample(setting: WarnedSetting): setting is keyof typeof SETTING_EXAMPLES {
  return Object.hasOwn(SETTING_EXAMPLES, setting);
}

function settingCommand(baseUrl: string, setting: keyof typeof SETTING_EXAMPLES): string {
  const body = JSON.stringify({ [setting]: SETTING_EXAMPLES[setting] });
  return `curl -X PATCH ${baseUrl}/v1/settings -H "Authorization: Bearer <key>" -H "Content-Type: application/json" -d '${body}'`;
}

/**
 * What a workspace's settings leave undone (settingsWarnings, which the answer to each
 * `PATCH /v1/settings` lists too), one line each with the command that sets a missing setting.
 * Said at every start, before the first contact meets it.
 */
export function settingsNotices(workspace: Pick<Workspace, 'name' | 'settings'>, baseUrl: string): string[] {
  return settingsWarnings(workspace.settings).map(
    (warning) =>
      `Workspace "${cell(workspace.name)}": ${warning.path}: ${warning.message}` + (hasExample(warning.path) ? `. With curl: ${settingCommand(baseUrl, warning.path)}` : ''),
  );
}

/**
 * Runs the API server until SIGTERM or SIGINT, then stops accepting connections, lets the
 * requests in flight and the background workers finish, and closes the database.
 */
export async function serveCommand(options: { db?: string }, io: CliIo): Promise<void> {
  let config;
  try {
    config = loadConfig({ ...io.env, ...(options.db !== undefined ? { DATABASE_PATH: options.db } : {}) });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliRefusal(`invalid configuration\n${error.message}`);
    throw error;
  }

  // Loaded here, not at the top: the other commands need none of Fastify.
  const { startServer } = await import('../server/index.js');
  const store = openStoreAt(config.DATABASE_PATH, config.DATABASE_SYNCHRONOUS);
  let plan: KeyFilePlan;
  try {
    plan = await keyFilePlan(config.INITIAL_API_KEY_FILE, store);
  } catch (error) {
    await store.close();
    throw error;
  }
  const keyFile = plan.kind === 'first' || plan.kind === 'only_workspace_key' ? plan.file : null;
  let server;
  try {
    server = await startServer({
      store,
      host: config.HOST,
      port: config.PORT,
      logger: { level: config.LOG_LEVEL },
      ...(config.PUBLIC_URL !== undefined ? { publicUrl: config.PUBLIC_URL } : {}),
      config,
      allowPrivateTargets: config.HOOK_TARGETS_ALLOW_PRIVATE,
    });
  } catch (error) {
    keyFile?.discard();
    await store.close();
    const reason = listenFailure(error, config.HOST, config.PORT) ?? errorWhy(error);
    throw new CliFailure(`could not start the server: ${reason}`);
  }
  const stopping = shutdownRequested(io);

  const baseUrl = config.PUBLIC_URL ?? server.url;
  let made: { workspaceId: string; key: string } | null;
  try {
    made = plan.kind === 'only_workspace_key' ? await keyForOnlyWorkspace(store, plan.workspace) : await server.createFirstWorkspaceWithKey(DEFAULT_WORKSPACE_NAME);
  } catch (error) {
    stopping.release();
    keyFile?.discard();
    await server.close();
    await store.close();
    const retry = keyFile ? `; ${keyFile.path} stays empty, and the next start writes the key into it` : '; make one with: consentry keys create';
    throw new CliFailure(`could not make the first API key: ${errorWhy(error)}${retry}`);
  }
  if (made && keyFile) {
    try {
      keyFile.write(made.key);
    } catch (error) {
      stopping.release();
      await server.close();
      await store.close();
      throw new CliFailure(
        `INITIAL_API_KEY_FILE: could not write the first API key to ${keyFile.path} (${errorWhy(error)}); ` +
          `make another key with: consentry keys create --workspace ${made.workspaceId}`,
      );
    }
    const what =
      plan.kind === 'only_workspace_key'
        ? `Created the API key of workspace ${workspaceLabel({ id: made.workspaceId, name: plan.workspace.name })}, which an earlier start made without writing its key,`
        : `Created workspace "${DEFAULT_WORKSPACE_NAME}" (${made.workspaceId}) and its API key,`;
    writeLine(io.stdout, `${what} written to ${keyFile.path} (readable only by its owner).`);
    writeLine(io.stdout, 'Store the key, then delete the file: it is written only this once (more keys: consentry keys create).');
  } else if (made) {
    writeLine(io.stdout, `Created workspace "${DEFAULT_WORKSPACE_NAME}" (${made.workspaceId}) and its API key.`);
    writeLine(io.stdout, 'Store the key now: it is shown only this once (more keys: consentry keys create).');
    writeLine(io.stdout, `API key: ${made.key}`);
  } else {
    // Another server made the first workspace or key between the check and now: it printed or wrote that key.
    keyFile?.discard();
  }
  if (plan.kind === 'empty_file_left') writeLine(io.stdout, plan.notice);
  // Absolute, as the other commands name it: a relative DATABASE_PATH read from another working directory shows.
  writeLine(io.stdout, `Consentry listening on ${server.url} (database ${resolvedDatabasePath(config.DATABASE_PATH)})`);
  writeLine(io.stdout, `API docs: ${baseUrl}/docs  OpenAPI: ${baseUrl}/openapi.json`);
  for (const workspace of await server.engine.listWorkspaces()) {
    for (const notice of settingsNotices(workspace, baseUrl)) writeLine(io.stdout, notice);
  }
  writeLine(io.stdout, `Ready in ${Math.round(performance.now())} ms`);

  const signal = await stopping.signal;
  writeLine(io.stdout, `${signal}: draining requests and workers`);
  try {
    await server.close();
  } finally {
    await store.close();
    stopping.release();
  }
  writeLine(io.stdout, 'Stopped');
}

/** Words joined by ", " in lines of at most `width` characters, each line indented by `indent`. */
function wrappedList(words: readonly string[], indent: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const [index, word] of words.entries()) {
    const item = index < words.length - 1 ? `${word},` : word;
    if (line !== '' && indent.length + line.length + 1 + item.length > width) {
      lines.push(line);
      line = '';
    }
    line = line === '' ? item : `${line} ${item}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((text) => `${indent}${text}`).join('\n');
}

/** The variables `serve` reads, listed from the configuration's schema so that the help cannot leave one out. */
const ENVIRONMENT_HELP = `\nEnvironment (an empty variable counts as unset; see the README, Configuration):\n${wrappedList(CONFIG_VARIABLES, '  ', 80)}\n`;

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description(
      'Run the HTTP API, configured from the environment (variables below); on first start, prints the first API key, or writes it to INITIAL_API_KEY_FILE',
    )
    .option(DB_OPTION, DB_HELP)
    .addHelpText('after', ENVIRONMENT_HELP)
    .action((options: { db?: string }) => serveCommand(options, io));
}
