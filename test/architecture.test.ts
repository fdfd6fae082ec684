import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
/** Node modules that reach the world (files, network, processes, timers). */
const IO_MODULES = /^node:(fs|fs\/promises|http|https|http2|net|tls|dgram|dns|child_process|cluster|worker_threads|os|process|timers|timers\/promises|readline|vm)$/;
const VENDOR = /^(@hubspot\/|@slack\/|zapier-platform|better-sqlite3|fastify|got|pino|commander|msw)/;

describe('architecture', () => {
  const coreFiles = sourceFiles(join(root, 'src/core'));

  it('finds the core files', () => {
    expect(coreFiles.length).toBeGreaterThan(5);
  });

  it.each(coreFiles.map((f) => [relative(root, f), f]))('%s stays pure', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const imports = [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? '');
    for (const spec of imports) {
      expect(spec, `import of ${spec}`).not.toMatch(IO_MODULES);
      expect(spec, `import of ${spec}`).not.toMatch(VENDOR);
      expect(spec, `import of ${spec}`).not.toMatch(/(^|\/)(connectors|zapier|server|store|worker)\//);
      if (spec.startsWith('.')) expect(spec, `import of ${spec}`).not.toMatch(/^\.\.\/\.\.\/(?!core)/);
    }
    expect(text).not.toMatch(/process\.env/);
    expect(text).not.toMatch(/Date\.now\(\)|new Date\(\)/);
    expect(text).not.toMatch(/\bset(Timeout|Interval|Immediate)\(/);
    expect(text).not.toMatch(/Math\.random\(/);
  });

  it('keeps @hubspot/api-client behind connectors/hubspot/client.ts', () => {
    const offenders = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'connectors'))].filter((file) => {
      if (relative(root, file) === join('connectors', 'hubspot', 'client.ts')) return false;
      return /from\s+['"]@hubspot\/api-client['"]/.test(readFileSync(file, 'utf8'));
    });
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });
});
