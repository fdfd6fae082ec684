import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.js';
import { ManifestSchema, parseManifest } from '../src/manifest.js';

const raw: unknown = JSON.parse(readFileSync(new URL('../manifest.json', import.meta.url), 'utf8'));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

describe('manifest.json', () => {
  it('parses against its schema', () => {
    const manifest = parseManifest(raw);
    expect(manifest.name).toBe('consentry');
    expect(manifest.connectors.length).toBeGreaterThan(0);
  });

  it('carries the package version', () => {
    expect(parseManifest(raw).version).toBe(pkg.version);
  });

  it('refuses duplicate connector ids and unknown top-level keys', () => {
    const manifest = parseManifest(raw);
    const first = manifest.connectors[0];
    expect(first).toBeDefined();
    expect(ManifestSchema.safeParse({ ...manifest, connectors: [first, first] }).success).toBe(false);
    expect(ManifestSchema.safeParse({ ...manifest, extra: true }).success).toBe(false);
  });

  it('describes every environment variable the server reads', () => {
    const manifest = parseManifest(raw);
    const described = new Set([
      ...manifest.server.configuration.map((entry) => entry.env),
      ...manifest.connectors.flatMap((connector) => (connector.configuration ?? []).map((entry) => entry.env)),
    ]);
    expect(CONFIG_VARIABLES.filter((variable) => !described.has(variable))).toEqual([]);
  });

  it('names an environment variable only in upper snake case', () => {
    const manifest = parseManifest(raw);
    const broken = { ...manifest, server: { configuration: [{ key: 'port', env: 'port', description: 'x', required: false }] } };
    expect(ManifestSchema.safeParse(broken).success).toBe(false);
  });
});
