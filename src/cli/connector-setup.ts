import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { Workspace } from '../core/settings.js';
import type { StoreTx } from '../ports/store.js';
import { databasePath, findWorkspace, openStore, resolvedDatabasePath, type DatabaseOptions } from './database.js';
import type { CliIo } from './io.js';
import { CliRefusal } from './io.js';

/** The environment as the server reads it; a bad variable ends the command with its name. */
export function environmentConfig(io: CliIo): Config {
  try {
    return loadConfig(io.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliRefusal(`invalid configuration\n${error.message}`);
    throw error;
  }
}

export interface ExistingWorkspace {
  workspace: Workspace;
  /** The first workspace: the one the connector variables of the environment configure. */
  isDefault: boolean;
}

/**
 * Reads the workspace `--workspace` names (the first one when none is named) and what `read`
 * takes from it, in one transaction. The database is opened only when it exists: a connector's
 * set-up command must not create one. `null` when there is no database or no workspace, unless
 * one was named: then that is the command's failure.
 */
export async function readExistingWorkspace<T>(
  options: DatabaseOptions,
  io: CliIo,
  read: (tx: StoreTx, found: ExistingWorkspace) => T | Promise<T>,
): Promise<T | null> {
  const path = databasePath(options, io);
  if (!existsSync(path)) {
    if (options.workspace) throw new CliRefusal(`No database at ${resolvedDatabasePath(path)}, so no workspace "${options.workspace}"`);
    return null;
  }
  const store = openStore(options, io, { mustExist: true });
  try {
    return await store.transaction(async (tx) => {
      const workspaces = await tx.listWorkspaces();
      const named = options.workspace === undefined ? undefined : findWorkspace(workspaces, options.workspace);
      const index = named ? workspaces.indexOf(named) : options.workspace === undefined ? 0 : -1;
      const workspace = workspaces[index];
      if (!workspace) {
        if (options.workspace) throw new CliRefusal(`No workspace "${options.workspace}" in ${resolvedDatabasePath(path)}`);
        return null;
      }
      return read(tx, { workspace, isDefault: index === 0 });
    });
  } finally {
    await store.close();
  }
}
