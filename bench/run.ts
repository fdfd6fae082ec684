import { main as engine } from './engine.js';

/** `npm run bench`: every benchmark in turn, each printing its own figures. */
const benchmarks: [string, () => Promise<void>][] = [['engine', engine]];

for (const [name, run] of benchmarks) {
  console.log(`\n== ${name} ==`);
  await run();
}
