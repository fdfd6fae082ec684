import { describe, expect, it } from 'vitest';
import { cli, stderrLines } from '../../cli/helpers.js';

describe('consentry slack manifest refuses a URL Slack cannot call, naming where it came from', () => {
  it.each([
    ['http://consent.example.com', 'error: --url must be an https URL, such as https://consent.example.com, not http://…: Slack calls request URLs over https only'],
    [
      'consent.example.com',
      'error: --url must be the https address this server is reached at, such as https://consent.example.com or https://example.com/consentry, not "consent.example.com"',
    ],
    [
      'https://consent.example.com/?x=1',
      'error: --url must be the https address this server is reached at, such as https://consent.example.com or https://example.com/consentry, without a query, a fragment or a user name and password',
    ],
    [
      'https://ops:hunter2@consent.example.com',
      'error: --url must be the https address this server is reached at, such as https://consent.example.com or https://example.com/consentry, without a query, a fragment or a user name and password',
    ],
  ])('--url %s', async (url, line) => {
    const run = await cli(['slack', 'manifest', '--url', url]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(stderrLines(run)).toEqual([line]);
    expect(run.stderr).not.toContain('hunter2');
  });

  it('names PUBLIC_URL when the URL came from there', async () => {
    const run = await cli(['slack', 'manifest'], { env: { PUBLIC_URL: 'http://consent.example.com' } });
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual(['error: PUBLIC_URL must be an https URL, such as https://consent.example.com, not http://…: Slack calls request URLs over https only; or pass --url']);
  });

  it('takes an https --url over an http PUBLIC_URL, keeping a path prefix', async () => {
    const run = await cli(['slack', 'manifest', '--url', 'https://example.com/consentry/'], { env: { PUBLIC_URL: 'http://127.0.0.1:3000' } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"request_url": "https://example.com/consentry/slack/events"');
  });
});
