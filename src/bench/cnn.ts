// barenet's side of B5 and B6 (shared/docs/benchmark.md): one training epoch of a CNN preset (`--arch lenet5`
// or `convnet`: SGD momentum 0.9, lr 0.05, batch 64, shuffled), timed alone; then the test accuracy, and
// inference over the 10,000 test images. The suite (bench/cnn.ts) runs it interleaved with PyTorch and
// TensorFlow.js, round by round; a throw from here becomes that row's "missing: <message>", not a crash.
import type { Build, BuildChoice } from '../wasm/engine.js';
import type { TrainData } from '../train/trainer.js';

export type CnnArch = 'lenet5' | 'convnet';

export interface CnnEpochOptions {
  /** MNIST as loadDataset gives it (no validation split). */
  data: TrainData;
  /** Kernel build (default 'auto', the users' default). */
  build?: BuildChoice;
  seed?: number;
  /** Train only the first `batches` minibatches of the shuffled epoch (default: all 938). The suite uses it
   *  for B6's interleaved rounds, with the same count for every contender. */
  batches?: number;
}

export interface CnnEpochResult {
  build: Build;
  threads: number;
  /** Seconds of the timed training loop (data loading and evaluation excluded), extrapolated to the whole
   *  epoch (60,000 images) when `batches` cut it short: measured seconds × 60,000 / samples. */
  epoch_seconds: number;
  /** Training images in the timed part (60,000 for a whole epoch). */
  samples: number;
  /** Test accuracy (0..1) after the (partial) epoch. */
  test_accuracy: number;
  /** Forward passes over the 10,000 test images on `threads` threads, samples/s: at batch 1000 (the
   *  benchmark's), and at batch 100 (shown beside it: PyTorch 1.13 is several times slower per image at 1000). */
  inference: { batch1000_sps: number; batch100_sps?: number };
}

/** B5 (`lenet5`) or B6 (`convnet`) for barenet on `threads` threads. */
export async function barenetCnnEpoch(_arch: CnnArch, _threads: number, _opts: CnnEpochOptions): Promise<CnnEpochResult> {
  throw new Error('barenet CNN engine not merged yet');
}
