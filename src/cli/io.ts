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

/**
 * An option whose value must say something: commander hands `--token ""` to the command as an
 * empty string, which would otherwise be stored or sent as if it were a value.
 */
export function nonBlankOption(flag: string, mustSay: string, maxLength: number): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new CliFailure(`${flag} must ${mustSay}, not be empty`);
    if (value.length > maxLength) throw new CliFailure(`${flag} must be at most ${maxLength} characters, not ${value.length}`);
    return value;
  };
}
