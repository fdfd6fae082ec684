import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config.js';
import { parseManifest } from '../src/manifest.js';

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    expect(loadConfig({})).toEqual({
      PORT: 3000,
      HOST: '0.0.0.0',
      DATABASE_PATH: './data/consentry.db',
      DATABASE_SYNCHRONOUS: 'NORMAL',
      PUBLIC_URL: undefined,
      LOG_LEVEL: 'info',
      HOOK_TARGETS_ALLOW_PRIVATE: false,
      RETENTION_DAYS: 30,
    });
  });

  it('reads every variable, treating empty ones as unset', () => {
    expect(
      loadConfig({
        PORT: '8080',
        HOST: '127.0.0.1',
        DATABASE_PATH: 'consentry.db',
        DATABASE_SYNCHRONOUS: 'full',
        PUBLIC_URL: 'https://consent.example.com/',
        LOG_LEVEL: 'WARN',
        HOOK_TARGETS_ALLOW_PRIVATE: 'True',
        RETENTION_DAYS: ' 400 ',
        UNRELATED: 'x',
      }),
    ).toEqual({
      PORT: 8080,
      HOST: '127.0.0.1',
      DATABASE_PATH: 'consentry.db',
      DATABASE_SYNCHRONOUS: 'FULL',
      PUBLIC_URL: 'https://consent.example.com',
      LOG_LEVEL: 'warn',
      HOOK_TARGETS_ALLOW_PRIVATE: true,
      RETENTION_DAYS: 400,
    });
    expect(loadConfig({ PORT: '', PUBLIC_URL: '  ', RETENTION_DAYS: '' })).toMatchObject({ PORT: 3000, PUBLIC_URL: undefined, RETENTION_DAYS: 30 });
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
  });

  it.each(['not a host!', '999.1.1.1', '10.0.0', 'host_name', '-edge.example.com', 'a..b', `${'a'.repeat(64)}.example.com`])('refuses HOST=%s naming HOST', (host) => {
    expect(problemsOf({ HOST: host })).toBe('HOST: must be an IP address or a host name');
  });

  it.each(['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'consentry-1.internal.example.com'])('accepts HOST=%s', (host) => {
    expect(loadConfig({ HOST: host }).HOST).toBe(host);
  });

  it.each(['6', '0', '3651', '30.5', '-30', '30d', '1e2', '99999'])('refuses RETENTION_DAYS=%s naming it and the range', (days) => {
    expect(problemsOf({ RETENTION_DAYS: days })).toBe('RETENTION_DAYS: must be a whole number of days from 7 to 3650');
  });

  it.each([['7', 7], ['3650', 3650], ['090', 90]])('accepts RETENTION_DAYS=%s', (days, expected) => {
    expect(loadConfig({ RETENTION_DAYS: days }).RETENTION_DAYS).toBe(expected);
  });

  it.each(['abc', '-1', '65536', '3000.5', '1e3', '99999999'])('refuses PORT=%s naming PORT', (port) => {
    expect(problemsOf({ PORT: port })).toBe('PORT: must be an integer between 0 and 65535');
  });

  it.each([
    ['true', true],
    ['TRUE', true],
    [' True ', true],
    ['1', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['', false],
    ['  ', false],
  ])('reads HOOK_TARGETS_ALLOW_PRIVATE=%j as %s', (value, expected) => {
    expect(loadConfig({ HOOK_TARGETS_ALLOW_PRIVATE: value }).HOOK_TARGETS_ALLOW_PRIVATE).toBe(expected);
  });

  it.each(['yes', 'on', '2', 'truee'])('refuses HOOK_TARGETS_ALLOW_PRIVATE=%s naming it', (value) => {
    expect(problemsOf({ HOOK_TARGETS_ALLOW_PRIVATE: value })).toBe('HOOK_TARGETS_ALLOW_PRIVATE: must be true, false, 1 or 0');
  });

  it('names each bad variable', () => {
    const message = problemsOf({ DATABASE_SYNCHRONOUS: 'sometimes', PUBLIC_URL: 'consent.example.com', LOG_LEVEL: 'loud', PORT: 'http', HOOK_TARGETS_ALLOW_PRIVATE: 'maybe' });
    expect(message.split('\n').sort()).toEqual([
      'DATABASE_SYNCHRONOUS: must be NORMAL or FULL',
      'HOOK_TARGETS_ALLOW_PRIVATE: must be true, false, 1 or 0',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      'PORT: must be an integer between 0 and 65535',
      'PUBLIC_URL: must be an http(s) URL such as https://consent.example.com',
    ]);
  });

  it.each([
    ['https://consent.example.com/?x=1#f', 'PUBLIC_URL: must not have a query (?...): paths are appended to it to build every link'],
    ['https://consent.example.com?', 'PUBLIC_URL: must not have a query (?...): paths are appended to it to build every link'],
    ['https://consent.example.com#frag', 'PUBLIC_URL: must not have a fragment (#...): paths are appended to it to build every link'],
    ['https://consent.example.com/#', 'PUBLIC_URL: must not have a fragment (#...): paths are appended to it to build every link'],
    ['https://ops:hunter2@consent.example.com', 'PUBLIC_URL: must not hold a user name or password: it is printed at start and published in the API docs'],
    ['https://ops@consent.example.com', 'PUBLIC_URL: must not hold a user name or password: it is printed at start and published in the API docs'],
    ['https://@consent.example.com', 'PUBLIC_URL: must not hold a user name or password: it is printed at start and published in the API docs'],
  ])('refuses PUBLIC_URL=%s, which cannot be the base of the links built on it', (url, message) => {
    expect(problemsOf({ PUBLIC_URL: url })).toBe(message);
  });

  it.each([
    ['https://consent.example.com/', 'https://consent.example.com'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['https://example.com/consentry/', 'https://example.com/consentry'],
  ])('accepts PUBLIC_URL=%s, without its trailing slash', (url, base) => {
    expect(loadConfig({ PUBLIC_URL: url }).PUBLIC_URL).toBe(base);
  });

  it('reads INITIAL_API_KEY_FILE as a path, empty as unset, and refuses a directory', () => {
    expect(loadConfig({ INITIAL_API_KEY_FILE: 'secrets/consentry-key' }).INITIAL_API_KEY_FILE).toBe('secrets/consentry-key');
    expect(loadConfig({ INITIAL_API_KEY_FILE: ' ' }).INITIAL_API_KEY_FILE).toBeUndefined();
    expect(problemsOf({ INITIAL_API_KEY_FILE: 'secrets/' })).toBe('INITIAL_API_KEY_FILE: must name a file, not a directory');
  });

  it('lists every variable it reads, the connectors included, in the order of the schema', () => {
    expect(CONFIG_VARIABLES.slice(0, 3)).toEqual(['PORT', 'HOST', 'DATABASE_PATH']);
    expect(CONFIG_VARIABLES).toEqual(
      expect.arrayContaining(['PUBLIC_URL', 'INITIAL_API_KEY_FILE', 'HUBSPOT_ACCESS_TOKEN', 'HUBSPOT_CLIENT_SECRET', 'SLACK_BOT_TOKEN', 'SLACK_ALLOWED_USERS']),
    );
  });
});

const TOKEN = 'metrics-scrape-token-0123456789abcdef';


describe('METRICS_TOKEN', () => {
  it('is optional: unset or empty leaves /metrics open', () => {
    expect(loadConfig({}).METRICS_TOKEN).toBeUndefined();
    expect(loadConfig({ METRICS_TOKEN: '  ' }).METRICS_TOKEN).toBeUndefined();
  });

  it.each([TOKEN, 'a'.repeat(16), 'q83vEjRWcmOVq2qM1YBAsF0IH0f7lVGlMVxs5/+bq2o=', `${'0123456789abcdef'.repeat(4)}`])('accepts %s', (token) => {
    expect(loadConfig({ METRICS_TOKEN: token }).METRICS_TOKEN).toBe(token);
  });

  it('drops the line end a value read from a file keeps', () => {
    expect(loadConfig({ METRICS_TOKEN: `${TOKEN}\n` }).METRICS_TOKEN).toBe(TOKEN);
  });

  it.each(['short-token', 'a'.repeat(15), 'has a space in it 0123456789', 'quote"in-the-middle-0123456789', 'x'.repeat(1025), 'padding=in-the-middle-0123456789'])(
    'refuses %s naming the variable, without echoing the value',
    (token) => {
      const message = problemsOf({ METRICS_TOKEN: token });
      expect(message).toBe(
        'METRICS_TOKEN: must be 16 to 1024 characters of letters, digits and - . _ ~ + / (then any = padding), as a bearer token is written (RFC 6750); e.g. the output of openssl rand -hex 32',
      );
      expect(message).not.toContain(token.trim());
    },
  );

  it('is listed with the variables the configuration reads, and in manifest.json as a secret', () => {
    expect(CONFIG_VARIABLES).toContain('METRICS_TOKEN');
    const manifest = parseManifest(JSON.parse(readFileSync(new URL('../manifest.json', import.meta.url), 'utf8')));
    expect(manifest.server.configuration).toContainEqual(expect.objectContaining({ env: 'METRICS_TOKEN', required: false, secret: true }));
  });
});
