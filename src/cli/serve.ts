import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../config.js';
import { waitingTriggers } from '../core/workflow/templates.js';
import { createEngine } from '../engine.js';
import type { Store } from '../ports/store.js';
import { openStoreAt } from './database.js';
import type { CliIo } from './io.js';
import { CliFailure, writeLine } from './io.js';

export const DEFAULT_WORKSPACE_NAME = 'Default workspace';

/** Resolves with the first of SIGTERM / SIGINT (how container runtimes and a terminal ask to stop). */
function shutdownRequested(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
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

/** The file INITIAL_API_KEY_FILE names, created empty and kept open until the first key is written to it or the start gives up. */
interface InitialKeyFile {
  path: string;
  write(key: string): void;
  /** Closes and removes the file: no key was written to it. */
  discard(): void;
}

/**
 * Creates INITIAL_API_KEY_FILE when this start will make the first API key (the database has no
 * workspace), before the server listens: a file that cannot be created stops the start with
 * nothing made. The file is created exclusively (O_EXCL), so neither an existing file nor a
 * symbolic link planted at the path is written through, with mode 0600: only its owner reads it.
 */
async function initialKeyFile(path: string | undefined, store: Store): Promise<InitialKeyFile | null> {
  if (path === undefined) return null;
  if ((await createEngine({ store }).listWorkspaces()).length > 0) return null;
  const shown = resolve(path);
  let descriptor: number;
  try {
    descriptor = openSync(path, 'wx', 0o600);
  } catch (error) {
    const code = errorCode(error);
    const why =
      code === 'EEXIST'
        ? `${shown} exists already, and the first API key is never written over a file: move it away, or name a new file`
        : code === 'ENOENT'
          ? `the directory of ${shown} does not exist`
          : code === 'EACCES' || code === 'EPERM'
            ? `permission denied: this user cannot create ${shown}`
            : `cannot create ${shown}: ${error instanceof Error ? error.message : String(error)}`;
    throw new CliFailure(`INITIAL_API_KEY_FILE: ${why}`);
  }
  let open = true;
  const close = () => {
    if (open) closeSync(descriptor);
    open = false;
  };
  return {
    path: shown,
    write(key) {
      try {
        writeSync(descriptor, `${key}\n`);
      } finally {
        close();
      }
    },
    discard() {
      close();
      rmSync(path, { force: true });
    },
  };
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
    if (error instanceof ConfigError) throw new CliFailure(`invalid configuration\n${error.message}`);
    throw error;
  }

  // Loaded here, not at the top: the other commands need none of Fastify.
  const { startServer } = await import('../server/index.js');
  const store = openStoreAt(config.DATABASE_PATH, config.DATABASE_SYNCHRONOUS);
  let keyFile: InitialKeyFile | null;
  try {
    keyFile = await initialKeyFile(config.INITIAL_API_KEY_FILE, store);
  } catch (error) {
    await store.close();
    throw error;
  }
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
    const reason = listenFailure(error, config.HOST, config.PORT) ?? (error instanceof Error ? error.message : String(error));
    throw new CliFailure(`could not start the server: ${reason}`);
  }
  const stopping = shutdownRequested();

  const baseUrl = config.PUBLIC_URL ?? server.url;
  const first = await server.createFirstWorkspaceWithKey(DEFAULT_WORKSPACE_NAME);
  if (first && keyFile) {
    try {
      keyFile.write(first.key);
    } catch (error) {
      await server.close();
      await store.close();
      throw new CliFailure(
        `INITIAL_API_KEY_FILE: could not write the first API key to ${keyFile.path} (${error instanceof Error ? error.message : String(error)}); ` +
          `make another key with: consentry keys create --workspace ${first.workspaceId}`,
      );
    }
    writeLine(
      io.stdout,
      `Created workspace "${DEFAULT_WORKSPACE_NAME}" (${first.workspaceId}) and its API key, written to ${keyFile.path} (readable only by its owner).`,
    );
    writeLine(io.stdout, 'Store the key, then delete the file: it is written only this once (more keys: consentry keys create).');
  } else if (first) {
    writeLine(io.stdout, `Created workspace "${DEFAULT_WORKSPACE_NAME}" (${first.workspaceId}) and its API key.`);
    writeLine(io.stdout, 'Store the key now: it is shown only this once (more keys: consentry keys create).');
    writeLine(io.stdout, `API key: ${first.key}`);
  } else {
    // Another server made the first workspace between the check and now: it printed or wrote that key.
    keyFile?.discard();
  }
  writeLine(io.stdout, `Consentry listening on ${server.url} (database ${config.DATABASE_PATH})`);
  writeLine(io.stdout, `API docs: ${baseUrl}/docs  OpenAPI: ${baseUrl}/openapi.json`);
  for (const workspace of await server.engine.listWorkspaces()) {
    for (const waiting of waitingTriggers(workspace.settings)) {
      writeLine(
        io.stdout,
        `Workspace "${workspace.name}": ${waiting.template} (on ${waiting.trigger}) starts only once ${waiting.missing.join(', ')} is set; ` +
          `until then no consent is asked. Set it: curl -X PATCH ${baseUrl}/v1/settings -H "Authorization: Bearer <key>" ` +
          `-H "Content-Type: application/json" -d '{"privacyPolicyUrl":"https://example.com/privacy"}'`,
      );
    }
  }
  writeLine(io.stdout, `Ready in ${Math.round(performance.now())} ms`);

  const signal = await stopping;
  writeLine(io.stdout, `${signal}: draining requests and workers`);
  try {
    await server.close();
  } finally {
    await store.close();
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
    .option('--db <path>', 'SQLite database file (default: $DATABASE_PATH or ./data/consentry.db)')
    .addHelpText('after', ENVIRONMENT_HELP)
    .action((options: { db?: string }) => serveCommand(options, io));
}
