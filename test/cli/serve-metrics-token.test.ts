import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cli, stderrLines } from './helpers.js';
import { killServersAfterEach, serve } from './served.js';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-metrics-token-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

killServersAfterEach();

describe('consentry serve with METRICS_TOKEN', () => {
  it('serves /metrics only to a request bearing the token, and never prints or logs the token', async () => {
    const served = await serve(join(dir, 'consentry.db'), { METRICS_TOKEN: TOKEN, LOG_LEVEL: 'debug' });
    await served.waitFor('Ready in');
    const url = `http://127.0.0.1:${served.port}/metrics`;
    const refused = await fetch(url);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="consentry-metrics"');
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const wrong = await fetch(url, { headers: { authorization: 'Bearer not-the-metrics-token-0123456789' } });
    expect(wrong.status).toBe(401);
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('consentry_worker_lease_held');
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
    expect(served.output()).toContain('"url":"/metrics"');
    expect(served.output()).not.toContain(TOKEN);
  }, 60_000);

  it('refuses a bad token at start, naming the variable and not the value', async () => {
    const run = await cli(['serve'], { env: { DATABASE_PATH: join(dir, 'consentry.db'), METRICS_TOKEN: 'tooshort', HOST: '127.0.0.1', PORT: '0' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([
      'error: invalid configuration',
      'METRICS_TOKEN: must be 16 to 1024 characters of letters, digits and - . _ ~ + / (then any = padding), as a bearer token is written (RFC 6750); e.g. the output of openssl rand -hex 32',
    ]);
    expect(run.stderr).not.toContain('tooshort');
  });

  it('is listed by serve --help', async () => {
    const run = await cli(['serve', '--help']);
    expect(run.stdout.split(/[\s,]+/)).toContain('METRICS_TOKEN');
  });
});
