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
        UNRELATED: 'x',
      }),
    ).toEqual({
      PORT: 8080,
      HOST: '127.0.0.1',
      DATABASE_PATH: 'consentry.db',
      DATABASE_SYNCHRONOUS: 'FULL',
      PUBLIC_URL: 'https://consent.example.com',
      LOG_LEVEL: 'warn',
    });
    expect(loadConfig({ PORT: '', PUBLIC_URL: '  ' })).toMatchObject({ PORT: 3000, PUBLIC_URL: undefined });
    expect(loadConfig({ PORT: '0' }).PORT).toBe(0);
  });

  it.each(['abc', '-1', '65536', '3000.5', '1e3', '99999999'])('refuses PORT=%s naming PORT', (port) => {
    expect(problemsOf({ PORT: port })).toBe('PORT: must be an integer between 0 and 65535');
  });

  it('names each bad variable', () => {
    const message = problemsOf({ DATABASE_SYNCHRONOUS: 'sometimes', PUBLIC_URL: 'consent.example.com', LOG_LEVEL: 'loud', PORT: 'http' });
    expect(message.split('\n').sort()).toEqual([
      'DATABASE_SYNCHRONOUS: must be NORMAL or FULL',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      'PORT: must be an integer between 0 and 65535',
      'PUBLIC_URL: must be an http(s) URL such as https://consent.example.com',
    ]);
  });
});
