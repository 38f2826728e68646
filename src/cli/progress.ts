// Progress on a terminal: one line per epoch redrawn in place; plain lines when stdout is not a TTY.
import type { BatchProgress, EpochMetrics } from '../train/trainer.js';
import { fmtInt } from '../bench/table.js';

export function progressBar(p: BatchProgress, epochs: number, width = 24): string {
  const frac = p.batch / p.batches;
  const filled = Math.round(frac * width);
  const eta = (p.elapsed / p.batch) * (p.batches - p.batch);
  return (
    `epoch ${p.epoch}/${epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` +
    `${String(Math.round(frac * 100)).padStart(3)}%  ${fmtInt(p.samplesPerSecond)} samples/s  ` +
    `ETA ${eta.toFixed(1)}s  loss ${p.loss.toFixed(4)}`
  );
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
