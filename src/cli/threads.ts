// --threads: what 0 picks on this machine, and a count above the cores capped at them (threads beyond the
// cores only wait for one another: 8 on 2 cores ran about 7× slower than 2, 100 about 35×).
import { availableParallelism } from 'node:os';
import { MAX_AUTO_THREADS, threadsForCores } from '../wasm/engine.js';
import { plural } from './progress.js';
import type { Io } from './io.js';

const cores = availableParallelism();

export const threadsHelp =
  `threads, the calling one included (0: one per core, at most ${MAX_AUTO_THREADS}, here ${threadsForCores(cores)}; ` +
  `more than the ${plural(cores, 'core')} here are capped at ${cores}; results are the same for any count; debug uses 1)`;

/** `threads`, or the core count when it is more than that (saying so on stderr). */
export function capThreads(threads: number, io: Io): number {
  if (threads <= cores) return threads;
  io.stderr.write(`barenet: --threads ${threads}: this machine has ${plural(cores, 'core')}; using ${cores} (more threads than cores only wait for one another)\n`);
  return cores;
}
