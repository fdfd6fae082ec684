import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../src/config.js';
import { cli } from './helpers.js';

/** Help text as one line: commander wraps it to the terminal's width. */
const flat = (text: string) => text.replace(/\s+/g, ' ');

describe('--help tells the operator what the README does', () => {
  it('serve --help lists every variable the configuration reads, the connectors and INITIAL_API_KEY_FILE included', async () => {
    const run = await cli(['serve', '--help']);
    expect(run.code).toBe(0);
    const listed = new Set(run.stdout.split(/[\s,;()]+/));
    for (const variable of CONFIG_VARIABLES) expect(listed).toContain(variable);
    for (const variable of [
      'HUBSPOT_ACCESS_TOKEN',
      'HUBSPOT_CLIENT_SECRET',
      'HUBSPOT_DEVELOPER_API_KEY',
      'HUBSPOT_PORTAL_ID',
      'HUBSPOT_EMAIL_SUBSCRIPTION_ID',
      'SLACK_BOT_TOKEN',
      'SLACK_SIGNING_SECRET',
      'SLACK_ALERT_CHANNEL',
      'SLACK_ALLOWED_USERS',
      'INITIAL_API_KEY_FILE',
    ]) {
      expect(listed).toContain(variable);
    }
  });

  it('import --help says how to finish an interrupted import without recording a row twice', async () => {
    const run = await cli(['import', '--help']);
    expect(run.code).toBe(0);
    const help = flat(run.stdout);
    expect(help).toContain('An import that is killed or interrupted keeps the rows it had committed (500 to a transaction) and none of the others.');
    expect(help).toContain('Ctrl-C (SIGINT) or SIGTERM lets the transaction under way finish, then says how many rows were committed and through which line (exit code 130).');
    expect(help).toContain('Run the same file again to finish it: the re-run records nothing twice');
    expect(help).toContain("a row without one is keyed by the file's SHA-256 and its line");
  });
});
