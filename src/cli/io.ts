import type { Readable, Writable } from 'node:stream';
import { CONTROL_OR_BIDI_CHARACTER } from '../core/contact.js';
import { isConsentryError, type ErrorCode } from '../core/errors.js';

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

const UNPRINTABLE = new RegExp(CONTROL_OR_BIDI_CHARACTER.source, 'g');

/**
 * A name as a cell of the tab-separated `keys list` and `workspaces list`, and as a one-line
 * message names it. The engine and the commands' options refuse a control or bidirectional
 * formatting character, but a name written by an older version may hold one: it is shown as its
 * code point, so it cannot split a row or a message, or shift a column.
 */
export function cell(name: string): string {
  return name.replace(UNPRINTABLE, (character) => `[U+${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** A workspace as every command's report and messages name it: `"Sales" (01…)`, its name on one line (cell). */
export function workspaceLabel(workspace: { id: string; name: string }): string {
  return `"${cell(workspace.name)}" (${workspace.id})`;
}

/**
 * The exit codes every command keeps to, so that a script can tell "fix the input and run it
 * again" (2) from "look at what was done" (1). 128 + the signal's number for an interruption, as a
 * shell reports a command Ctrl-C (SIGINT, 2) stopped.
 */
export const EXIT_CODES = {
  done: 0,
  /** Done in part (rows rejected, a ledger read cut short), a check failed (verify), or the command failed on the way. */
  failed: 1,
  /** Refused before anything was written: a usage error, a bad option value, a file missing, unreadable or not in the form expected. */
  refused: 2,
  /** Interrupted (SIGINT, SIGTERM): what was committed before stays. */
  interrupted: 130,
} as const;

/** The exit codes, as the top-level `--help` and each command's help speak of them. */
export const EXIT_CODES_HELP = `
Exit codes (every command):
  0    done
  1    done in part or a check failed: rows rejected, a ledger that does not
       verify, a read cut short, or a failure on the way (see its message)
  2    refused, nothing written: a usage error, a bad option value, a file
       that is missing, unreadable, not UTF-8 or without a valid header
  130  interrupted (Ctrl-C, SIGTERM): what was committed before stays
`;

/** The same, in one sentence, for the end of each command's help. */
export const COMMAND_EXIT_CODES_HELP = `
Exit codes: 0 done; 1 done in part or a check failed; 2 refused, nothing
written (a usage error, a bad option value, a file it cannot take); 130
interrupted. See consentry --help.
`;

/** A command's failure: printed on stderr, the process exits with `exitCode`. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_CODES.failed,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A command that refused before it wrote anything: a usage error, a bad option or argument, an input it cannot take. */
export class CliRefusal extends CliFailure {
  constructor(message: string) {
    super(message, EXIT_CODES.refused);
    this.name = 'CliRefusal';
  }
}

/**
 * How each of the engine's error codes ends a command. A refusal of what the command gave it (a
 * value, a name, a template) rolled its transaction back, so nothing was written; the others (a
 * damaged or busy database, a full disk, a tampered ledger) are failures on the way. A record over
 * every code, so a new code does not compile until it is placed.
 */
const EXIT_OF_ERROR_CODE: Readonly<Record<ErrorCode, 'refused' | 'failed'>> = {
  VALIDATION_FAILED: 'refused',
  LEGAL_BASIS_REQUIRED: 'refused',
  EXPLANATION_REQUIRED: 'refused',
  INVALID_EMAIL: 'refused',
  INVALID_PHONE: 'refused',
  NOT_FOUND: 'refused',
  CONFLICT: 'refused',
  CONTACT_ERASED: 'refused',
  CONTACT_UNREACHABLE: 'refused',
  UNKNOWN_TEMPLATE: 'refused',
  INVALID_WORKFLOW: 'refused',
  KEYWORD_NOT_REMOVABLE: 'refused',
  TAG_NEEDS_CONSENT: 'refused',
  PAYLOAD_TOO_LARGE: 'refused',
  LEDGER_TAMPERED: 'failed',
  TOO_MANY_REQUESTS: 'failed',
  UNAUTHORIZED: 'failed',
  STORE_CORRUPT: 'failed',
  STORE_BUSY: 'failed',
  STORE_FULL: 'failed',
};

/** Why a file could not be read, in plain words; the system's own message for the rarer reasons. */
const UNREADABLE: Partial<Record<string, string>> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file (a part of the path is not a directory)',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
};

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}

/** Why a file cannot be read, in the words `cannotRead` uses (`no such file`, `permission denied`, ...). */
export function unreadableReason(error: unknown): string {
  return isErrnoException(error) ? ((error.code === undefined ? undefined : UNREADABLE[error.code]) ?? error.message) : String(error);
}

/** Why this user may not create a file in `directory`, in the words every command uses for it. */
export function cannotCreateFilesIn(directory: string): string {
  return `this user cannot create files in ${directory}`;
}

/**
 * Why no new file can be created in `directory`, from the error that creating it (or testing the
 * directory) gave, in the words `backup`, `import --report` and the opening of a database use;
 * undefined for an error that is not about the directory.
 */
export function whyCannotCreate(directory: string, error: unknown): string | undefined {
  switch (isErrnoException(error) ? error.code : undefined) {
    case 'ENOENT':
      return `the directory ${directory} does not exist`;
    case 'ENOTDIR':
      return `a part of the path ${directory} is not a directory`;
    case 'EACCES':
    case 'EPERM':
      return cannotCreateFilesIn(directory);
    case 'EROFS':
      return `${directory} is on a read-only file system`;
    default:
      return undefined;
  }
}

/** A file a command was given that cannot be read, said as `Cannot read <path>: <why>` (exit code 2). */
export function cannotRead(path: string, error: unknown): CliRefusal {
  return new CliRefusal(`Cannot read ${path}: ${unreadableReason(error)}`);
}

/** The exit code a command's failure ends it with (EXIT_CODES); a failure no command made (a bug) is `failed`. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliFailure) return error.exitCode;
  if (isConsentryError(error)) return EXIT_CODES[EXIT_OF_ERROR_CODE[error.code]];
  return EXIT_CODES.failed;
}

/**
 * An option whose value must say something: commander hands `--token ""` to the command as an
 * empty string, which would otherwise be stored or sent as if it were a value.
 */
export function nonBlankOption(flag: string, mustSay: string, maxLength: number): (value: string) => string {
  return (value) => {
    if (value.trim() === '') throw new CliRefusal(`${flag} must ${mustSay}, not be empty`);
    if (value.length > maxLength) throw new CliRefusal(`${flag} must be at most ${maxLength} characters, not ${value.length}`);
    return value;
  };
}
