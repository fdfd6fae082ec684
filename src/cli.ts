import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isConsentryError } from './core/errors.js';
import { backupCommand } from './cli/backup.js';
import { classifyCommand } from './cli/classify.js';
import { databasePath, DB_HELP, DB_OPTION, withWorkspaces, type DatabaseOptions } from './cli/database.js';
import { exportCommand, parseExportFormat, type ExportFormat } from './cli/export.js';
import { historyCommand } from './cli/history.js';
import { countryOptionHelp, parseCountryOption } from './cli/country-option.js';
import { IMPORT_EXIT_HELP, importCommand, IMPORT_RERUN_HELP, parseActorOption, type ImportCommandOptions } from './cli/import.js';
import { registerHubspotCommand } from './cli/hubspot.js';
import { registerKeysCommand } from './cli/keys.js';
import type { CliIo } from './cli/io.js';
import { CliFailure, COMMAND_EXIT_CODES_HELP, EXIT_CODES, EXIT_CODES_HELP, exitCodeOf, processIo, writeLine } from './cli/io.js';
import { registerServeCommand } from './cli/serve.js';
import { simulateCommand } from './cli/simulate.js';
import { registerSlackCommand } from './cli/slack.js';
import { EXPECT_HEAD_HELP, parseExpectHead, verifyCommand, type ExpectedHead } from './cli/verify.js';
import { registerWorkspacesCommand } from './cli/workspaces.js';
import { packageVersion } from './worker/version.js';

function databaseOptions(command: Command): Command {
  return command.option(DB_OPTION, DB_HELP).option('--workspace <id-or-name>', 'workspace to use (default: the first one)');
}

/** For the commands that read every workspace unless told otherwise. */
function readOptions(command: Command): Command {
  return command.option(DB_OPTION, DB_HELP).option('--workspace <id-or-name>', 'only this workspace (id, or name in any letter case)');
}

export function buildProgram(io: CliIo, outcome: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command()
    .name('consentry')
    .description('Consent and subscription engine: keywords, consent workflows, a provable consent ledger.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('classify')
    .description("Recognise an opt-in / opt-out / help keyword; without TEXT, classify each line of stdin; with --workspace, with that workspace's own keywords")
    .argument('[text]', 'the message text')
    .option(DB_OPTION, DB_HELP)
    .option('--workspace <id-or-name>', "read with this workspace's keywords (added and switched-off words); default: the built-in table, no database")
    .action((text: string | undefined, options: DatabaseOptions) => classifyCommand(text, options, io));

  program
    .command('simulate')
    .description('Chat with a workflow in the terminal, or replay a JSON transcript with --script')
    .option('--template <id>', 'workflow template (request-consent-privacy, welcome-request-email, welcome-request-phone); a script names its own')
    .option('--channel <channel>', 'channel to simulate (default whatsapp); a script names its own')
    .option('--script <file.json>', 'replay this transcript and print JSON lines; its "start" (when the simulated clock starts) is an RFC 3339 time with Z or an offset, e.g. 2026-03-01T10:00:00+01:00')
    .action((options: { template?: string; channel?: string; script?: string }) => simulateCommand(options, io));

  databaseOptions(
    program
      .command('import')
      .description('Bulk consent changes from CSV (columns: email|phone|contact_id, purpose, channel, status, legal_basis, explanation[, occurred_at, idempotency_key])')
      .argument('<file.csv>', 'the CSV file')
      .option('--actor <id>', 'who is importing (recorded as the actor)', parseActorOption, 'cli')
      .option('--country <code>', countryOptionHelp('the phone numbers'), parseCountryOption)
      .option('--report <file.csv>', 'write the rejected rows, as read, to this CSV file, after columns line, field and message (a new file, or the report of an earlier import)')
      .option('--json', 'print the summary as one JSON object instead of sentences (the rejected rows are still named on stderr)')
      .option(
        '--allow-erased',
        'record opt-in rows that create a contact with the e-mail or phone of an erased contact, or opt in a contact an earlier opt-out row made with one (refused without it: an old export must not opt an erased person in again)',
      )
      .addHelpText('after', IMPORT_RERUN_HELP + IMPORT_EXIT_HELP),
  ).action(async (file: string, options: ImportCommandOptions) => {
    outcome.exitCode = await importCommand(file, options, io);
  });

  readOptions(
    program
      .command('export')
      .description('Export the consent ledger of every workspace (or of --workspace), in chain order')
      .option('--format <format>', 'csv or json', parseExportFormat, 'csv')
      .option('--no-bom', 'CSV without the UTF-8 byte order mark Excel needs to read accented letters right'),
  ).action(async (options: DatabaseOptions & { format: ExportFormat; bom: boolean }) => {
    const summary = await withWorkspaces(options, io, { mustExist: true, readOnly: true }, (engine, workspaces) =>
      exportCommand(engine, workspaces, { format: options.format, bom: options.bom, database: databasePath(options, io) }, io),
    );
    if (summary.unreadable > 0) outcome.exitCode = EXIT_CODES.failed;
  });

  readOptions(
    program
      .command('verify')
      .description(
        "Verify every workspace's hash chain (or --workspace's), its materialised statuses and the database's append-only guards, and the ledger heads given with --expect-head; one JSON line per workspace, exit code 1 when anything fails",
      )
      .option('--expect-head <[workspace:]seq:hash>', EXPECT_HEAD_HELP, parseExpectHead),
  ).action(async (options: DatabaseOptions & { expectHead?: ExpectedHead[] }) => {
    await withWorkspaces(options, io, { mustExist: true, readOnly: true }, (engine, workspaces, store) =>
      verifyCommand(engine, store, workspaces, { expectHeads: options.expectHead ?? [], database: databasePath(options, io), workspace: options.workspace }, io),
    );
  });

  program
    .command('backup')
    .description("Copy the database, while a server may be writing to it, into FILE (a new file), with SQLite's online backup; the copy is integrity-checked")
    .argument('<file>', 'the backup file to write; must not exist yet')
    .option(DB_OPTION, DB_HELP)
    .action(async (file: string, options: DatabaseOptions) => {
      await backupCommand(options, file, io);
    });

  readOptions(
    program
      .command('history')
      .description("Print a contact's consent history (one JSON line per record), looked up in every workspace unless --workspace names one")
      .argument('<contact>', 'contact id, email or phone')
      .option('--country <code>', countryOptionHelp('a phone number'), parseCountryOption),
  ).action(async (contact: string, options: DatabaseOptions & { country?: string }) => {
    const summary = await withWorkspaces(options, io, { mustExist: true, readOnly: true }, (engine, workspaces) =>
      historyCommand(engine, workspaces, contact, io, options.country ?? null, databasePath(options, io), options.workspace !== undefined),
    );
    if (summary.unreadable > 0) outcome.exitCode = EXIT_CODES.failed;
  });

  registerServeCommand(program, io);
  registerKeysCommand(program, io);
  registerWorkspacesCommand(program, io, outcome);
  registerHubspotCommand(program, io, outcome);
  registerSlackCommand(program, io);
  withExitCodesInHelp(program.commands);

  return program;
}

/** Each command's help ends with the exit codes (`import` says what each means for it). */
function withExitCodesInHelp(commands: readonly Command[]): void {
  for (const command of commands) {
    if (command.name() !== 'import') command.addHelpText('after', COMMAND_EXIT_CODES_HELP);
    withExitCodesInHelp(command.commands);
  }
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const outcome = { exitCode: 0 };
  const program = buildProgram(io, outcome);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return outcome.exitCode;
  } catch (error) {
    // Commander's own refusals (an unknown command or option, a missing argument, no command at all) are usage errors.
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_CODES.done : EXIT_CODES.refused;
    if (error instanceof CliFailure) {
      writeLine(io.stderr, `error: ${error.message}`);
      return error.exitCode;
    }
    if (isConsentryError(error)) {
      writeLine(io.stderr, `error [${error.code}]: ${error.message}`);
      return exitCodeOf(error);
    }
    throw error;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
