import { createInterface } from 'node:readline';
import { classifyKeyword } from '../core/keywords.js';
import type { CliIo } from './io.js';
import { writeLine } from './io.js';

/** One JSON line per text: the argument, or each line of stdin in order. */
export async function classifyCommand(text: string | undefined, io: CliIo): Promise<void> {
  if (text !== undefined) {
    writeLine(io.stdout, JSON.stringify(classifyKeyword(text)));
    return;
  }
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  for await (const line of lines) writeLine(io.stdout, JSON.stringify(classifyKeyword(line)));
}
