import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/consentry.js', import.meta.url));
const MISSING_DIST = 'error: dist/ is missing: run npm run build (npm install runs it)\n';

let dir: string;

/** A copy of the package's layout in a directory of its own: package.json (an ES module package, as the real one) and bin/consentry.js, and no dist/. */
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'consentry-bin-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(BIN, join(dir, 'bin', 'consentry.js'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consentry', type: 'module' }));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the copied bin with `args`, as `npx consentry` or `npm start` would. */
function runBin(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [join(dir, 'bin', 'consentry.js'), ...args], { encoding: 'utf8', cwd: dir });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Writes a built file under the copy's dist/. */
function built(path: string, text: string): void {
  const file = join(dir, 'dist', path);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
}

describe('bin/consentry.js without dist/', () => {
  it('says in one line that dist/ is missing and how to build it, with exit code 2', () => {
    for (const args of [['serve'], ['--version'], []]) {
      const run = runBin(...args);
      expect(run.stderr).toBe(MISSING_DIST);
      expect(run.stdout).toBe('');
      expect(run.status).toBe(2);
    }
  });

  it('says the same when dist/ is there without the command line entry', () => {
    built('src/index.js', 'export {};\n');
    const run = runBin('serve');
    expect(run.stderr).toBe(MISSING_DIST);
    expect(run.status).toBe(2);
  });
});

describe('bin/consentry.js with dist/', () => {
  it('runs the built entry with the arguments and exits with its code', () => {
    built('src/cli.js', "export async function runCli(argv) { process.stdout.write(JSON.stringify(argv) + '\\n'); return 3; }\n");
    const run = runBin('history', 'ana@example.com');
    expect(run.stdout).toBe('["history","ana@example.com"]\n');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(3);
  });

  it('does not take a module the entry imports, missing from a broken build, for a missing dist/', () => {
    built('src/cli.js', "export { runCli } from './cli/absent.js';\n");
    const run = runBin('serve');
    expect(run.stderr).not.toContain('dist/ is missing');
    expect(run.stderr).toContain('ERR_MODULE_NOT_FOUND');
    expect(run.stderr).toContain(join(dir, 'dist', 'src', 'cli', 'absent.js'));
    expect(run.status).toBe(1);
  });

  it('does not take any other failure of the entry for a missing dist/', () => {
    built('src/cli.js', "export async function runCli() { return 0; }\nthrow new Error('the entry failed to load');\n");
    const run = runBin('serve');
    expect(run.stderr).not.toContain('dist/ is missing');
    expect(run.stderr).toContain('the entry failed to load');
    expect(run.status).toBe(1);
  });
});
