import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import { waitingTriggers } from '../core/workflow/templates.js';
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
    await store.close();
    throw new CliFailure(`could not start the server: ${error instanceof Error ? error.message : String(error)}`);
  }
  const stopping = shutdownRequested();

  const baseUrl = config.PUBLIC_URL ?? server.url;
  const first = await server.createFirstWorkspaceWithKey(DEFAULT_WORKSPACE_NAME);
  if (first) {
    writeLine(io.stdout, `Created workspace "${DEFAULT_WORKSPACE_NAME}" (${first.workspaceId}) and its API key.`);
    writeLine(io.stdout, 'Store the key now: it is shown only this once (more keys: consentry keys create).');
    writeLine(io.stdout, `API key: ${first.key}`);
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

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description(
      'Run the HTTP API (PORT, HOST, DATABASE_PATH, DATABASE_SYNCHRONOUS, PUBLIC_URL, LOG_LEVEL, HOOK_TARGETS_ALLOW_PRIVATE from the environment); prints the first API key on first start',
    )
    .option('--db <path>', 'SQLite database file (default: $DATABASE_PATH or ./data/consentry.db)')
    .action((options: { db?: string }) => serveCommand(options, io));
}
