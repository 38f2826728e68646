// barenet's side of the benchmarks in shared/docs/benchmark.md: B1 (minibatch SGD epoch), B2 (per-sample
// SGD), B3 (inference). Each returns plain numbers; the CLI (`barenet bench`) and the suite (`npm run bench`)
// print them. Only the training (or inference) loop is timed: data loading and evaluation are not.
import { Engine, kernelBuild, type Build, type BuildChoice } from '../wasm/engine.js';
import { Network } from '../model/network.js';
import { OpList } from '../wasm/pool.js';
import { Rng } from '../rng.js';
import { Trainer, defaultConfig, type TrainConfig, type TrainData } from '../train/trainer.js';
import { median } from './table.js';

/** B1's configuration: 784-256-128-10 (the mlp preset), plain SGD 0.1, batch 64, shuffled each epoch, no schedule. */
export const b1Config: TrainConfig = {
  ...defaultConfig,
  arch: 'mlp',
  optimizer: 'sgd',
  lr: 0.1,
  batch: 64,
  schedule: 'none',
  patience: 0,
  weightDecay: 0,
};

export interface B1Result {
  build: Build;
  threads: number;
  epoch_seconds: number[];
  samples_per_second: number;
  test_accuracy: number[];
  /** Training seconds until the test accuracy first reached 97.5% / 98.0% (null: not within the epochs run). */
  seconds_to_975: number | null;
  seconds_to_980: number | null;
}


export async function benchB1(data: TrainData, opts: { epochs?: number; build?: BuildChoice; seed?: number; threads?: number } = {}): Promise<B1Result> {
  const threads = opts.threads ?? 1;
  const t = await Trainer.create({ ...data, val: null }, { ...b1Config, epochs: opts.epochs ?? 1, build: opts.build ?? 'auto', seed: opts.seed ?? 1, threads });
  const build = t.config.build as Build;
  const r = await t.run().finally(() => t.close());
  let total = 0;
  let to975: number | null = null;
  let to980: number | null = null;
  for (const h of r.history) {
    total += h.epoch_seconds;
    if (to975 === null && h.test_accuracy >= 0.975) to975 = total;
    if (to980 === null && h.test_accuracy >= 0.98) to980 = total;
  }
  const secs = r.history.map((h) => h.epoch_seconds);
  return {
    build,
    threads,
    epoch_seconds: secs,
    samples_per_second: data.train.count / median(secs),
    test_accuracy: r.history.map((h) => h.test_accuracy),
    seconds_to_975: to975,
    seconds_to_980: to980,
  };
}

/** B2: per-sample SGD (batch 1, lr 0.01) over `samples` shuffled training images; samples/s. */
export async function benchB2(data: TrainData, opts: { samples?: number; build?: BuildChoice } = {}): Promise<{ build: Build; samples_per_second: number }> {
  const n = Math.min(opts.samples ?? 10000, data.train.count);
  const eng = await Engine.load(opts.build ?? 'auto');
  const model = new Network(eng, { spec: 'mlp', input: { c: 1, h: data.rows, w: data.cols }, classes: data.classes }, {
    batch: 1,
    evalBatch: 1,
    optimizer: { kind: 'sgd' },
  });
  const rng = new Rng(1);
  model.init(rng);
  const train = model.upload(data.train.images, data.train.labels, data.train.count);
  const order = model.allocIndices(data.train.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  rng.shuffle(order);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) model.trainStep(train, order.subarray(i, i + 1), 0.01);
  return { build: eng.build, samples_per_second: n / ((performance.now() - t0) / 1000) };
}

/** B3: forward passes over the test set at a given batch size; samples/s (median of `reps`). */
export async function benchB3(
  data: TrainData,
  opts: { batch: number; build?: BuildChoice; reps?: number; threads?: number },
): Promise<{ build: Build; batch: number; threads: number; samples_per_second: number; accuracy: number }> {
  const eng = await Engine.load(opts.build ?? 'auto', { threads: opts.threads ?? 1 });
  const model = new Network(eng, { spec: 'mlp', input: { c: 1, h: data.rows, w: data.cols }, classes: data.classes }, {
    batch: opts.batch,
    evalBatch: opts.batch,
  });
  model.init(new Rng(1));
  const test = model.upload(data.test.images, data.test.labels, data.test.count);
  const times: number[] = [];
  let accuracy = 0;
  for (let r = 0; r < (opts.reps ?? 3); r++) {
    const t0 = performance.now();
    accuracy = model.evaluate(test).accuracy;
    times.push((performance.now() - t0) / 1000);
  }
  const threads = eng.threads;
  eng.close();
  return { build: kernelBuild(eng.build), batch: opts.batch, threads, samples_per_second: data.test.count / median(times), accuracy };
}

/**
 * This machine's own two-thread scaling, now: the same independent work (B1's hidden-layer product,
 * 64×256·256×128, on data private to each thread and in its cache) on one thread, then one half per thread;
 * time on one ÷ time on two, the median of `pairs` alternating measurements. With nothing shared and one
 * hand-off per millisecond, data-parallel code can hardly gain more here (only where the split makes its data
 * fit the caches): it is the yardstick for B1's thread scaling (on a VM, two vCPUs may give the throughput of
 * anything from one core to two).
 */
export async function benchThreadScaling(opts: { build?: BuildChoice; pairs?: number } = {}): Promise<number> {
  // One engine per side, as B1 compares them: the one-thread side has no worker (an idle worker spins for a
  // while after each job, and could slow the thread beside it).
  const one = await Engine.load(opts.build ?? 'auto', { threads: 1 });
  const two = await Engine.load(opts.build ?? 'auto', { threads: 2 });
  try {
    const [m, n, k, calls] = [64, 128, 256, 10];
    const halves = (eng: Engine) =>
      [0, 1].map(() => {
        const [a, b, c] = [m * k, k * n, m * n].map((floats) => eng.alloc(floats * 4));
        eng.f32(a, m * k).fill(0.5);
        eng.f32(b, k * n).fill(0.25);
        const ws = eng.alloc(eng.k.gemm_ws_bytes(m, n, k));
        const ops = new OpList();
        for (let i = 0; i < calls; i++) ops.push('gemm_nn_ld', m, n, k, a, k, b, n, c, n, 0, ws);
        return ops;
      });
    const [onSolo, onPair] = [halves(one), halves(two)];
    const time = (run: () => void) => {
      const t0 = performance.now();
      run();
      return performance.now() - t0;
    };
    const ratios: number[] = [];
    for (let p = 0; p < (opts.pairs ?? 40); p++) {
      const solo = time(() => onSolo.forEach((ops) => one.run([ops], 1)));
      ratios.push(solo / time(() => two.run(onPair, 2)));
    }
    return median(ratios);
  } finally {
    one.close();
    two.close();
  }
}
