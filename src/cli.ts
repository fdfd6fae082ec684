import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { isConsentryError } from './core/errors.js';
import { classifyCommand } from './cli/classify.js';
import { withEngine, type DatabaseOptions } from './cli/database.js';
import { exportCommand } from './cli/export.js';
import { importCsv, printImportSummary } from './cli/import.js';
import { registerHubspotCommand } from './cli/hubspot.js';
import { registerKeysCommand } from './cli/keys.js';
import type { CliIo } from './cli/io.js';
import { CliFailure, processIo, writeLine } from './cli/io.js';
import { registerServeCommand } from './cli/serve.js';
import { simulateCommand } from './cli/simulate.js';
import { registerSlackCommand } from './cli/slack.js';

function databaseOptions(command: Command): Command {
  return command
    .option('--db <path>', 'SQLite database file (default: $DATABASE_PATH or ./data/consentry.db)')
    .option('--workspace <id-or-name>', 'workspace to use (default: the first one)');
}

export function buildProgram(io: CliIo, outcome: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command()
    .name('consentry')
    .description('Consent and subscription engine: keywords, consent workflows, a provable consent ledger.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showHelpAfterError();

  program
    .command('classify')
    .description('Recognise an opt-in / opt-out / help keyword; without TEXT, classify each line of stdin')
    .argument('[text]', 'the message text')
    .action((text: string | undefined) => classifyCommand(text, io));

  program
    .command('simulate')
    .description('Chat with a workflow in the terminal, or replay a JSON transcript with --script')
    .requiredOption('--template <id>', 'workflow template (request-consent-privacy, welcome-request-email, welcome-request-phone)')
    .option('--channel <channel>', 'channel to simulate', 'whatsapp')
    .option('--script <file.json>', 'replay this transcript and print JSON lines')
    .action((options: { template: string; channel: string; script?: string }) => simulateCommand(options, io));

  databaseOptions(
    program
      .command('import')
      .description('Bulk consent changes from CSV (columns: email|phone|contact_id, purpose, channel, status, legal_basis, explanation[, occurred_at, idempotency_key])')
      .argument('<file.csv>', 'the CSV file')
      .option('--actor <id>', 'who is importing (recorded as the actor)', 'cli'),
  ).action(async (file: string, options: DatabaseOptions & { actor: string }) => {
    const summary = await withEngine(options, io, (_engine, workspace) => importCsv(workspace, file, io, options.actor));
    printImportSummary(summary, io);
    if (summary.failed.length > 0) outcome.exitCode = 1;
  });

  databaseOptions(
    program
      .command('export')
      .description('Export the consent ledger')
      .option('--format <format>', 'csv or json', 'csv'),
  ).action((options: DatabaseOptions & { format: string }) =>
    withEngine(options, io, (engine, workspace) => exportCommand(engine, workspace, options.format, io)),
  );

  databaseOptions(program.command('verify').description('Verify the hash chain of the consent ledger and the materialised statuses')).action(
    async (options: DatabaseOptions) => {
      const report = await withEngine(options, io, (_engine, workspace) => workspace.verifyLedger());
      writeLine(io.stdout, JSON.stringify(report));
      if (!report.ok) throw new CliFailure(report.chain.ok ? 'Materialised consent statuses differ from the ledger' : `Ledger tampered: ${report.chain.firstBad.message}`);
    },
  );

  databaseOptions(
    program.command('history').description("Print a contact's consent history (one JSON line per record)").argument('<contact>', 'contact id, email or phone'),
  ).action((contact: string, options: DatabaseOptions) =>
    withEngine(options, io, async (_engine, workspace) => {
      const id = await resolveContactId(workspace, contact);
      for (const record of await workspace.getHistory(id)) writeLine(io.stdout, JSON.stringify(record));
    }),
  );

  registerServeCommand(program, io);
  registerKeysCommand(program, io);
  registerHubspotCommand(program, io, outcome);
  registerSlackCommand(program, io);

  return program;
}

async function resolveContactId(workspace: import('./engine.js').WorkspaceEngine, key: string): Promise<string> {
  const query = key.includes('@') ? { email: key } : /^\+?[\d\s().-]{6,}$/.test(key) ? { phone: key } : null;
  if (query) {
    const found = await workspace.findContacts({ ...query, limit: 1 });
    const contact = found.contacts[0];
    if (!contact) throw new CliFailure(`No contact with ${key}`);
    return contact.id;
  }
  return (await workspace.getContact(key)).id;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const outcome = { exitCode: 0 };
  const program = buildProgram(io, outcome);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return outcome.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof CliFailure) {
      writeLine(io.stderr, `error: ${error.message}`);
      return error.exitCode;
    }
    if (isConsentryError(error)) {
      writeLine(io.stderr, `error [${error.code}]: ${error.message}`);
      return 1;
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
