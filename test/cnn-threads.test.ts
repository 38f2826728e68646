// The CNN kernels called from a thread pool's op lists (KERNEL_IDS), as the layer engine will: a conv →
// max-pool → dropout block, forward and backward, its batch split over two threads by rows (each with its own
// workspace) and the weight gradient by weight rows. Every output must
// equal, bit for bit, the same kernels called once on the whole batch by a one-thread engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { OpList } from '../src/wasm/pool.js';
import { convGeometry, convWords, patchSize } from '../src/reference/conv.js';
import { poolGeometry, poolWords } from '../src/reference/pool.js';
import { dropoutKeepScale, dropoutThreshold } from '../src/reference/dropout.js';
import { randomF32 } from './helpers.js';

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
