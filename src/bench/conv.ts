// Convolution throughput: GFLOP/s of conv2d_forward, conv2d_backward_input and conv2d_backward_weight on the
// B5 (LeNet-5) and B6 (Keras convnet) layers at batch 64, single thread, per build; beside each, the dense GEMM
// of the pass alone (gemm_nn_ld / gemm_nt_ld / gemm_tn_ld on the batch's im2col matrix, which the conv kernels
// never build): for the input gradient the gap is what col2im and the mask cost. The first layers run on real
// MNIST images with the zero-input hint off and on (blank rows), the others' forward on x 70% zeros (as a ReLU and
// pool's output in training; there, zeros are clustered, which the hint's pairs of pixels skip better) with the
// scattered-zeros hint off and on; the backward passes get dy as a max pool's gradient (3/4 or more zeros) with the
// zero-gradient hint off and on. FLOP (dense, zeros included) =
// 2·(batch·OH·OW)·K·CO per pass, K = k·k·C. Medians of --reps repetitions, the pass and its GEMM alternating.
// Run: npx tsx src/bench/conv.ts [--reps N] [--builds release,relaxed] [--filter text] [--clock cpu]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine, type Build } from '../wasm/engine.js';
import { Rng } from '../rng.js';
import { defaultDataDir } from '../data/dataset.js';
import { convGeometry, convWords, im2col, patchSize, type ConvGeometry } from '../reference/conv.js';
import { mnistRows } from './gemm.js';
import { median, textTable } from './table.js';

export type ConvPass = 'forward' | 'input grad' | 'weight grad';

export interface ConvCase {
  label: string;
  g: ConvGeometry;
  pass: ConvPass;
  /** x is real MNIST images (the first layers), else uniform random with `zeros` of it 0 (a ReLU and pool's output). */
  mnist: boolean;
  zeros: number;
  /** The hints: x mostly zeros (skip zero inputs: blank rows of MNIST, else zeros anywhere), dy mostly zeros (skip
   *  zero gradients). */
  sparse: boolean;
  sparseDy: boolean;
}

export interface ConvBenchRow extends ConvCase {
  build: Build;
  /** Median seconds per call of the conv kernel and of the pass's dense GEMM alone. */
  seconds: number;
  gemmSeconds: number;
  gflops: number;
  gemmGflops: number;
}

const BATCH = 64;

/** The B5 and B6 convolutions (benchmark.md): each pass the network runs (the first layers have no input gradient),
 *  the first layers on MNIST and the forward of the others with the zero-input hint off and on; the backward passes
 *  with dy a 2×2 max pool's gradient (every layer here is pooled), the zero-gradient hint off and on. */
export function defaultConvCases(): ConvCase[] {
  const layers: [string, ConvGeometry, boolean][] = [
    ['B5 conv1 28×28×1→6 k5', convGeometry(28, 28, 1, 6, 5), true],
    ['B5 conv2 12×12×6→16 k5', convGeometry(12, 12, 6, 16, 5), false],
    ['B6 conv1 28×28×1→32 k3', convGeometry(28, 28, 1, 32, 3), true],
    ['B6 conv2 13×13×32→64 k3', convGeometry(13, 13, 32, 64, 3), false],
  ];
  const cases: ConvCase[] = [];
  for (const [label, g, first] of layers) {
    for (const pass of ['forward', 'input grad', 'weight grad'] as ConvPass[]) {
      if (first && pass === 'input grad') continue;
      for (const sparse of first || pass === 'forward' ? [false, true] : [false]) {
        for (const sparseDy of pass === 'forward' ? [false] : [false, true]) {
          cases.push({ label, g, pass, mnist: first, zeros: first ? 0 : 0.7, sparse, sparseDy });
        }
      }
    }
  }
  return cases;
}

/** dy[BATCH·OH·OW, CO] as a 2×2 max pool (stride 2) passes it back: in each window and channel one position holds a
 *  gradient, or none (a ReLU that did not pass, 30% of them); rows and columns outside every window are zero. */
function poolGradient(g: ConvGeometry, rng: Rng): Float32Array {
  const dy = new Float32Array(BATCH * g.oh * g.ow * g.co);
  for (let n = 0; n < BATCH; n++) {
    for (let py = 0; py + 1 < g.oh; py += 2) {
      for (let px = 0; px + 1 < g.ow; px += 2) {
        for (let c = 0; c < g.co; c++) {
          if (rng.nextFloat() < 0.3) continue;
          const at = rng.nextBelow(4);
          dy[((n * g.oh + py + (at >> 1)) * g.ow + px + (at & 1)) * g.co + c] = rng.nextFloat() * 2 - 1;
        }
      }
    }
  }
  return dy;
}

interface Target {
  eng: Engine;
  /** The conv pass and its dense GEMM alone, as closures over prepared memory. */
  conv: () => void;
  gemm: () => void;
}

function prepare(eng: Engine, cs: ConvCase): Target {
  const { g } = cs;
  const rng = new Rng(1234);
  const random = (n: number, zeros = 0) =>
    Float32Array.from({ length: n }, () => (rng.nextFloat() < zeros ? 0 : rng.nextFloat() * 2 - 1));
  const put = (data: Float32Array) => {
    const p = eng.alloc(data.length * 4);
    eng.f32(p, data.length).set(data);
    return p;
  };
  const K = patchSize(g);
  const M = BATCH * g.oh * g.ow;
  const gp = eng.alloc(36);
  eng.i32(gp, 9).set(convWords(g));
  const xData = cs.mnist ? mnistRows(join(defaultDataDir(), 'train-images-idx3-ubyte'), BATCH) : random(BATCH * g.h * g.w * g.c, cs.zeros);
  const x = put(xData);
  const w = put(random(K * g.co));
  const b = put(random(g.co));
  const dy = put(poolGradient(g, rng));
  const mask = put(random(BATCH * g.h * g.w * g.c).map((v) => Math.max(v, 0)));
  const y = eng.alloc(M * g.co * 4);
  // The batch's im2col matrix, for the GEMMs alone.
  const colData = new Float32Array(M * K);
  im2col(g, BATCH, xData, colData);
  const col = put(colData);
  const dx = eng.alloc(BATCH * g.h * g.w * g.c * 4);
  const dw = eng.alloc(K * g.co * 4);
  const k = eng.k;
  const ws = eng.alloc(Math.max(k.conv2d_ws_bytes(gp), k.gemm_ws_bytes(M, g.co, K), k.gemm_ws_bytes(M, K, g.co), k.gemm_ws_bytes(K, g.co, M)));
  const listBytes = cs.sparseDy ? k.conv2d_dy_lists_bytes(gp, BATCH, cs.sparse) : 0;
  const lists = listBytes ? eng.alloc(listBytes) : 0;
  switch (cs.pass) {
    case 'forward':
      return {
        eng,
        conv: () => k.conv2d_forward(gp, BATCH, x, w, b, y, true, cs.sparse ? (cs.mnist ? 1 : 2) : 0, ws),
        gemm: () => k.gemm_nn_ld(M, g.co, K, col, K, w, g.co, y, g.co, false, ws),
      };
    case 'input grad':
      return {
        eng,
        conv: () => k.conv2d_backward_input(gp, BATCH, dy, w, dx, mask, cs.sparseDy, ws),
        gemm: () => k.gemm_nt_ld(M, K, g.co, dy, g.co, w, g.co, col, K, false, ws),
      };
    case 'weight grad':
      return {
        eng,
        // Skipping dy's zeros: its lists (the backward phase's work in training), then the gradient from them.
        conv: () => {
          if (lists) k.conv2d_dy_lists(gp, BATCH, x, dy, cs.sparse, lists, BATCH, 0, ws);
          k.conv2d_backward_weight(gp, BATCH, x, dy, dw, 0, K, cs.sparse, lists, ws);
        },
        gemm: () => k.gemm_tn_ld(K, g.co, M, col, K, dy, g.co, dw, g.co, false, ws),
      };
  }
}

export interface ConvBenchOptions {
  builds?: Build[];
  cases?: ConvCase[];
  reps?: number;
  /** Minimum seconds per repetition: calls are batched until a repetition lasts this long. */
  minRepSeconds?: number;
  clock?: 'wall' | 'cpu';
}

export async function runConvBench(opts: ConvBenchOptions = {}): Promise<ConvBenchRow[]> {
  const reps = opts.reps ?? 7;
  const minRep = opts.minRepSeconds ?? 0.05;
  const now = opts.clock === 'cpu'
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }
    : () => performance.now();
  const rows: ConvBenchRow[] = [];
  for (const build of opts.builds ?? ['release', 'relaxed']) {
    for (const cs of opts.cases ?? defaultConvCases()) {
      // A fresh engine per case: memory stays at one case's size.
      const t = prepare(await Engine.load(build), cs);
      const calls = [t.conv, t.gemm];
      // Warm-up (tier-up, caches), then size a repetition to last minRep seconds.
      const batch = calls.map((call) => {
        const t0 = now();
        let count = 0;
        while (now() - t0 < 100 || count < 3) { call(); count++; }
        return Math.max(1, Math.ceil(minRep / ((now() - t0) / 1000 / count)));
      });
      const times: number[][] = [[], []];
      // The conv pass and its GEMM alternate, so both see the same machine load.
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < 2; i++) {
          const t0 = now();
          for (let c = 0; c < batch[i]; c++) calls[i]();
          times[i].push((now() - t0) / 1000 / batch[i]);
        }
      }
      const flop = 2 * BATCH * cs.g.oh * cs.g.ow * patchSize(cs.g) * cs.g.co;
      const [seconds, gemmSeconds] = times.map(median);
      rows.push({ ...cs, build, seconds, gemmSeconds, gflops: flop / seconds / 1e9, gemmGflops: flop / gemmSeconds / 1e9 });
    }
  }
  return rows;
}

export function formatConvTable(rows: ConvBenchRow[]): string {
  const builds = [...new Set(rows.map((r) => r.build))];
  const key = (r: ConvCase) => `${r.label}|${r.pass}|${r.sparse}|${r.sparseDy}`;
  const keys = [...new Set(rows.map(key))];
  const head = ['layer (batch 64)', 'pass', 'inputs', ...builds.flatMap((b) => [`${b} GFLOP/s`, 'dense GEMM', 'µs'])];
  const body = keys.map((k) => {
    const mine = rows.filter((r) => key(r) === k);
    const r0 = mine[0];
    const x = `x ${r0.mnist ? 'MNIST' : `${r0.zeros * 100}% 0`}${r0.sparse ? ' (skip 0)' : ''}${r0.pass === 'forward' ? '' : `, dy pooled${r0.sparseDy ? ' (skip 0)' : ''}`}`;
    return [r0.label, r0.pass, x, ...builds.flatMap((b) => {
      const r = mine.find((m) => m.build === b);
      return r ? [r.gflops.toFixed(1), r.gemmGflops.toFixed(1), (r.seconds * 1e6).toFixed(0)] : ['', '', ''];
    })];
  });
  return textTable(head, body);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const filter = arg('--filter');
  const rows = await runConvBench({
    builds: arg('--builds')?.split(',') as Build[] | undefined,
    cases: filter ? defaultConvCases().filter((c) => `${c.label} ${c.pass}`.includes(filter)) : undefined,
    reps: arg('--reps') ? Number(arg('--reps')) : undefined,
    clock: arg('--clock') as 'wall' | 'cpu' | undefined,
  });
  console.log(formatConvTable(rows));
}
