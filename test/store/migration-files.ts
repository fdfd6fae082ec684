import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { SqliteStore } from '../../src/store/sqlite.js';

/**
 * Database files for a migration's tests, each in a directory of its own, and the stores opened
 * on them: after each test the stores are closed and the directories removed.
 */
export function migrationFiles(version: number): { tempFile(): string; opened(store: SqliteStore): SqliteStore } {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  return {
    tempFile() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `consentry-migration-${version}-`));
      dirs.push(dir);
      return path.join(dir, 'consentry.db');
    },
    opened(store) {
      stores.push(store);
      return store;
    },
  };
}
