import type { Readable, Writable } from 'node:stream';

/** The CLI's streams and environment, injected so commands can be tested in-process. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

let quietOnClosedPipe = false;

export function processIo(): CliIo {
  if (!quietOnClosedPipe) {
    quietOnClosedPipe = true;
    // `consentry export | head` closes the pipe early: the reader has what it wanted, so stop
    // quietly, as Unix tools do, instead of dying on an unhandled EPIPE.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

export function writeLine(stream: Writable, line: string): void {
  stream.write(`${line}\n`);
}

/** A command's failure: printed on stderr, the process exits with `exitCode`. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}
