#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The command runs the build in dist/, which `npm run build` makes and `npm install` runs (the
// `prepare` script, https://docs.npmjs.com/cli/using-npm/scripts#life-cycle-scripts). A clone
// installed with --ignore-scripts, or one whose dist/ was removed, has none: that is said in one
// line with its fix and exit code 2 (nothing was run), instead of Node's stack trace. Any other
// failure to load is thrown as it is.
const entry = new URL('../dist/src/cli.js', import.meta.url);

async function loadCli() {
  try {
    return await import(entry.href);
  } catch (error) {
    // https://nodejs.org/api/errors.html#err_module_not_found: with the entry itself absent, the
    // missing module is the entry; a module the entry imports that is missing leaves it in place.
    const code = error instanceof Error ? Reflect.get(error, 'code') : undefined;
    if (code !== 'ERR_MODULE_NOT_FOUND' || existsSync(fileURLToPath(entry))) throw error;
    return null;
  }
}

const cli = await loadCli();
if (cli === null) {
  process.stderr.write('error: dist/ is missing: run npm run build (npm install runs it)\n');
  process.exitCode = 2;
} else {
  process.exitCode = await cli.runCli(process.argv.slice(2));
}
