import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const PackageJsonSchema = z.object({ name: z.string(), version: z.string() });

/**
 * The package's version, read from its package.json (found upwards from this module, so it
 * works from `src/` under tsx and from `dist/src/` once built); `0.0.0` when not found.
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    try {
      const parsed = PackageJsonSchema.safeParse(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
      if (parsed.success && parsed.data.name === 'consentry') return parsed.data.version;
    } catch {
      // No readable package.json at this level: keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return '0.0.0';
}

export const WEBHOOK_USER_AGENT = `Consentry-Webhooks/${packageVersion()}`;
