// Bit-exact resume: a run stopped (at an epoch's end or mid-epoch) and resumed from its last checkpoint ends
// with weights, optimizer state and metrics identical to a run never stopped — at the Trainer level on an
// MNIST subset, and through the CLI on a small IDX dataset (raw and gzipped, which must train identically).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Trainer, defaultConfig, type TrainConfig, type TrainResult } from '../src/train/trainer.js';
import { decodeCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { CheckpointError } from '../src/errors.js';
import {
  differingTensors, lastJson, metricsWithoutTimes, readCheckpoint, removeTemps, runCli, tempDir, tensorBytes, trainData, userError, writeDataset,
} from './fixtures.js';

const data = trainData(1000, 200, 300);
const base: TrainConfig = { ...defaultConfig, optimizer: 'adam', lr: 0.001, arch: 'dense:32,dense:16', batch: 40, epochs: 4, patience: 0 };

const noTimes = (r: TrainResult) => r.history.map(({ epoch_seconds, samples_per_second, ...m }) => m);
const bytes = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

interface Outcome {
  result: TrainResult;
  params: Buffer;
  last: Record<string, Buffer>;
  best: Uint8Array;
}

async function outcome(t: Trainer, result: TrainResult): Promise<Outcome> {
  return { result, params: Buffer.from(bytes(t.model.paramView())), last: tensorBytes(decodeCheckpoint(t.encodeLast(), 'last')), best: t.encodeBest() };
}

async function uninterrupted(config: TrainConfig): Promise<Outcome> {
  const t = await Trainer.create(data, config);
  return outcome(t, await t.run());
}

/** Stops once `stopAt(epoch, batchInEpoch)` says so, saves, resumes from the bytes (through a fresh Trainer), finishes. */
async function stoppedAndResumed(config: TrainConfig, stopAt: (epoch: number, batch: number) => boolean, resumeEpochs?: number): Promise<Outcome & { savedAt: [number, number] }> {
  const t = await Trainer.create(data, config);
  const r1 = await t.run({ shouldStop: () => stopAt(t.epoch, t.batchInEpoch) });
  expect(r1.reason).toBe('interrupted');
  const savedAt: [number, number] = [t.epoch, t.batchInEpoch];
  const ck = decodeCheckpoint(t.encodeLast(), 'last.safetensors');
  const t2 = await Trainer.resume(data, ck, 'last.safetensors', resumeEpochs ? { epochs: resumeEpochs } : {});
  expect([t2.epoch, t2.batchInEpoch]).toEqual(savedAt);
  return { ...(await outcome(t2, await t2.run())), savedAt };
}

function expectSame(a: Outcome, b: Outcome): void {
  expect(b.params.equals(a.params)).toBe(true);
  expect(differingTensors(b.last, a.last)).toEqual([]); // weights, optimizer state, best weights: every tensor, bit for bit
  expect(Buffer.from(b.best).equals(Buffer.from(a.best))).toBe(true);
  expect(noTimes(b.result)).toEqual(noTimes(a.result));
  expect([b.result.reason, b.result.epochs, b.result.bestEpoch, b.result.test.loss]).toEqual([a.result.reason, a.result.epochs, a.result.bestEpoch, a.result.test.loss]);
}

describe('Trainer: stop and resume is bit-exact', () => {
  const cases: [string, Partial<TrainConfig>][] = [
    ['adam, cosine', {}],
    ['sgd, step schedule', { optimizer: 'sgd', lr: 0.05, schedule: 'step', stepSize: 1, gamma: 0.5 }],
    ['nesterov momentum, weight decay, no schedule', { optimizer: 'momentum', lr: 0.02, nesterov: true, weightDecay: 1e-4, schedule: 'none' }],
  ];
  for (const [name, cfg] of cases) {
    const config = { ...base, ...cfg };
    it(`${name}: after epoch 2, and mid-epoch 3`, async () => {
      const ref = await uninterrupted(config);
      const atEpoch = await stoppedAndResumed(config, (e) => e === 2);
      expect(atEpoch.savedAt).toEqual([2, 0]);
      expectSame(ref, atEpoch);
      const mid = await stoppedAndResumed(config, (e, b) => e === 2 && b === 11);
      expect(mid.savedAt).toEqual([2, 11]);
      expectSame(ref, mid);
    });
  }

  it('mid-epoch 1 (before any epoch ended), and after a bad epoch, with early stopping under way', async () => {
    const config = { ...base, patience: 2, epochs: 8, lr: 0.02, schedule: 'none' as const }; // a high rate: validation loss soon rises
    const ref = await uninterrupted(config);
    expect(ref.result.reason).toBe('early-stopping');
    expectSame(ref, await stoppedAndResumed(config, (e, b) => e === 0 && b === 7));
    // Stopped right after the first epoch without improvement: the count of bad epochs is carried over.
    const bad = ref.result.history.findIndex((h) => !h.improved) + 1;
    expect(bad).toBeGreaterThan(1);
    expect(bad).toBeLessThan(ref.result.epochs);
    expectSame(ref, await stoppedAndResumed(config, (e) => e === bad));
  });

  it('--epochs is the total: 2 epochs, then resumed to 4 = 4 epochs (no cosine: its rate depends on the total)', async () => {
    const config = { ...base, schedule: 'step' as const, stepSize: 1, gamma: 0.7 };
    const ref = await uninterrupted(config);
    const t = await Trainer.create(data, { ...config, epochs: 2 });
    expect((await t.run()).epochs).toBe(2);
    const t2 = await Trainer.resume(data, decodeCheckpoint(t.encodeLast(), 'last'), 'last', { epochs: 4 });
    const r = await t2.run();
    expect(r.epochs).toBe(4);
    expect(t2.config.epochs).toBe(4);
    expectSame(ref, { ...(await outcome(t2, r)), last: ref.last }); // last holds config.epochs 2 → 4: compare the rest
    expect(differingTensors(tensorBytes(decodeCheckpoint(t2.encodeLast(), 'last')), ref.last)).toEqual([]);
  });

  it('refuses a checkpoint of other data, another validation split, or without resume state', async () => {
    const t = await Trainer.create(data, { ...base, epochs: 1 });
    await t.run();
    const ck = decodeCheckpoint(t.encodeLast(), 'run/last.safetensors');
    const other = trainData(1000, 200, 299);
    await expect(Trainer.resume(other, ck, 'run/last.safetensors')).rejects.toThrow(/run\/last\.safetensors: the run trained on other data/);
    await expect(Trainer.resume(trainData(1100, 100, 300), ck, 'run/last.safetensors')).rejects.toThrow(
      /held out 200 training images for validation.*this data holds out 100/,
    );
    const best = decodeCheckpoint(t.encodeBest(), 'run/best.safetensors');
    await expect(Trainer.resume(data, best, 'run/best.safetensors')).rejects.toThrow(CheckpointError);
    await expect(Trainer.resume(data, best, 'run/best.safetensors')).rejects.toThrow(/not a resume checkpoint/);
  });
});

describe('CLI: resume and gzipped data', () => {
  let raw: string;
  let gz: string;
  let runs: string;
  const common = ['--val', '300', '--layers', '48', '--batch', '50', '--schedule', 'step', '--step-size', '1', '--gamma', '0.7'];

  beforeAll(() => {
    const root = tempDir();
    raw = writeDataset(join(root, 'raw'), { train: 1300, test: 300 });
    gz = writeDataset(join(root, 'gz'), { train: 1300, test: 300, gzip: true });
    runs = join(root, 'runs');
  });
  afterAll(removeTemps);

  it('2 epochs then --resume --epochs 4 ends bit-identical to 4 epochs; .gz data trains identically', async () => {
    const [whole, zipped, part] = await Promise.all([
      runCli(['train', '--data', raw, ...common, '--epochs', '4', '--out', join(runs, 'whole'), '--json']),
      runCli(['train', '--data', gz, ...common, '--epochs', '4', '--out', join(runs, 'gz')]),
      runCli(['train', '--data', raw, ...common, '--epochs', '2', '--out', join(runs, 'part')]),
    ]);
    for (const r of [whole, zipped, part]) expect(r.code, r.stderr).toBe(0);
    // No --val, --layers, …: the checkpoint's settings, and its validation split, are used.
    const resumed = await runCli(['train', '--data', raw, '--resume', join(runs, 'part', 'last.safetensors'), '--epochs', '4', '--out', join(runs, 'part'), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resuming');
    expect(resumed.stdout).toContain('1000 train, 300 val, 300 test');

    const file = (run: string, f: string) => readFileSync(join(runs, run, f));
    for (const run of ['gz', 'part']) {
      expect(file(run, 'best.safetensors').equals(file('whole', 'best.safetensors')), run).toBe(true);
      expect(differingTensors(tensorBytes(readCheckpoint(join(runs, run, 'last.safetensors'))), tensorBytes(readCheckpoint(join(runs, 'whole', 'last.safetensors')))), run).toEqual([]);
      expect(metricsWithoutTimes(join(runs, run, 'metrics.jsonl')), run).toEqual(metricsWithoutTimes(join(runs, 'whole', 'metrics.jsonl')));
    }
    expect(metricsWithoutTimes(join(runs, 'whole', 'metrics.jsonl'))).toHaveLength(4);
    const a = lastJson(whole);
    const b = lastJson(resumed);
    for (const k of ['test_accuracy', 'test_loss', 'val_accuracy', 'val_loss', 'epochs', 'best_epoch', 'stopped_early']) expect(b[k], k).toEqual(a[k]);
    expect(b.epoch_seconds).toHaveLength(4);
  });

  it('refuses flags that would change a resumed run’s settings, naming both values', async () => {
    const dir = join(runs, 'flags');
    expect((await runCli(['train', '--data', raw, ...common, '--epochs', '1', '--out', dir])).code).toBe(0);
    const last = join(dir, 'last.safetensors');
    const line = userError(await runCli(['train', '--data', raw, '--resume', last, '--layers', '64', '--out', dir]));
    expect(line).toMatch(/--arch dense:64: .*last\.safetensors was trained with --arch dense:48;/);
    expect(userError(await runCli(['train', '--data', raw, '--resume', last, '--lr', '0.5', '--out', dir]))).toMatch(/--lr 0\.5: .*--lr 0\.05;/);
    expect(userError(await runCli(['train', '--data', raw, '--resume', last, '--val', '100', '--out', dir]))).toMatch(/held out 300 .* holds out 100/);
    // The same value given again is fine.
    const ok = await runCli(['train', '--data', raw, '--resume', last, '--layers', '48', '--epochs', '2', '--out', dir]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
