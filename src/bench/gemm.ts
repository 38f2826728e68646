// GEMM throughput (B4): GFLOP/s and µs per call of gemm_nn/nt/tn and the sparse variants, per build, on 1024³,
// on the MNIST batch-64 MLP shapes (784-256-128-10) and on its batch-1 shapes (B2, per-sample SGD: one row of
// C, or an outer product for the weight gradient).
// Run: npx tsx src/bench/gemm.ts [--reps N] [--builds release,relaxed] [--filter text] [--clock cpu]
//   [--baseline dir]   (dir: <build>.wasm of another compile, timed interleaved with build/'s: before/after)
// Effective GFLOP/s = 2·m·n·k / time, also for the sparse kernels and gemm_nt_relu (the dense work they stand
// in for; the ReLU output gemm_nt_relu masks with is half zeros).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, type Build } from '../wasm/engine.js';
import type { Kernels } from '../wasm/kernels.js';
import { Rng } from '../rng.js';
import { defaultDataDir } from '../data/dataset.js';
import { median } from './table.js';

export type GemmKernel = 'gemm_nn' | 'gemm_nt' | 'gemm_tn' | 'gemm_nn_sparse' | 'gemm_tn_sparse' | 'gemm_nt_relu';

export interface GemmCase {
  label: string;
  kernel: GemmKernel;
  m: number;
  n: number;
  k: number;
  /** A is real MNIST rows (81% zeros) rather than dense random data. */
  mnist?: boolean;
}

export interface GemmBenchRow extends GemmCase {
  build: Build;
  /** Median seconds per call. */
  seconds: number;
  gflops: number;
  /** Fraction of nonzero elements in A. */
  density: number;
  /** With a baseline: its median seconds per call, timed interleaved with this build's. */
  baselineSeconds?: number;
}

export interface GemmBenchOptions {
  builds?: Build[];
  cases?: GemmCase[];
  /** Timed repetitions (the median is reported). */
  reps?: number;
  /** Minimum seconds per repetition: calls are batched until a repetition lasts this long. */
  minRepSeconds?: number;
  /** Path of train-images-idx3-ubyte. */
  mnistImages?: string;
  /** 'wall' (default) times with performance.now(); 'cpu' with this process's CPU time, which is steadier
   *  when other processes share the cores (it still counts cache and SMT interference). */
  clock?: 'wall' | 'cpu';
  /** A directory holding another compile of the builds (<build>.wasm, e.g. a copy of build/ before a change):
   *  each case is then timed on it too, repetitions alternating with this build's, so that both see the
   *  same machine load. Not for the shared builds. */
  baseline?: string;
}

const defaultMnist = () => join(defaultDataDir(), 'train-images-idx3-ubyte');

/** 1024³ in each layout, then each MLP layer's forward, input gradient and weight gradient, then sparse. */
export function defaultCases(): GemmCase[] {
  const cases: GemmCase[] = [
    { label: '1024³', kernel: 'gemm_nn', m: 1024, n: 1024, k: 1024 },
    { label: '1024³', kernel: 'gemm_nt', m: 1024, n: 1024, k: 1024 },
    { label: '1024³', kernel: 'gemm_tn', m: 1024, n: 1024, k: 1024 },
  ];
  const layers: [number, number][] = [[784, 256], [256, 128], [128, 10]];
  for (const [inp, out] of layers) cases.push({ label: `fwd ${inp}→${out}`, kernel: 'gemm_nn', m: 64, n: out, k: inp });
  for (const [inp, out] of layers) cases.push({ label: `dX ${inp}→${out}`, kernel: 'gemm_nt', m: 64, n: inp, k: out });
  for (const [inp, out] of layers) cases.push({ label: `dW ${inp}→${out}`, kernel: 'gemm_tn', m: inp, n: out, k: 64 });
  cases.push({ label: 'fwd 784→256 mnist', kernel: 'gemm_nn', m: 64, n: 256, k: 784, mnist: true });
  cases.push({ label: 'fwd 784→256 mnist', kernel: 'gemm_nn_sparse', m: 64, n: 256, k: 784, mnist: true });
  cases.push({ label: 'dW 784→256 mnist', kernel: 'gemm_tn', m: 784, n: 256, k: 64, mnist: true });
  cases.push({ label: 'dW 784→256 mnist', kernel: 'gemm_tn_sparse', m: 784, n: 256, k: 64, mnist: true });
  // B2 (batch 1), as the model calls them: forward y = x·W (the first layer sparse on MNIST), input gradient
  // dX = dOut·Wᵀ through the previous layer's ReLU, weight gradient dW = xᵀ·dOut (k = 1).
  cases.push({ label: 'B2 fwd 784→256', kernel: 'gemm_nn', m: 1, n: 256, k: 784, mnist: true });
  cases.push({ label: 'B2 fwd 784→256 mnist', kernel: 'gemm_nn_sparse', m: 1, n: 256, k: 784, mnist: true });
  for (const [inp, out] of layers.slice(1)) cases.push({ label: `B2 fwd ${inp}→${out}`, kernel: 'gemm_nn', m: 1, n: out, k: inp });
  for (const [inp, out] of layers.slice(1)) cases.push({ label: `B2 dX ${inp}→${out}`, kernel: 'gemm_nt_relu', m: 1, n: inp, k: out });
  cases.push({ label: 'B2 dW 784→256', kernel: 'gemm_tn', m: 784, n: 256, k: 1, mnist: true });
  cases.push({ label: 'B2 dW 784→256 mnist', kernel: 'gemm_tn_sparse', m: 784, n: 256, k: 1, mnist: true });
  for (const [inp, out] of layers.slice(1)) cases.push({ label: `B2 dW ${inp}→${out}`, kernel: 'gemm_tn', m: inp, n: out, k: 1 });
  return cases;
}

/** `rows` MNIST images from the IDX file as a row-major [rows, 784] float32 matrix scaled to [0, 1]. */
export function mnistRows(path: string, rows: number, first = 0): Float32Array {
  const bytes = readFileSync(path);
  const dim = 28 * 28;
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows * dim; i++) out[i] = bytes[16 + first * dim + i] / 255;
  return out;
}

function random(n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextFloat() * 2 - 1;
  return out;
}


export async function runGemmBench(opts: GemmBenchOptions = {}): Promise<GemmBenchRow[]> {
  const builds = opts.builds ?? ['release', 'relaxed'];
  const cases = opts.cases ?? defaultCases();
  const reps = opts.reps ?? 7;
  const minRep = opts.minRepSeconds ?? 0.05;
  const now = opts.clock === 'cpu'
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
    : () => performance.now();
  const rows: GemmBenchRow[] = [];
  for (const build of builds) {
    const eng = await Engine.load(build);
    const targets: Target[] = [{ k: eng.k, alloc: (bytes) => eng.alloc(bytes) }];
    if (opts.baseline) targets.push(await loadTarget(join(opts.baseline, `${build}.wasm`), build));
    for (const cs of cases) {
      const { m, n, k } = cs;
      const rng = new Rng(1234);
      // A is [m,k] for nn/nt and [k,m] for tn: the same element count either way. MNIST rows are [64,784]:
      // as nn's A (m=64,k=784) and as tn's A (k=64,m=784) alike.
      const aData = cs.mnist ? mnistRows(opts.mnistImages ?? defaultMnist(), m * k / 784) : random(m * k, rng);
      const bData = random(k * n, rng);
      const yData = random(m * n, rng).map((v) => Math.max(v, 0)); // a ReLU's output: half zeros
      let nonzero = 0;
      for (const x of aData) if (x !== 0) nonzero++;
      const calls = targets.map((t) => {
        const pa = t.alloc(m * k * 4);
        const pb = t.alloc(k * n * 4);
        const pc = t.alloc(m * n * 4);
        const ws = t.alloc(t.k.gemm_ws_bytes(m, n, k));
        new Float32Array(t.k.memory.buffer, pa, m * k).set(aData);
        new Float32Array(t.k.memory.buffer, pb, k * n).set(bData);
        if (cs.kernel === 'gemm_nt_relu') {
          const py = t.alloc(m * n * 4);
          new Float32Array(t.k.memory.buffer, py, m * n).set(yData);
          return () => t.k.gemm_nt_relu_ld(m, n, k, pa, k, pb, k, pc, n, py, ws);
        }
        const fn = t.k[cs.kernel].bind(t.k);
        return () => fn(m, n, k, pa, pb, pc, false, ws);
      });
      // Warm-up (tier-up, caches), then size a repetition to last minRep seconds.
      const batch = Math.min(...calls.map((call) => {
        const t0 = now();
        let count = 0;
        while (now() - t0 < 100 || count < 3) { call(); count++; }
        return Math.max(1, Math.ceil(minRep / ((now() - t0) / 1000 / count)));
      }));
      const times = calls.map((): number[] => []);
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < calls.length; i++) {
          const t = (r + i) % calls.length;
          const t0 = now();
          for (let c = 0; c < batch; c++) calls[t]();
          times[t].push((now() - t0) / 1000 / batch);
        }
      }
      const seconds = median(times[0]);
      rows.push({
        ...cs, build, seconds, gflops: (2 * m * n * k) / seconds / 1e9, density: nonzero / (m * k),
        ...(opts.baseline && { baselineSeconds: median(times[1]) }),
      });
    }
  }
  return rows;
}

/** Where the bench runs a case: a module's exports and an allocator in its memory. */
interface Target {
  k: Kernels;
  alloc(bytes: number): number;
}

/** A single-threaded module from a .wasm file, outside the Engine (which only loads build/). */
async function loadTarget(path: string, build: Build): Promise<Target> {
  if (build.includes('shared')) throw new Error('gemm bench: --baseline does not take the shared builds');
  if (build === 'relaxed') (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(readFileSync(path)), {
    env: { abort: () => { throw new Error(`${path}: abort`); } },
  });
  const k = instance.exports as unknown as Kernels;
  let top = k.heap_base();
  return {
    k,
    alloc(bytes) {
      const ptr = Math.ceil(top / 64) * 64;
      top = ptr + bytes;
      const have = k.memory.buffer.byteLength;
      if (top > have) k.memory.grow(Math.ceil((top - have) / 65536));
      return ptr;
    },
  };
}

export function formatGemmTable(rows: GemmBenchRow[]): string {
  const builds = [...new Set(rows.map((r) => r.build))];
  const base = rows.some((r) => r.baselineSeconds !== undefined);
  const keys = [...new Set(rows.map((r) => `${r.label}|${r.kernel}|${r.m}|${r.n}|${r.k}`))];
  const us = (s: number | undefined) => (s === undefined ? '' : (s * 1e6).toFixed(s < 1e-4 ? 2 : 0));
  const head = ['shape', 'kernel', 'm×n×k', 'A nonzero', ...builds.map((b) => `${b} GFLOP/s`), ...builds.map((b) => `${b} µs`),
    ...(base ? builds.flatMap((b) => [`${b} base µs`, `${b} speedup`]) : [])];
  const body = keys.map((key) => {
    const [label, kernel, m, n, k] = key.split('|');
    const mine = rows.filter((r) => `${r.label}|${r.kernel}|${r.m}|${r.n}|${r.k}` === key);
    const of = (b: Build) => mine.find((r) => r.build === b);
    return [label, kernel, `${m}×${n}×${k}`, `${(mine[0].density * 100).toFixed(0)}%`,
      ...builds.map((b) => of(b)?.gflops.toFixed(1) ?? ''),
      ...builds.map((b) => us(of(b)?.seconds)),
      ...(base ? builds.flatMap((b) => {
        const r = of(b);
        return [us(r?.baselineSeconds), r?.baselineSeconds ? `×${(r.baselineSeconds / r.seconds).toFixed(2)}` : ''];
      }) : [])];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const filter = arg('--filter');
  const rows = await runGemmBench({
    builds: arg('--builds')?.split(',') as Build[] | undefined,
    cases: filter ? defaultCases().filter((c) => `${c.label} ${c.kernel}`.includes(filter)) : undefined,
    reps: arg('--reps') ? Number(arg('--reps')) : undefined,
    clock: arg('--clock') as 'wall' | 'cpu' | undefined,
    baseline: arg('--baseline'),
  });
  console.log(formatGemmTable(rows));
}
