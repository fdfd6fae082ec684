import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { classifyKeyword, type WorkspaceKeywords } from '../core/keywords.js';
import { readableText } from '../core/text.js';
import { withWorkspaces, type DatabaseOptions } from './database.js';
import type { CliIo } from './io.js';
import { writeLine } from './io.js';

/**
 * One JSON line per text: the argument, or each line of stdin in order. With `--workspace`, the
 * texts are read with that workspace's keywords (its added and switched-off words), as its
 * messages are; without it, with the built-in table, and no database is opened. Each text is read
 * as the engine reads a message: its first READABLE_TEXT_LENGTH characters.
 */
export async function classifyCommand(text: string | undefined, options: DatabaseOptions, io: CliIo): Promise<void> {
  const keywords = options.workspace === undefined ? undefined : await workspaceKeywords(options, io);
  const classify = (input: string): string => JSON.stringify(classifyKeyword(readableText(input), keywords));
  if (text !== undefined) {
    writeLine(io.stdout, classify(text));
    return;
  }
  for await (const line of linesOf(io.stdin)) writeLine(io.stdout, classify(line));
}

/**
 * The lines of a stream, split on LF only, one CR before it dropped (CRLF files): a lone CR, which
 * texts exported from chat tools and CRMs carry inside a message, stays in its line, so the n-th
 * output line answers the n-th input line. Invalid UTF-8 reads as U+FFFD. A last line without LF
 * counts; nothing after a final LF does.
 */
async function* linesOf(input: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    let end = pending.indexOf('\n');
    while (end !== -1) {
      yield withoutCarriageReturn(pending.slice(0, end));
      pending = pending.slice(end + 1);
      end = pending.indexOf('\n');
    }
  }
  pending += decoder.end();
  if (pending !== '') yield withoutCarriageReturn(pending);
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

async function workspaceKeywords(options: DatabaseOptions, io: CliIo): Promise<WorkspaceKeywords> {
  return withWorkspaces(options, io, { mustExist: true, readOnly: true }, async (_engine, [workspace]) => workspace?.settings.keywords ?? {});
}
