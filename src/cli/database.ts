import type { Engine, WorkspaceEngine } from '../engine.js';
import { createEngine } from '../engine.js';
import { createSqliteStore } from '../store/sqlite.js';
import type { CliIo } from './io.js';
import { CliFailure } from './io.js';

export const DEFAULT_DATABASE_PATH = './data/consentry.db';

export interface DatabaseOptions {
  db?: string;
  workspace?: string;
}

export function databasePath(options: DatabaseOptions, io: CliIo): string {
  return options.db ?? io.env.DATABASE_PATH ?? DEFAULT_DATABASE_PATH;
}

/** Opens the embedded store and the engine for one command, and closes them after it. */
export async function withEngine<T>(options: DatabaseOptions, io: CliIo, work: (engine: Engine, workspace: WorkspaceEngine) => Promise<T>): Promise<T> {
  const synchronous = io.env.DATABASE_SYNCHRONOUS === 'FULL' ? 'FULL' : 'NORMAL';
  const store = createSqliteStore({ path: databasePath(options, io), synchronous });
  try {
    const engine = createEngine({ store });
    let workspaceId: string;
    if (options.workspace) {
      const all = await engine.listWorkspaces();
      const match = all.find((w) => w.id === options.workspace || w.name === options.workspace);
      if (!match) throw new CliFailure(`No workspace "${options.workspace}" in ${databasePath(options, io)}`);
      workspaceId = match.id;
    } else {
      workspaceId = (await engine.ensureDefaultWorkspace()).id;
    }
    return await work(engine, engine.workspace(workspaceId));
  } finally {
    await store.close();
  }
}
