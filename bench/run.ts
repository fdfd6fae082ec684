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
for (const [name, run] of benchmarks) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`\n== ${name} ==`);
  await run();
}
