// The page's words for durations, the end of a run and errors. Pure: tested in Node (test/web-page.test.ts).
import { DivergenceError } from 'barenet';

/** Whole seconds as "45 s", "12 min 05 s", "9 h 55 min", "24 d 19 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${two(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${two(Math.floor(s / 60) % 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

/** A learning rate to three significant digits, in plain notation where it is short. */
export const rate = (lr: number): string => String(Number(lr.toPrecision(3)));

/** An error as the page says it: a divergence names the page's learning rate field, not the CLI's flag. */
export function errorMessage(err: unknown): string {
  if (err instanceof DivergenceError && err.detail) {
    const { what, lr, base } = err.detail;
    const at = rate(lr) === rate(base) ? `learning rate ${rate(base)}` : `learning rate ${rate(lr)} at that step, set to ${rate(base)}`;
    return `training diverged: ${what} (${at}); try a lower learning rate`;
  }
  return err instanceof Error ? err.message : String(err);
}

const count = (n: number) => n.toLocaleString('en');

/** What the worker reports when a run ends. */
export interface RunEnd {
  reason: 'completed' | 'early-stopping' | 'interrupted';
  /** Completed epochs, and batches done in the epoch under way (non-zero only when stopped within it). */
  epochs: number;
  batchInEpoch: number;
  batches: number;
  /** Training images per epoch; samples trained by this run and their speed (pauses and evaluations excluded). */
  trainCount: number;
  samples: number;
  samplesPerSecond: number;
  threads: number;
  build: string;
}

/** The status line at the end of a run. */
export function runEndStatus(r: RunEnd): string {
  const setup = `${r.threads} thread${r.threads > 1 ? 's' : ''}, ${r.build} build`;
  const speed = `${count(Math.round(r.samplesPerSecond))} samples/s, ${setup}`;
  const epochs = `${r.epochs} epoch${r.epochs === 1 ? '' : 's'}`;
  if (r.reason !== 'interrupted') {
    return `Training ${r.reason === 'completed' ? 'completed' : 'stopped early'}: ${epochs} on ${count(r.trainCount)} images at ${speed}.`;
  }
  if (r.samples === 0) return `Training stopped before its first batch (${setup}).`;
  const where = r.batchInEpoch ? `in epoch ${r.epochs + 1} at batch ${count(r.batchInEpoch)} of ${count(r.batches)}` : `after ${epochs}`;
  return `Training stopped ${where}: ${count(r.samples)} samples trained at ${speed}.`;
}
