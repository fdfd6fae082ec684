import { main as delivery } from './delivery.js';
import { main as engine } from './engine.js';
import { main as hubspotSync } from './hubspot-sync.js';
import { main as server } from './server.js';

/** `npm run bench`: every benchmark in turn, each printing its own figures. */
const benchmarks: [string, () => Promise<void>][] = [
  ['engine', engine],
  ['server', server],
  ['delivery', delivery],
  ['hubspot-sync', hubspotSync],
];

const only = process.argv.slice(2);
const unknown = only.filter((name) => !benchmarks.some(([known]) => known === name));
if (unknown.length > 0) {
  // A misspelt name would otherwise run nothing and exit 0, which reads as a benchmark that passed.
  console.error(`unknown benchmark ${unknown.join(', ')}: choose from ${benchmarks.map(([name]) => name).join(', ')}`);
  process.exit(2);
}
for (const [name, run] of benchmarks) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`\n== ${name} ==`);
  await run();
}
