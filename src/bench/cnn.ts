// barenet's side of B5 and B6 (shared/docs/benchmark.md): one training epoch of a CNN preset (`--arch lenet5`
// or `convnet`: SGD momentum 0.9, lr 0.05, batch 64, shuffled), timed alone; then the test accuracy, and
// inference over the 10,000 test images. The suite (bench/cnn.ts) runs it interleaved with PyTorch and
// TensorFlow.js, round by round; a throw from here becomes that row's "missing: <message>", not a crash.
import { kernelBuild, type Build, type BuildChoice } from '../wasm/engine.js';
import { Trainer, defaultConfig, type TrainConfig, type TrainData } from '../train/trainer.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../checkpoint/model-checkpoint.js';
import { median } from './table.js';

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
export async function barenetCnnEpoch(arch: CnnArch, threads: number, opts: CnnEpochOptions): Promise<CnnEpochResult> {
  const { data } = opts;
  const config: TrainConfig = {
    ...defaultConfig, arch, optimizer: 'momentum', lr: 0.05, momentum: 0.9, batch: 64, schedule: 'none', weightDecay: 0,
    patience: 0, epochs: 1, seed: opts.seed ?? 1, build: opts.build ?? 'auto', threads,
  };
  const t = await Trainer.create({ ...data, val: null }, config);
  try {
    const whole = opts.batches === undefined || opts.batches >= t.batchesPerEpoch;
    // A partial epoch's clock stops at its last batch: run() then evaluates the test set, which epoch_seconds (and
    // the peers' partial epochs) leave out.
    let t0 = 0, t1 = 0;
    const shouldStop = () => {
      t0 ||= performance.now(); // (first called before the first batch)
      if (t.batchInEpoch < opts.batches!) return false;
      t1 ||= performance.now();
      return true;
    };
    const r = await t.run(whole ? {} : { shouldStop });
    const samples = whole ? data.train.count : Math.min(data.train.count, opts.batches! * config.batch);
    const seconds = whole ? r.history[0].epoch_seconds : (t1 - t0) / 1000;
    const test = t.model.upload(data.test.images, data.test.labels, data.test.count);
    const accuracy = t.model.evaluate(test).accuracy;
    const ck = decodeCheckpoint(t.encodeCurrent(), 'bench');
    const inference = async (batch: number) => {
      const model = modelFromCheckpoint(t.model.eng, ck, 'bench', batch);
      const split = model.upload(data.test.images, data.test.labels, data.test.count);
      const times: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        const s0 = performance.now();
        model.evaluate(split);
        times.push((performance.now() - s0) / 1000);
      }
      return data.test.count / median(times);
    };
    return {
      build: kernelBuild(t.model.eng.build),
      threads: t.model.eng.threads,
      epoch_seconds: (seconds * data.train.count) / samples,
      samples,
      test_accuracy: accuracy,
      inference: { batch1000_sps: await inference(1000), batch100_sps: await inference(100) },
    };
  } finally {
    t.close();
  }
}
