// The training loop: one obvious place. Browser-safe: files and terminals are the caller's business,
// reached through hooks (onBatch for progress, onEpoch for metrics and checkpoints, shouldStop for Ctrl-C/pause).
import { CheckpointError, DivergenceError, MemoryError, UsageError } from '../errors.js';
import { Engine, MAX_MEMORY, kernelBuild } from '../wasm/engine.js';
import { Network, type DeviceSplit, type Evaluation } from '../model/network.js';
import { denseSpec } from '../model/spec.js';
import { recipeFor } from './recipes.js';
import { Rng } from '../rng.js';
import { EarlyStopping } from './early-stopping.js';
import { learningRate } from './schedule.js';
import { CONFIG_RULES, checkValue, defaultConfig, resolveConfig, show, type TrainConfig, type ValueRule } from './config.js';

export { defaultConfig, type TrainConfig } from './config.js';
import { backgroundOf, type Background } from '../data/background.js';
import {
  archInfo,
  bestWeights,
  checkFitsData,
  encodeCheckpoint,
  loadIntoModel,
  type Checkpoint,
  type CheckpointInfo,
  type TrainState,
} from '../checkpoint/model-checkpoint.js';

export interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** What the trainer needs of a dataset (see src/data). */
export interface TrainData {
  rows: number;
  cols: number;
  /** Channels per pixel (default 1). */
  channels?: number;
  classes: number;
  train: Split;
  val: Split | null;
  test: Split;
  fingerprint: string;
}

export interface EpochMetrics {
  /** The network's spec (canonical), on every line of metrics.jsonl. */
  arch: string;
  epoch: number;
  lr: number;
  train_loss: number;
  val_loss: number | null;
  val_accuracy: number | null;
  test_loss: number;
  test_accuracy: number;
  epoch_seconds: number;
  samples_per_second: number;
  improved: boolean;
}

export interface BatchProgress {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  /** Seconds since the epoch (or its resumed part) started. */
  elapsed: number;
  samplesPerSecond: number;
}

export interface TrainHooks {
  onBatch?(p: BatchProgress): void;
  onEpoch?(m: EpochMetrics, trainer: Trainer): void | Promise<void>;
  /** Polled between batches: true stops training after the current batch (the state stays resumable). */
  shouldStop?(): boolean;
  /** How often onBatch is called, in batches. */
  batchEvery?: number;
  /** How often the loop yields to the event loop (so signals and messages get through), in batches. */
  yieldEvery?: number;
}

export type StopReason = 'completed' | 'early-stopping' | 'interrupted';

export interface TrainResult {
  reason: StopReason;
  epochs: number;
  bestEpoch: number;
  history: EpochMetrics[];
  test: Evaluation;
  val: Evaluation | null;
  trainSeconds: number;
}

const now = () => performance.now() / 1000;
const mb = (bytes: number) => `${Math.ceil(bytes / 2 ** 20).toLocaleString('en')} MB`;

/** A resume checkpoint's training configuration; format-1 checkpoints name their hidden widths (`hidden`), not a spec. */
export function savedConfig(config: unknown): TrainConfig {
  const c = config as TrainConfig & { hidden?: number[] };
  if (c.arch === undefined && Array.isArray(c.hidden)) {
    const { hidden, ...rest } = c;
    return { ...rest, arch: denseSpec(hidden) };
  }
  return c;
}

function diverged(what: string, lr: number, base: number): DivergenceError {
  const rate = lr === base ? `learning rate ${base}` : `learning rate ${lr} at that step, from --lr ${base}`;
  return new DivergenceError(`training diverged: ${what} (${rate}); try a lower --lr`, { what, lr, base });
}
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

export class Trainer {
  readonly model: Network;
  readonly stopper: EarlyStopping;
  /** Completed epochs. */
  epoch = 0;
  /** Batches done in the epoch under way (non-zero only after an interruption). */
  batchInEpoch = 0;
  history: EpochMetrics[] = [];
  private rng: Rng;
  private epochRngState: number[];
  private partialLoss = 0;
  private best: Float32Array;
  /** The training images' background, for predict (see src/data/background.ts); found when first saved. */
  private background?: Background;
  private readonly order: Int32Array;
  private readonly train: DeviceSplit;
  private readonly val: DeviceSplit | null;
  private readonly test: DeviceSplit;

  readonly config: TrainConfig;

  private constructor(eng: Engine, readonly data: TrainData, config: TrainConfig) {
    // The build that runs, not 'auto': a checkpoint records it, and a resume continues with the same rounding.
    this.config = { ...config, build: kernelBuild(eng.build) };
    const arch = { spec: config.arch, input: { c: data.channels ?? 1, h: data.rows, w: data.cols }, classes: data.classes };
    this.model = new Network(eng, arch, {
      batch: config.batch,
      sparse: config.sparse,
      seed: config.seed,
      optimizer: {
        kind: config.optimizer,
        lr: config.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
      },
    });
    this.rng = new Rng(config.seed);
    this.model.init(this.rng);
    this.epochRngState = this.rng.state;
    this.best = this.model.paramView().slice();
    this.stopper = new EarlyStopping(config.patience, config.minDelta);
    this.train = this.model.upload(data.train.images, data.train.labels, data.train.count);
    this.val = data.val && this.model.upload(data.val.images, data.val.labels, data.val.count);
    this.test = this.model.upload(data.test.images, data.test.labels, data.test.count);
    this.order = this.model.allocIndices(data.train.count);
  }

  /**
   * `config`: what differs from defaultConfig, checked as `barenet train` checks its flags (./config.ts).
   * `eng`: an engine already loaded for `config`'s build and threads, such as the one the data was read
   * into (loadDataset's store), which the trainer then uses in place instead of copying; default: a new
   * one. Either way the trainer owns it (close(); an engine dropped without it stops its threads once
   * garbage collected).
   */
  static async create(data: TrainData, config: Partial<TrainConfig> = {}, eng?: Engine): Promise<Trainer> {
    let full: TrainConfig;
    try {
      // What is not given comes from the preset's recipe, then the defaults; a bad value is a UsageError.
      const arch = typeof config?.arch === 'string' ? config.arch : defaultConfig.arch;
      full = resolveConfig(config, { ...defaultConfig, ...recipeFor(arch) });
      eng ??= await Engine.load(full.build, { threads: full.threads });
    } catch (e) {
      eng?.close();
      throw e;
    }
    // A batch larger than the training set is the training set: no memory for rows that never come.
    full.batch = Math.min(full.batch, data.train.count);
    try {
      return new Trainer(eng, data, full);
    } catch (e) {
      const threads = eng.threads;
      eng.close();
      // Threads share a memory of at most 1 GiB; one thread's may grow to 4 GiB.
      if (!(e instanceof MemoryError && threads > 1 && e.needed <= MAX_MEMORY)) throw e;
      const single = await Engine.load(kernelBuild(eng.build), { threads: 1 });
      try {
        const t = new Trainer(single, data, full);
        t.notes.push(`memory: the network needs ${mb(e.needed)}, more than the ${mb(e.limit)} ${threads} threads can share: training on one thread`);
        return t;
      } catch (e2) {
        single.close();
        throw e2;
      }
    }
  }

  /** What the trainer decided that a user should hear of (e.g. falling back to one thread). */
  readonly notes: string[] = [];

  /** Stops the engine's worker threads (if any); call it when done, in a `finally`. */
  close(): void {
    this.model.eng.close();
  }

  /**
   * Continues from a resume checkpoint (last.safetensors) with the configuration it was made with;
   * `overrides` may change the total epoch count and the build. `eng` as for create.
   */
  static async resume(
    data: TrainData,
    ck: Checkpoint,
    file: string,
    overrides: Partial<Pick<TrainConfig, 'epochs' | 'build' | 'threads'>> = {},
    eng?: Engine,
  ): Promise<Trainer> {
    checkFitsData(ck.info, { ...data, channels: data.channels ?? 1 }, file);
    const st = ck.info.train;
    if (!st) throw new CheckpointError(`${file}: not a resume checkpoint (use last.safetensors)`);
    const val = data.val?.count ?? 0;
    if (st.val !== undefined && st.val !== val) {
      throw new CheckpointError(`${file}: the run held out ${st.val} training images for validation (--val), this data holds out ${val}`);
    }
    if (ck.info.dataFingerprint && ck.info.dataFingerprint !== data.fingerprint) {
      throw new CheckpointError(
        `${file}: the run trained on other data (fingerprint ${ck.info.dataFingerprint}, this data has ${data.fingerprint}); give the same --data`,
      );
    }
    const t = await Trainer.create(data, { ...savedConfig(st.config), ...overrides }, eng);
    try {
      loadIntoModel(t.model, ck, file, true);
      t.best = bestWeights(t.model, ck, file);
    } catch (e) {
      t.close();
      throw e;
    }
    t.epoch = ck.info.epoch;
    t.batchInEpoch = st.batchInEpoch;
    t.partialLoss = st.partialLoss;
    t.epochRngState = st.rngState;
    t.rng = new Rng(st.rngState);
    Object.assign(t.stopper, { bestLoss: st.bestValLoss, bestEpoch: st.bestEpoch, badEpochs: st.badEpochs });
    t.history = st.history as EpochMetrics[];
    return t;
  }

  private get schedule() {
    return { kind: this.config.schedule, stepSize: this.config.stepSize, gamma: this.config.gamma };
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.data.train.count / this.config.batch);
  }

  async run(hooks: TrainHooks = {}): Promise<TrainResult> {
    checkHooks(hooks);
    const { config, model } = this;
    const B = config.batch;
    const n = this.data.train.count;
    const batches = this.batchesPerEpoch;
    const totalSteps = config.epochs * batches;
    const every = hooks.batchEvery ?? 20;
    const yieldEvery = hooks.yieldEvery ?? 0;
    let reason: StopReason = 'completed';
    while (this.epoch < config.epochs) {
      const e = this.epoch + 1;
      // The epoch's order comes from the RNG state at its start, so a resume mid-epoch rebuilds it exactly.
      this.rng = new Rng(this.epochRngState);
      for (let i = 0; i < n; i++) this.order[i] = i;
      this.rng.shuffle(this.order);
      const t0 = now();
      const first = this.batchInEpoch;
      for (let b = first; b < batches; b++) {
        if (yieldEvery && b % yieldEvery === yieldEvery - 1) await yieldToEventLoop();
        if (hooks.shouldStop?.()) {
          reason = 'interrupted';
          break;
        }
        const lr = learningRate(config.lr, this.schedule, e, (e - 1) * batches + b, totalSteps);
        const idx = this.order.subarray(b * B, Math.min(n, (b + 1) * B));
        const loss = model.trainStep(this.train, idx, lr);
        if (!Number.isFinite(loss)) throw diverged(`the loss became ${loss} at epoch ${e}, batch ${b + 1}`, lr, config.lr);
        this.partialLoss += loss * idx.length;
        this.batchInEpoch = b + 1;
        if (hooks.onBatch && (b % every === every - 1 || b === batches - 1)) {
          const elapsed = now() - t0;
          const samples = Math.min(n, (b + 1) * B) - first * B;
          hooks.onBatch({ epoch: e, batch: b + 1, batches, loss, elapsed, samplesPerSecond: elapsed > 0 ? samples / elapsed : 0 });
        }
      }
      if (reason === 'interrupted') break;
      const seconds = now() - t0;
      const val = this.val && model.evaluate(this.val);
      const test = model.evaluate(this.test);
      // The last step of the epoch can break the weights after its loss was computed: no checkpoint of them.
      if (!Number.isFinite(test.loss) || (val && !Number.isFinite(val.loss))) {
        const what = val && !Number.isFinite(val.loss) ? `validation loss became ${val.loss}` : `test loss became ${test.loss}`;
        throw diverged(`the ${what} after epoch ${e}`, learningRate(config.lr, this.schedule, e, e * batches - 1, totalSteps), config.lr);
      }
      const verdict = val ? this.stopper.update(val.loss, e) : 'improved';
      if (verdict === 'improved') this.best = model.paramView().slice();
      const m: EpochMetrics = {
        arch: model.spec,
        epoch: e,
        lr: learningRate(config.lr, this.schedule, e, e * batches - 1, totalSteps),
        train_loss: this.partialLoss / n,
        val_loss: val ? val.loss : null,
        val_accuracy: val ? val.accuracy : null,
        test_loss: test.loss,
        test_accuracy: test.accuracy,
        epoch_seconds: seconds,
        samples_per_second: n / seconds,
        improved: verdict === 'improved',
      };
      this.history.push(m);
      this.epoch = e;
      this.batchInEpoch = 0;
      this.partialLoss = 0;
      this.epochRngState = this.rng.state;
      await hooks.onEpoch?.(m, this);
      // Patience running out on the last epoch stops nothing: the run completed.
      if (verdict === 'stop' && e < config.epochs) {
        reason = 'early-stopping';
        break;
      }
    }
    return this.finish(reason);
  }

  /** Restores the best weights (by validation loss) and evaluates them. */
  private finish(reason: StopReason): TrainResult {
    const done = reason !== 'interrupted';
    if (done) this.model.paramView().set(this.best);
    const bestEpoch = this.data.val ? this.stopper.bestEpoch : this.epoch;
    return {
      reason,
      epochs: this.epoch,
      bestEpoch,
      history: this.history,
      test: this.model.evaluate(this.test),
      val: this.val && this.model.evaluate(this.val),
      trainSeconds: this.history.reduce((s, m) => s + m.epoch_seconds, 0),
    };
  }

  private info(epoch: number, step = this.model.step): CheckpointInfo {
    return {
      arch: archInfo(this.model),
      epoch,
      seed: this.config.seed,
      optimizer: this.model.optimizer,
      step,
      dataFingerprint: this.data.fingerprint,
      background: (this.background ??= backgroundOf(this.data.train.images)),
    };
  }

  /** Everything needed to resume, with the current weights. */
  encodeLast(): Uint8Array {
    const train: TrainState = {
      rngState: this.epochRngState,
      batchInEpoch: this.batchInEpoch,
      partialLoss: this.partialLoss,
      bestValLoss: this.stopper.bestLoss,
      bestEpoch: this.stopper.bestEpoch,
      badEpochs: this.stopper.badEpochs,
      history: this.history,
      config: this.config,
      val: this.data.val?.count ?? 0,
    };
    return encodeCheckpoint(this.model, { info: { ...this.info(this.epoch), train }, resume: { best: this.best } });
  }

  /** The current weights (mid-epoch too), without optimizer state. */
  encodeCurrent(): Uint8Array {
    return encodeCheckpoint(this.model, { info: this.info(this.epoch) });
  }

  /** The best weights so far (by validation loss), without optimizer state. */
  encodeBest(): Uint8Array {
    const current = this.model.paramView().slice();
    this.model.paramView().set(this.best);
    // Every best is an epoch's end: its step count follows (so the bytes do not depend on when they are written).
    const epoch = this.data.val ? this.stopper.bestEpoch : this.epoch;
    const bytes = encodeCheckpoint(this.model, { info: this.info(epoch, epoch * this.batchesPerEpoch) });
    this.model.paramView().set(current);
    return bytes;
  }
}

const HOOK_RULES: { readonly [K in keyof TrainHooks]-?: ValueRule | 'function' } = {
  onBatch: 'function',
  onEpoch: 'function',
  shouldStop: 'function',
  batchEvery: { type: 'int', min: 1 },
  yieldEvery: { type: 'int', min: 0 },
};

/** Trainer.run's options: a configuration key there (run({ epochs })) is refused, not ignored. */
export function checkHooks(hooks: TrainHooks): void {
  const names = Object.keys(HOOK_RULES).join(', ');
  for (const [key, v] of Object.entries(hooks)) {
    const rule = HOOK_RULES[key as keyof TrainHooks];
    if (!rule) {
      const where = key in CONFIG_RULES ? `'${key}' is set in Trainer.create's config, not in run()` : `unknown option '${key}'`;
      throw new UsageError(`run: ${where} (run takes ${names})`);
    }
    if (v === undefined) continue;
    if (rule !== 'function') checkValue(key, rule, v);
    else if (typeof v !== 'function') throw new UsageError(`${key}: expected a function, got ${show(v)}`);
  }
}
