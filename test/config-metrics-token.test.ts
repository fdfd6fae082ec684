import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config.js';
import { parseManifest } from '../src/manifest.js';

const TOKEN = 'metrics-scrape-token-0123456789abcdef';

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

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
