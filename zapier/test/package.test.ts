import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

// How `zapier-platform build` (run by `push`) packs and loads the app: the checks below reproduce
// the two steps that stopped it, without the CLI and without Zapier's network.

const appDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
// zapier-platform-core's entry point (index.js) sits at the root of its package.
const coreDir = path.dirname(require.resolve('zapier-platform-core'));

const PackageJsonSchema = z.object({ name: z.string(), type: z.literal('module'), main: z.string(), exports: z.string().optional() });
const AppRcSchema = z.object({ includeInBuild: z.array(z.string()) });
const ScriptsSchema = z.object({ scripts: z.record(z.string(), z.string()) });

const tempDirs: string[] = [];
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('packaging for zapier-platform push', () => {
  it('is loaded by the Lambda entry point, which imports the app by its package name', () => {
    const packageJson = PackageJsonSchema.parse(JSON.parse(readFileSync(path.join(appDir, 'package.json'), 'utf8')));
    const dir = mkdtempSync(path.join(tmpdir(), 'consentry-zapier-package-'));
    tempDirs.push(dir);
    // The build's layout: the app's package.json at the root, the compiled app where `exports` points,
    // core in node_modules, and core's ESM wrapper with the package name filled in (as the CLI copies it).
    copyFileSync(path.join(appDir, 'package.json'), path.join(dir, 'package.json'));
    mkdirSync(path.join(dir, 'dist'));
    writeFileSync(path.join(dir, 'dist', 'index.js'), "export default { version: '0.1.0', platformVersion: '19.1.0', marker: 'consentry-app' };\n");
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(coreDir, path.join(dir, 'node_modules', 'zapier-platform-core'), 'dir');
    const wrapper = readFileSync(path.join(coreDir, 'include', 'zapierwrapper.mjs'), 'utf8').replaceAll('{REPLACE_ME_PACKAGE_NAME}', packageJson.name);
    writeFileSync(path.join(dir, 'zapierwrapper.js'), wrapper);
    const output = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('./zapierwrapper.js'); console.log(m.appRaw.marker, typeof m.handler);"],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(output.trim().split('\n').at(-1)).toBe('consentry-app function');
    expect(packageJson.exports).toBe(`./${packageJson.main.replace(/^\.\//, '')}`);
  });

  it('asks the build to include the require.mjs files Node 22 loads and the CLI’s file detection misses', () => {
    const appRc = AppRcSchema.parse(JSON.parse(readFileSync(path.join(appDir, '.zapierapprc'), 'utf8')));
    // The CLI tests each pattern, case-insensitively, against the file's path in its build directory
    // (a temporary directory named zapier-<random hex>).
    const buildDir = path.join(tmpdir(), 'zapier-0a1b2c3d');
    const included = (file: string) => appRc.includeInBuild.some((pattern) => new RegExp(pattern, 'i').test(file));
    for (const name of ['async-function', 'async-generator-function', 'generator-function']) {
      expect(included(path.join(buildDir, 'node_modules', name, 'require.mjs')), name).toBe(true);
    }
    expect(included(path.join(buildDir, 'node_modules', 'async-function', 'index.js'))).toBe(false);
    expect(included(path.join(buildDir, 'dist', 'require.mjs'))).toBe(false);
  });

  it('rebuilds dist/ before push: the CLI runs the `_zapier-build` script, which compiles as `build` does', () => {
    const { scripts } = ScriptsSchema.parse(JSON.parse(readFileSync(path.join(appDir, 'package.json'), 'utf8')));
    expect(scripts['_zapier-build']).toBe('tsc -p tsconfig.json');
    expect(scripts['_zapier-build']).toBe(scripts.build);
  });

  it('keeps node_modules and the CLI’s zips out of source.zip through zapier/.gitignore, but not dist/', () => {
    // The CLI reads only the app directory's .gitignore, and only for source.zip; without one it
    // packs every file, node_modules included.
    const patterns = readFileSync(path.join(appDir, '.gitignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    expect(patterns).toEqual(['node_modules/', 'build/']);
  });
});
