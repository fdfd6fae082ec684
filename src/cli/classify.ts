import { createInterface } from 'node:readline';
import { classifyKeyword, type WorkspaceKeywords } from '../core/keywords.js';
import { withWorkspaces, type DatabaseOptions } from './database.js';
import type { CliIo } from './io.js';
import { writeLine } from './io.js';

/**
 * One JSON line per text: the argument, or each line of stdin in order. With `--workspace`, the
 * texts are read with that workspace's keywords (its added and switched-off words), as its
 * messages are; without it, with the built-in table, and no database is opened.
 */
export async function classifyCommand(text: string | undefined, options: DatabaseOptions, io: CliIo): Promise<void> {
  const keywords = options.workspace === undefined ? undefined : await workspaceKeywords(options, io);
  if (text !== undefined) {
    writeLine(io.stdout, JSON.stringify(classifyKeyword(text, keywords)));
    return;
  }
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of lines) writeLine(io.stdout, JSON.stringify(classifyKeyword(line, keywords)));
}

async function workspaceKeywords(options: DatabaseOptions, io: CliIo): Promise<WorkspaceKeywords> {
  return withWorkspaces(options, io, { mustExist: true, readOnly: true }, async (_engine, [workspace]) => workspace?.settings.keywords ?? {});
}
