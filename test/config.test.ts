import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

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
    });
    expect(loadConfig({ PORT: '', PUBLIC_URL: '  ' })).toMatchObject({ PORT: 3000, PUBLIC_URL: undefined });
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
  });

  it.each(['not a host!', '999.1.1.1', '10.0.0', 'host_name', '-edge.example.com', 'a..b', `${'a'.repeat(64)}.example.com`])('refuses HOST=%s naming HOST', (host) => {
    expect(problemsOf({ HOST: host })).toBe('HOST: must be an IP address or a host name');
  });

  it.each(['0.0.0.0', '127.0.0.1', '::', '::1', 'localhost', 'consentry-1.internal.example.com'])('accepts HOST=%s', (host) => {
    expect(loadConfig({ HOST: host }).HOST).toBe(host);
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
});
