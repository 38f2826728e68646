// The CNN kernels called from a thread pool's op lists (KERNEL_IDS), as the layer engine does: a conv →
// max-pool → dropout block, forward and backward, its batch split over two threads by rows (each with its own
// workspace) and the weight gradient by weight rows. Every output must equal, bit for bit, the same kernels
// called once on the whole batch by a one-thread engine. Then whole networks (the B5 and B6 layer kinds) trained
// a few steps on 1, 2, 3 and 4 threads: the same parameters, bit for bit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { OpList } from '../src/wasm/pool.js';
import { Network } from '../src/model/network.js';
import { Rng } from '../src/rng.js';
import { convGeometry, convWords, patchSize } from '../src/reference/conv.js';
import { poolGeometry, poolWords } from '../src/reference/pool.js';
import { dropoutKeepScale, dropoutThreshold } from '../src/reference/dropout.js';
import { firstBitDiff, randomF32 } from './helpers.js';

const g = convGeometry(12, 12, 6, 16, 5); // B5 conv2: 12×12×6 → 8×8×16
const pg = poolGeometry(8, 8, 16, 2); // → 4×4×16
const rows = 11;
const K = patchSize(g);
const xSize = g.h * g.w * g.c; // floats per sample of each tensor
const ySize = g.oh * g.ow * g.co;
const pSize = pg.oh * pg.ow * pg.c;

/** Block results, as bytes. */
type Results = Record<'y' | 'pooled' | 'dropped' | 'dx' | 'dw', Uint8Array>;

/** Runs the block on `eng` with the batch split at `cut` (rows) and the weight rows at `kCut`, in one op list per
 *  part; with one part everything runs as single calls over the whole batch. sparseDy: the conv's backward skips
 *  the zeros of the pool's gradient. */
function runBlock(eng: Engine, cuts: number[], kCuts: number[], sparseDy = 0): Results {
  const put = (data: ArrayLike<number>, i32 = false) => {
    const p = eng.alloc(data.length * 4);
    (i32 ? eng.i32(p, data.length) : eng.f32(p, data.length)).set(data);
    return p;
  };
  const gp = put(convWords(g), true);
  const pgp = put(poolWords(pg), true);
  const x = put(randomF32(rows * xSize, 1).map((v) => Math.max(v, 0))); // a ReLU's output: also the mask
  const w = put(randomF32(K * g.co, 2));
  const b = put(randomF32(g.co, 3));
  const idx = put(Array.from({ length: rows }, (_, r) => 1000 + 17 * r), true);
  const dOut = put(randomF32(rows * pSize, 4));
  const [y, pooled, dropped, scale, dPooled, dy, dx] = [ySize, pSize, pSize, pSize, pSize, ySize, xSize].map((n) => eng.alloc(rows * n * 4));
  const arg = eng.alloc(rows * pSize * 4);
  const dw = eng.alloc(K * g.co * 4);
  const lists = sparseDy ? eng.alloc(eng.k.conv2d_dy_lists_bytes(gp, rows, false)) : 0;
  const parts = cuts.length - 1;
  const ws = Array.from({ length: parts }, () => eng.alloc(eng.k.conv2d_ws_bytes(gp)));
  const at = (base: number, perRow: number, r: number) => base + r * perRow * 4;
  const forward: OpList[] = [];
  const backward: OpList[] = [];
  for (let t = 0; t < parts; t++) {
    const [r0, n] = [cuts[t], cuts[t + 1] - cuts[t]];
    forward.push(new OpList()
      .push('conv2d_forward', gp, n, at(x, xSize, r0), w, b, at(y, ySize, r0), 1, 0, ws[t])
      .push('maxpool2d_forward', pgp, n, at(y, ySize, r0), at(pooled, pSize, r0), at(arg, pSize, r0))
      .push('dropout_forward', at(dropped, pSize, r0), at(scale, pSize, r0), at(pooled, pSize, r0), idx + r0 * 4, n, pSize,
        dropoutThreshold(0.5), dropoutKeepScale(0.5), 7, 3));
    backward.push(new OpList()
      .push('dropout_backward', at(dPooled, pSize, r0), at(dOut, pSize, r0), at(scale, pSize, r0), n * pSize, at(pooled, pSize, r0))
      .push('maxpool2d_backward', pgp, n, at(dPooled, pSize, r0), at(arg, pSize, r0), at(dy, ySize, r0), at(pooled, pSize, r0))
      .push('conv2d_backward_input', gp, n, at(dy, ySize, r0), w, at(dx, xSize, r0), at(x, xSize, r0), sparseDy, ws[t]));
    if (lists) backward[t].push('conv2d_dy_lists', gp, n, at(x, xSize, r0), at(dy, ySize, r0), 0, lists, rows, r0, ws[t]);
  }
  const weight = Array.from({ length: kCuts.length - 1 }, (_, t) =>
    new OpList().push('conv2d_backward_weight', gp, rows, x, dy, dw, kCuts[t], kCuts[t + 1], 0, lists, ws[t % parts]));
  eng.run(forward);
  eng.run(backward);
  eng.run(weight);
  const bytes = (p: number, n: number) => eng.u8(p, n * 4).slice();
  return {
    y: bytes(y, rows * ySize), pooled: bytes(pooled, rows * pSize), dropped: bytes(dropped, rows * pSize),
    dx: bytes(dx, rows * xSize), dw: bytes(dw, K * g.co),
  };
}

describe.each(['release', 'relaxed'] as Build[])('CNN kernels in a thread pool (%s)', (build) => {
  let one: Engine;
  let two: Engine;
  beforeAll(async () => {
    one = await Engine.load(build);
    two = await Engine.load(build, { threads: 2 });
  });
  afterAll(() => two.close());

  it('two threads (rows split, weight rows split) = one call over the batch, bit for bit, skipping dy zeros or not', () => {
    expect(two.threads).toBe(2);
    const whole = runBlock(one, [0, rows], [0, K]);
    for (const [cuts, kCuts] of [[[0, 5, rows], [0, 70, K]], [[0, 1, rows], [0, 1, K]]]) {
      for (const sparseDy of [0, 1]) {
        const split = runBlock(two, cuts, kCuts, sparseDy);
        for (const key of Object.keys(whole) as (keyof Results)[]) {
          expect(Buffer.from(split[key]).equals(Buffer.from(whole[key])), `${key}, cuts ${cuts} / ${kCuts}, sparseDy ${sparseDy}`).toBe(true);
        }
      }
    }
    // Not vacuous: the block produced nonzero gradients.
    expect(new Float32Array(whole.dw.buffer).some((v) => v !== 0) && new Float32Array(whole.dx.buffer).some((v) => v !== 0)).toBe(true);
  });
});

/** MNIST-like u8 images: a blank border, about 80% zeros inside (what the first layer's zero skipping sees). */
function sparseImages(count: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let yy = 4; yy < 24; yy++) for (let xx = 5; xx < 23; xx++) if (rng.nextFloat() < 0.3) out[n * 784 + yy * 28 + xx] = 1 + rng.nextBelow(255);
  }
  return out;
}

describe.each(['release', 'relaxed'] as Build[])('CNN training on 1–4 threads (%s)', (build) => {
  // lenet5's kinds (conv 5×5 on one channel with zero skipping, pools, dense) and convnet's (conv 3×3, dropout).
  it.each(['conv5x5:6,maxpool2,conv5x5:16,maxpool2,dense:24', 'conv3x3:8,maxpool2,conv3x3:16,maxpool2,dropout:0.5'])(
    '%s: the same parameters after 3 steps of 64 and one of 24 rows, whatever the threads and the sparse hint',
    async (spec) => {
      const count = 216;
      const images = sparseImages(count, 3);
      const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % 10);
      const train = async (threads: number, sparse: boolean | 'auto') => {
        const eng = await Engine.load(build, { threads });
        try {
          const net = new Network(eng, { spec, input: { c: 1, h: 28, w: 28 }, classes: 10 }, {
            batch: 64, optimizer: { kind: 'momentum', momentum: 0.9 }, sparse, seed: 5,
          });
          net.init(new Rng(7));
          const data = net.upload(images, labels, count);
          const idx = net.allocIndices(count);
          for (let i = 0; i < count; i++) idx[i] = (i * 37) % count;
          for (const [lo, hi] of [[0, 64], [64, 128], [128, 192], [192, 216]]) net.trainStep(data, idx.subarray(lo, hi), 0.05);
          return { threads: eng.threads, params: net.paramView().slice() };
        } finally {
          eng.close();
        }
      };
      const one = await train(1, 'auto');
      expect(one.params.some((v, i) => v !== 0 && i > 0)).toBe(true);
      for (const [threads, sparse] of [[2, 'auto'], [3, 'auto'], [4, 'auto'], [1, false], [2, false]] as const) {
        const got = await train(threads, sparse);
        expect(got.threads).toBe(threads);
        expect(firstBitDiff(got.params, one.params), `${threads} threads, sparse ${sparse}`).toBe(-1);
      }
    },
  );
});
