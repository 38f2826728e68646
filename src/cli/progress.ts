// Progress: on a terminal, one line per epoch redrawn in place; elsewhere (a pipe, a log file) a plain line
// every few seconds, so a long epoch shows it is moving.
import type { BatchProgress, EpochMetrics } from '../train/trainer.js';
import { fmtInt } from '../bench/table.js';

/** `1 epoch`, `3 epochs`. */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `35%  41,929 samples/s  ETA 12.3s  loss 0.2420`: what both kinds of progress line end with. */
function stats(p: BatchProgress): string {
  const eta = (p.elapsed / p.batch) * (p.batches - p.batch);
  return (
    `${String(Math.round((100 * p.batch) / p.batches)).padStart(3)}%  ${fmtInt(p.samplesPerSecond)} samples/s  ` +
    `ETA ${eta.toFixed(1)}s  loss ${p.loss.toFixed(4)}`
  );
}

export function progressBar(p: BatchProgress, epochs: number, width = 24): string {
  const filled = Math.round((p.batch / p.batches) * width);
  return `epoch ${p.epoch}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats(p)}`;
}

/** Seconds between progress lines when stdout is not a terminal (BARENET_TEST_PROGRESS_SECONDS: tests only). */
const LINE_SECONDS = Number(process.env.BARENET_TEST_PROGRESS_SECONDS) || 5;

/** An onBatch hook writing `epoch 1/12  batch 300/860  35%  …` at most every LINE_SECONDS (none at an epoch's end: its line follows). */
export function progressLines(epochs: number, write: (line: string) => void): (p: BatchProgress) => void {
  let last = performance.now();
  return (p) => {
    const now = performance.now();
    if (p.batch === p.batches || now - last < 1000 * LINE_SECONDS) return;
    last = now;
    write(`epoch ${p.epoch}/${epochs}  batch ${p.batch}/${p.batches} ${stats(p)}`);
  };
}

export function epochLine(m: EpochMetrics, epochs: number): string {
  const pct = (x: number | null) => (x === null ? '-' : (100 * x).toFixed(2) + '%');
  return (
    `epoch ${String(m.epoch).padStart(String(epochs).length)}/${epochs}  ` +
    `train loss ${m.train_loss.toFixed(4)}  ` +
    `val loss ${m.val_loss === null ? '-' : m.val_loss.toFixed(4)} acc ${pct(m.val_accuracy)}  ` +
    `test acc ${pct(m.test_accuracy)}  ` +
    `${m.epoch_seconds.toFixed(2)}s  ${fmtInt(m.samples_per_second)} samples/s` +
    (m.improved ? '  *' : '')
  );
}
