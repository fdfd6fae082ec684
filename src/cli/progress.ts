import type { Writable } from 'node:stream';
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { writeLine } from './io.js';

/** How far a long command has come, and the lines it reports on the way. */
export interface Progress {
  start(total: number): void;
  update(done: number): void;
  /** One line of the report, written at once: nothing waits in memory for the end of the run. */
  line(text: string): void;
  /** Draws the final state, if a bar was drawn; safe to call more than once. */
  stop(): void;
}

/**
 * A progress bar on a terminal, with the report's lines written above it; elsewhere (a pipe, a
 * file, CI) no bar, and the lines written as they come.
 */
export function progressOn(stream: Writable & { isTTY?: boolean }, format: string): Progress {
  if (!stream.isTTY) {
    return { start: () => {}, update: () => {}, line: (text) => writeLine(stream, text), stop: () => {} };
  }
  const bars = new MultiBar({ stream, format, hideCursor: false }, Presets.shades_classic);
  let bar: SingleBar | undefined;
  return {
    start: (total) => {
      bar = bars.create(total, 0);
    },
    update: (done) => bar?.update(done),
    line: (text) => (bar === undefined ? writeLine(stream, text) : bars.log(`${text}\n`)),
    stop: () => {
      if (bar === undefined) return;
      bar = undefined;
      // A redraw writes the lines logged since the last one; stop() alone would drop them.
      bars.update();
      bars.stop();
    },
  };
}
