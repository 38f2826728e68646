// Robustness of `barenet train`: killed at any moment (SIGKILL during an epoch and during each checkpoint
// write) the output directory holds loadable checkpoints and --resume ends bit-identical to a run never
// stopped; Ctrl-C saves and exits 130; an unwritable --out fails before training; a failed save keeps the
// previous checkpoint; foreign checkpoints are refused; divergence stops with exit 3 and no bad checkpoint;
// memory stays flat epoch after epoch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { join } from 'node:path';
import { writeFileAtomic, ensureWritableDir } from '../src/checkpoint/files.js';
import { archInfo, decodeCheckpoint, encodeCheckpoint, loadIntoModel } from '../src/checkpoint/model-checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors.js';
import { Engine } from '../src/wasm/engine.js';
import { Network } from '../src/model/network.js';
import { Trainer, defaultConfig } from '../src/train/trainer.js';
import { CheckpointError } from '../src/errors.js';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import {
  BIN, ROOT, differingTensors, metricsWithoutTimes, readCheckpoint, removeTemps, runCli, startCli, tempDir, tensorBytes,
  trainData, userError, waitFor, writeDataset, type CliResult,
} from './fixtures.js';

let root: string;
let data: string;
let ref: string; // the uninterrupted run
const flags = () => ['--data', data, '--val', '500', '--batch', '16', '--epochs', '4'];
let epochMs = 0;

beforeAll(async () => {
  root = tempDir();
  data = writeDataset(join(root, 'data'));
  ref = join(root, 'ref');
  const r = await runCli(['train', ...flags(), '--out', ref]);
  expect(r.code, r.stderr).toBe(0);
  epochMs = 1000 * (JSON.parse(readFileSync(join(ref, 'metrics.jsonl'), 'utf8').split('\n')[0]).epoch_seconds as number);
});
afterAll(removeTemps);

const metricLines = (dir: string) => (existsSync(join(dir, 'metrics.jsonl')) ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').length : 0);
const tmpFile = (dir: string, target: string) => existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(target + '.tmp-'));

/** Every checkpoint in dir decodes; returns the epochs of last and best (null if absent). */
function checkDir(dir: string): { last: number | null; best: number | null } {
  const epoch = (f: string) => (existsSync(join(dir, f)) ? readCheckpoint(join(dir, f)).info.epoch : null);
  for (const f of readdirSync(dir)) {
    expect(f).toMatch(/^(best\.safetensors|last\.safetensors|metrics\.jsonl)(\.tmp-\d+-[0-9a-f]+)?$/);
    if (f === 'metrics.jsonl') readFileSync(join(dir, f), 'utf8').trim().split('\n').forEach((l) => JSON.parse(l));
  }
  return { last: epoch('last.safetensors'), best: epoch('best.safetensors') };
}

/** Resumes dir's last checkpoint to the end; the results must equal the uninterrupted run's, bit for bit. */
async function resumeAndCompare(dir: string): Promise<void> {
  const r = await runCli(['train', '--data', data, '--resume', join(dir, 'last.safetensors'), '--out', dir]);
  expect(r.code, r.stderr).toBe(0);
  expect(readFileSync(join(dir, 'best.safetensors')).equals(readFileSync(join(ref, 'best.safetensors')))).toBe(true);
  expect(differingTensors(tensorBytes(readCheckpoint(join(dir, 'last.safetensors'))), tensorBytes(readCheckpoint(join(ref, 'last.safetensors'))))).toEqual([]);
  expect(metricsWithoutTimes(join(dir, 'metrics.jsonl'))).toEqual(metricsWithoutTimes(join(ref, 'metrics.jsonl')));
}

/** Starts a training run into a fresh dir, waits for `when`, sends `signal`; returns the dir and the result. */
async function interrupt(name: string, when: (dir: string, stdout: string) => boolean, signal: NodeJS.Signals, env: Record<string, string> = {}) {
  const dir = join(root, name);
  const run = startCli(['train', ...flags(), '--out', dir], env);
  let exited = false;
  run.done.then(() => (exited = true));
  await waitFor(() => exited || when(dir, run.stdout()), 60_000, name);
  expect(exited, `${name}: the run ended before the kill point`).toBe(false);
  run.child.kill(signal);
  return { dir, result: await run.done };
}

describe('killed with SIGKILL at any moment', () => {
  it('before the first epoch ends: no checkpoint, nothing half-written', async () => {
    const { dir, result } = await interrupt('kill-epoch1', (_, out) => out.includes('model:'), 'SIGKILL');
    expect(result.signal).toBe('SIGKILL');
    expect(readdirSync(dir).filter((f) => !f.includes('.tmp-'))).toEqual([]);
  });

  it('in the middle of epoch 2', async () => {
    const { dir, result } = await interrupt('kill-mid', (d) => metricLines(d) >= 1, 'SIGKILL', {});
    expect(result.signal).toBe('SIGKILL');
    const s = checkDir(dir);
    expect(s.last).toBeGreaterThanOrEqual(1);
    await resumeAndCompare(dir);
  });

  it('half an epoch into epoch 2 (timed from epoch 1)', async () => {
    let t0 = 0;
    const { dir } = await interrupt('kill-half', (d) => {
      if (metricLines(d) < 1) return false;
      t0 ||= Date.now();
      return Date.now() - t0 >= epochMs / 2;
    }, 'SIGKILL');
    expect(checkDir(dir).last).toBeGreaterThanOrEqual(1);
    await resumeAndCompare(dir);
  });

  // BARENET_TEST_SLOW_WRITE pauses each write between the complete temp file and the rename.
  const slow = { BARENET_TEST_SLOW_WRITE: '400' };
  it('while writing last.safetensors after epoch 2: the epoch-1 one is intact', async () => {
    const { dir } = await interrupt('kill-last', (d) => metricLines(d) >= 1 && tmpFile(d, 'last.safetensors'), 'SIGKILL', slow);
    expect(checkDir(dir)).toEqual({ last: 1, best: 1 });
    await resumeAndCompare(dir);
  });

  it('while writing best.safetensors at the best epoch: resume rewrites it', async () => {
    const bestEpoch = readCheckpoint(join(ref, 'best.safetensors')).info.epoch;
    const { dir } = await interrupt('kill-best', (d) => metricLines(d) >= bestEpoch - 1 && tmpFile(d, 'best.safetensors'), 'SIGKILL', slow);
    const s = checkDir(dir);
    expect(s.last).toBe(bestEpoch);
    expect(s.best === null || s.best < bestEpoch).toBe(true);
    await resumeAndCompare(dir);
  });

  it('while writing metrics.jsonl', async () => {
    const { dir } = await interrupt('kill-metrics', (d) => tmpFile(d, 'metrics.jsonl'), 'SIGKILL', slow);
    expect(checkDir(dir).last).toBe(1);
    await resumeAndCompare(dir);
  });
});

describe('Ctrl-C', () => {
  const expectSaved = (r: CliResult, dir: string) => {
    expect(r.code).toBe(130);
    const line = userError(r, 130);
    expect(line).toContain(`saved ${join(dir, 'last.safetensors')}`);
    expect(line).toContain(`--resume ${join(dir, 'last.safetensors')}`);
  };

  it('mid-epoch: saves the current state, says where, exits 130; resuming is bit-exact', async () => {
    let t0 = 0;
    const { dir, result } = await interrupt('int-mid', (d) => {
      if (metricLines(d) < 1) return false;
      t0 ||= Date.now();
      return Date.now() - t0 >= epochMs / 2;
    }, 'SIGINT');
    expectSaved(result, dir);
    const ck = readCheckpoint(join(dir, 'last.safetensors'));
    expect(ck.info.epoch).toBeGreaterThanOrEqual(1);
    // The saved state is where the run stopped (usually inside epoch 2: batchInEpoch > 0).
    expect(result.stderr).toContain(`during epoch ${ck.info.epoch + 1} (batch ${ck.info.train!.batchInEpoch})`);
    await resumeAndCompare(dir);
  });

  it('during a checkpoint write: the write completes, then the state is saved', async () => {
    const { dir, result } = await interrupt('int-write', (d) => tmpFile(d, 'last.safetensors'), 'SIGINT', { BARENET_TEST_SLOW_WRITE: '300' });
    expectSaved(result, dir);
    expect(checkDir(dir).last).toBe(1);
    await resumeAndCompare(dir);
  });
});

describe('output closed (barenet … | head)', () => {
  it('train: saves the current state, says so on stderr, exits 141; resuming is bit-exact', async () => {
    const dir = join(root, 'pipe-closed');
    const run = startCli(['train', ...flags(), '--out', dir], { BARENET_TEST_PROGRESS_SECONDS: '0.05' });
    let exited = false;
    run.done.then(() => (exited = true));
    await waitFor(() => exited || metricLines(dir) >= 1, 60_000, 'pipe-closed');
    expect(exited, 'the run ended before its output was closed').toBe(false);
    run.child.stdout!.destroy();
    const result = await run.done;
    const line = userError(result, 141);
    expect(line).toMatch(/^barenet: output closed during epoch [2-4] \(batch \d+\); saved /);
    expect(line).toContain(`continue with --resume ${join(dir, 'last.safetensors')}`);
    await resumeAndCompare(dir);
  });

  it('predict: stops writing, exits 0, no stack trace', async () => {
    const indices = Array.from({ length: 500 }, (_, i) => i).join(',');
    const run = startCli(['predict', '--model', join(ref, 'best.safetensors'), '--images', join(data, DATASET_FILES.testImages), '--index', indices]);
    await waitFor(() => run.stdout().length > 0, 60_000, 'predict output');
    run.child.stdout!.destroy();
    const result = await run.done;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('--out and saving', () => {
  it('an --out that cannot be written fails before training, naming the directory', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'in the way');
    const cases: [string, RegExp][] = [
      [file, /a-file: cannot create checkpoint directory: a file is in the way/],
      [join(file, 'sub'), /a-file\/sub: cannot create checkpoint directory: a file is in the way/],
      ['/proc/barenet-test/run', /\/proc\/barenet-test\/run: cannot create checkpoint directory/],
      ['/sys/barenet-test', /\/sys\/barenet-test: cannot create checkpoint directory/],
      ['/proc/self', /\/proc\/self: checkpoint directory is not writable/],
    ];
    await Promise.all(
      cases.map(async ([out, re]) => {
        const r = await runCli(['train', ...flags(), '--out', out]);
        expect(userError(r)).toMatch(re);
        expect(r.stdout).toBe(''); // not even the data was loaded
      }),
    );
  });

  it('ensureWritableDir creates missing parents', async () => {
    const d = join(root, 'new', 'a', 'b');
    await ensureWritableDir(d);
    expect(statSync(d).isDirectory()).toBe(true);
    expect(readdirSync(d)).toEqual([]);
  });

  it('a failed write leaves the previous file untouched and no temp file', async () => {
    const dir = join(root, 'atomic');
    await ensureWritableDir(dir);
    const path = join(dir, 'last.safetensors');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    await expect(writeFileAtomic(path, { length: 5 } as unknown as Uint8Array)).rejects.toThrow(CheckpointError);
    await expect(writeFileAtomic(path, { length: 5 } as unknown as Uint8Array)).rejects.toThrow(/last\.safetensors: cannot write checkpoint/);
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['last.safetensors']);
  });

  it('a save that fails for want of space (ulimit -f) keeps the previous good checkpoint', async () => {
    const dir = join(root, 'full');
    expect((await runCli(['train', ...flags(), '--epochs', '1', '--out', dir])).code).toBe(0);
    const before = readFileSync(join(dir, 'last.safetensors'));
    const kb = Math.floor(before.length / 1024) - 10; // room for best.safetensors and metrics, not for last
    expect(readFileSync(join(dir, 'best.safetensors')).length).toBeLessThan(kb * 1024);
    const args = ['train', '--data', data, '--resume', join(dir, 'last.safetensors'), '--epochs', '2', '--out', dir];
    const r = await new Promise<CliResult>((resolve) => {
      const c = spawn('bash', ['-c', `ulimit -f ${kb}; exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: ROOT });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (s) => (stdout += s));
      c.stderr.on('data', (s) => (stderr += s));
      c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    expect(userError(r)).toMatch(/last\.safetensors: cannot write checkpoint: file too large/);
    expect(readFileSync(join(dir, 'last.safetensors')).equals(before)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('checkpoints that do not fit', () => {
  it('another architecture is refused, naming both', async () => {
    const eng = await Engine.load('release');
    const input = { c: 1, h: 28, w: 28 };
    const a = new Network(eng, { spec: 'dense:32', input, classes: 10 }, { batch: 8 });
    const info = { arch: archInfo(a), epoch: 1, seed: 1, optimizer: a.optimizer, step: 0, dataFingerprint: '' };
    const ck = decodeCheckpoint(encodeCheckpoint(a, { info }), 'a.safetensors');
    const b = new Network(eng, { spec: 'dense:64', input, classes: 10 }, { batch: 8 });
    expect(() => loadIntoModel(b, ck, 'a.safetensors')).toThrow(/a\.safetensors: checkpoint architecture 784-32-10 does not match the model's 784-64-10/);
  });

  it('another class count or image size is refused on resume, naming both shapes', async () => {
    const data5 = writeDataset(join(root, 'data5'), { below: 5 });
    const data14 = writeDataset(join(root, 'data14'), { small: true });
    const run5 = join(root, 'run5');
    expect((await runCli(['train', '--data', data5, '--val', '500', '--layers', '16', '--epochs', '1', '--out', run5])).code).toBe(0);
    const last5 = join(run5, 'last.safetensors');
    expect(userError(await runCli(['train', '--data', data, '--resume', last5, '--out', run5]))).toMatch(
      /last\.safetensors: checkpoint is for 28×28 images and 5 classes, the data has 28×28 images and 10 classes/,
    );
    expect(userError(await runCli(['train', '--data', data14, '--resume', join(ref, 'last.safetensors'), '--out', join(root, 'o14')]))).toMatch(
      /checkpoint is for 28×28 images and 10 classes, the data has 14×14 images and 10 classes/,
    );
  });

  it('a newer format_version is refused clearly', async () => {
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(join(ref, 'best.safetensors'))), 'x');
    const list = [...(tensors as Map<string, { shape: number[]; data: Float32Array }>)].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    const newer = join(root, 'newer.safetensors');
    writeFileSync(newer, encodeSafetensors(list, { ...metadata, format_version: '3' }));
    expect(userError(await runCli(['eval', '--model', newer, '--data', data]))).toMatch(/newer\.safetensors: written by a newer barenet \(format version 3\); this one reads versions 1 to 2/);
    expect(userError(await runCli(['predict', '--model', newer, '--images', join(data, 't10k-images-idx3-ubyte')]))).toMatch(/newer\.safetensors: written by a newer barenet/);
  });
});

describe('divergence', () => {
  const finite = (dir: string, f: string) => {
    const ck = readCheckpoint(join(dir, f));
    for (const [name, t] of ck.tensors) expect(t.data.every(Number.isFinite), `${f} ${name}`).toBe(true);
    return ck;
  };

  it('--lr 1e6 with sgd stops at the first non-finite loss, exit 3, suggests a lower rate; no checkpoint', async () => {
    const dir = join(root, 'div1');
    const r = await runCli(['train', ...flags(), '--optimizer', 'sgd', '--lr', '1e6', '--out', dir]);
    expect(userError(r, 3)).toMatch(/training diverged: the loss became (NaN|-?Infinity) at epoch 1, batch \d+ .*try a lower --lr/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('weights broken by the last step of an epoch: caught before any checkpoint of them', async () => {
    // One batch per epoch, a rate that overflows: the batch loss is finite, the weights after the step are not.
    const dir = join(root, 'div-last-step');
    const r = await runCli(['train', ...flags(), '--batch', '2000', '--optimizer', 'sgd', '--lr', '1e39', '--out', dir]);
    expect(userError(r, 3)).toMatch(/training diverged: the validation loss became NaN after epoch 1 .*try a lower --lr/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('diverging in epoch 2 (a step schedule that grows the rate) leaves epoch 1’s finite checkpoints', async () => {
    const dir = join(root, 'div2');
    const r = await runCli(['train', ...flags(), '--optimizer', 'sgd', '--lr', '0.02', '--schedule', 'step', '--step-size', '1', '--gamma', '1e8', '--out', dir]);
    expect(userError(r, 3)).toMatch(/training diverged: .* at epoch 2, batch \d+ \(learning rate 2000000 at that step, from --lr 0\.02\); try a lower --lr/);
    expect(finite(dir, 'last.safetensors').info.epoch).toBe(1);
    expect(finite(dir, 'best.safetensors').info.epoch).toBe(1);
    expect(metricsWithoutTimes(join(dir, 'metrics.jsonl'))).toHaveLength(1);
    expect(readdirSync(dir).sort()).toEqual(['best.safetensors', 'last.safetensors', 'metrics.jsonl']);
  });
});

describe('memory', () => {
  it('peak RSS is flat after the first epoch (10 epochs on a 20k MNIST subset, checkpoints encoded every epoch, GC before each reading)', async () => {
    const status = () => {
      const s = readFileSync('/proc/self/status', 'utf8');
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)![1]);
      return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
    };
    // Garbage collected before each reading, so the numbers are what is kept (V8 otherwise lets
    // a few epochs of dead checkpoint buffers pile up before it collects: +20 MB, then flat).
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const t = await Trainer.create(trainData(16_000, 2_000, 2_000), { ...defaultConfig, epochs: 10, patience: 0 });
    const seen: { hwm: number; rss: number }[] = [];
    await t.run({
      onEpoch: () => {
        // What the CLI does every epoch, minus the disk.
        t.encodeLast();
        t.encodeBest();
        gc();
        seen.push(status());
      },
    });
    expect(seen).toHaveLength(10);
    const growth = (seen[9].hwm - seen[0].hwm) / 1024;
    const rssGrowth = (seen[9].rss - seen[0].rss) / 1024;
    expect(growth, `peak RSS per epoch (MB): ${seen.map((s) => (s.hwm / 1024).toFixed(1)).join(' ')}`).toBeLessThan(5);
    expect(rssGrowth, `RSS per epoch (MB): ${seen.map((s) => (s.rss / 1024).toFixed(1)).join(' ')}`).toBeLessThan(5);
  });
});
