// The max-pool kernels (assembly/pool.ts) against their float64 twins (src/reference/pool.ts), in every build:
// the forward is exact (a max rounds nothing), so y and arg must equal the twin's exactly; the backward must
// equal the twin's sums replayed in f32 in the same order, bit for bit. Plus the contract's corners: ties go to
// the first element of the window, overlapping windows sum in output order, the mask fuses a ReLU's backward.
import { describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { Rng } from '../src/rng.js';
import { maxpool2dBackward, maxpool2dForward, poolGeometry, poolWords, type PoolGeometry } from '../src/reference/pool.js';
import { f32 as roundF32 } from '../src/reference/kernels.js';
import { firstBitDiff, putF32, putI32, randomF32 } from './helpers.js';

const allBuilds: Build[] = ['debug', 'release', 'relaxed'];
const SENTINEL = 12345.678;

/** [H, W, C, k, stride, batch]: windows 1–3 (and 5), strides 1–3 (overlapping, tiling, gapped), channels
 *  around the 4-lane vectors, the B5/B6 pools (24→12, 8→4, 26→13, 11→5), odd images, batch 1 and 33. */
const cases: [number, number, number, number, number, number][] = [
  [5, 7, 1, 2, 2, 1], [5, 7, 3, 2, 1, 33], [5, 7, 4, 3, 2, 2], [5, 7, 5, 3, 3, 1], [5, 7, 16, 1, 1, 3],
  [28, 28, 1, 2, 2, 33], [28, 28, 7, 3, 2, 1], [28, 28, 8, 3, 1, 2], [28, 28, 3, 5, 3, 1],
  [24, 24, 6, 2, 2, 33], [8, 8, 16, 2, 2, 33], [26, 26, 32, 2, 2, 2], [11, 11, 64, 2, 2, 1],
  [3, 3, 5, 3, 1, 33], [2, 9, 9, 2, 1, 4], [9, 2, 2, 1, 3, 5], [6, 6, 12, 3, 3, 33], [7, 5, 13, 2, 3, 1],
];

interface PoolRun {
  y: Float32Array;
  arg: Int32Array;
  dx: Float32Array;
}

/** Forward then backward (mask: the pool's output, when useMask) in fresh memory; checks the guard after each output. */
function runPool(eng: Engine, g: PoolGeometry, rows: number, x: Float32Array, dy: Float32Array, useMask: boolean): PoolRun {
  const outs = rows * g.oh * g.ow * g.c;
  const gp = putI32(eng, poolWords(g));
  const xp = putF32(eng, x);
  const yp = putF32(eng, [...new Array(outs).fill(NaN), SENTINEL]);
  const argp = putI32(eng, [...new Array(outs).fill(-7), 0x5a5a5a5a]);
  eng.k.maxpool2d_forward(gp, rows, xp, yp, argp);
  const dyp = putF32(eng, dy);
  const dxp = putF32(eng, [...new Array(x.length).fill(NaN), SENTINEL]);
  eng.k.maxpool2d_backward(gp, rows, dyp, argp, dxp, useMask ? yp : 0);
  expect(eng.f32(yp + outs * 4, 1)[0]).toBe(Math.fround(SENTINEL));
  expect(eng.i32(argp + outs * 4, 1)[0]).toBe(0x5a5a5a5a);
  expect(eng.f32(dxp + x.length * 4, 1)[0]).toBe(Math.fround(SENTINEL));
  expect(firstBitDiff(eng.f32(xp, x.length), x), 'x unchanged').toBe(-1);
  return { y: eng.f32(yp, outs).slice(), arg: eng.i32(argp, outs).slice(), dx: eng.f32(dxp, x.length).slice() };
}

function reference(g: PoolGeometry, rows: number, x: Float32Array, dy: Float32Array, useMask: boolean) {
  const outs = rows * g.oh * g.ow * g.c;
  const y = new Float64Array(outs);
  const arg = new Int32Array(outs);
  maxpool2dForward(g, rows, x, y, arg);
  const dx = new Float64Array(x.length);
  maxpool2dBackward(g, rows, dy, arg, dx, useMask ? y : null, roundF32);
  return { y, arg, dx };
}

for (const build of allBuilds) {
  describe(`max pool (${build})`, () => {
    it.each(cases.map((c, i) => [i, ...c] as const))('case %i: %i×%i×%i, window %i, stride %i, batch %i', async (i, h, w, c, k, s, rows) => {
      const eng = await Engine.load(build);
      const g = poolGeometry(h, w, c, k, s);
      // A ReLU's output (half zeros: windows of equal zeros, ties), or plain random values.
      const raw = randomF32(rows * h * w * c, 300 + i);
      const useMask = i % 2 === 0;
      const x = useMask ? raw.map((v) => Math.max(v, 0)) : raw;
      const dy = randomF32(rows * g.oh * g.ow * c, 400 + i);
      const got = runPool(eng, g, rows, x, dy, useMask);
      const want = reference(g, rows, x, dy, useMask);
      expect(firstBitDiff(got.y, want.y), 'y').toBe(-1);
      expect(Array.from(got.arg)).toEqual(Array.from(want.arg));
      expect(firstBitDiff(got.dx, want.dx), 'dx').toBe(-1);
      expect(got.dx.some((v) => v !== 0)).toBe(true);
    });

    it('ties go to the first element of the window in (ky, kx) order', async () => {
      const eng = await Engine.load(build);
      // 6×6×5 with values from {−1, 0, 1}: most windows hold ties. Channel 4 is in the last vector, which overlaps the first.
      const g = poolGeometry(6, 6, 5, 3, 1);
      const rng = new Rng(8);
      const x = Float32Array.from({ length: 2 * 36 * 5 }, () => rng.nextBelow(3) - 1);
      const dy = randomF32(2 * g.oh * g.ow * 5, 9);
      const got = runPool(eng, g, 2, x, dy, false);
      const want = reference(g, 2, x, dy, false);
      expect(Array.from(got.arg)).toEqual(Array.from(want.arg));
      expect(firstBitDiff(got.y, want.y)).toBe(-1);
      // Ties were really there: windows whose max appears more than once.
      let tied = 0;
      for (let o = 0; o < got.y.length; o++) {
        const [c, pos] = [o % 5, Math.floor(o / 5)];
        const [n, oy, ox] = [Math.floor(pos / (g.oh * g.ow)), Math.floor(pos / g.ow) % g.oh, pos % g.ow];
        let count = 0;
        for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) count += +(x[n * 180 + ((oy + ky) * 6 + ox + kx) * 5 + c] === got.y[o]);
        tied += +(count > 1);
      }
      expect(tied).toBeGreaterThan(got.y.length / 2);
      // A window of equal values points at its top-left corner, in every channel (vector lanes and tail).
      const same = runPool(eng, g, 2, new Float32Array(2 * 36 * 5).fill(0.5), dy, false);
      for (let o = 0; o < same.arg.length; o++) {
        const pos = Math.floor(o / 5) % (g.oh * g.ow);
        expect(same.arg[o]).toBe(((Math.floor(pos / g.ow)) * 6 + (pos % g.ow)) * 5 + (o % 5));
      }
      // +0 and −0 compare equal: the first of them wins, and its sign is kept.
      const zeros = poolGeometry(2, 2, 5, 2, 2);
      const signed = Float32Array.from({ length: 20 }, (_, i) => ((Math.floor(i / 5) + (i % 5)) % 2 === 0 ? -0 : 0));
      const z = runPool(eng, zeros, 1, signed, randomF32(5, 10), false);
      expect(Array.from(z.arg)).toEqual([0, 1, 2, 3, 4]);
      expect(Array.from(z.y, (v) => Object.is(v, -0))).toEqual([true, false, true, false, true]);
    });

    it('overlapping windows (stride < k) sum their gradients in output order', async () => {
      const eng = await Engine.load(build);
      // One peak in a 5×5×1 image under 3×3 windows at stride 1: the max of all 9 windows.
      const g = poolGeometry(5, 5, 1, 3, 1);
      const x = new Float32Array(25).map((_, i) => -i);
      x[12] = 10;
      const dy = Float32Array.from([0.1, 0.2, 0.3, 1e8, 0.5, -1e8, 0.7, 0.8, 0.9]);
      const got = runPool(eng, g, 1, x, dy, false);
      expect(Array.from(got.arg)).toEqual(new Array(9).fill(12));
      let sum = 0;
      for (const d of dy) sum = Math.fround(sum + d);
      expect(got.dx[12]).toBe(sum);
      expect(got.dx.filter((_, i) => i !== 12).every((v) => v === 0)).toBe(true);
      // In order, f32: ((0.1 + 0.2 + 0.3) + 1e8 + 0.5) − 1e8 + … loses the small terms in between.
      expect(sum).not.toBe(Math.fround(dy.reduce((a, b) => a + b, 0)));
    });

    it('a −0 gradient lands as +0 (0 + −0), with windows apart (written once) and overlapping (summed)', async () => {
      const eng = await Engine.load(build);
      for (const g of [poolGeometry(4, 4, 6, 2, 2), poolGeometry(4, 4, 6, 2, 1)]) {
        const x = randomF32(96, 14);
        const dy = new Float32Array(g.oh * g.ow * 6).fill(-0);
        const got = runPool(eng, g, 1, x, dy, false);
        expect(got.dx.every((v) => Object.is(v, 0)), `stride ${g.stride}`).toBe(true);
      }
    });

    it('the mask drops gradients where the pool input is not positive', async () => {
      const eng = await Engine.load(build);
      const g = poolGeometry(4, 4, 3, 2, 2);
      const x = randomF32(48, 12).map((v) => Math.max(v, 0));
      for (let c = 0; c < 3; c++) for (const p of [0, 1, 4, 5]) x[p * 3 + c] = 0; // the first window all zeros
      const dy = randomF32(12, 13);
      const masked = runPool(eng, g, 1, x, dy, true);
      const plain = runPool(eng, g, 1, x, dy, false);
      for (let i = 0; i < 48; i++) expect(masked.dx[i]).toBe(x[i] > 0 ? plain.dx[i] : 0);
      expect(plain.dx.some((v, i) => v !== 0 && !(x[i] > 0))).toBe(true);
    });
  });
}

describe('max pool: debug-build argument checks', () => {
  it('abort on inconsistent geometry and on an argmax outside the sample', async () => {
    const eng = await Engine.load('debug');
    const g = poolGeometry(4, 4, 2, 2, 2);
    const x = putF32(eng, randomF32(32, 1));
    const y = eng.alloc(8 * 4);
    const arg = putI32(eng, new Array(8).fill(0));
    const dx = eng.alloc(32 * 4);
    const good = putI32(eng, poolWords(g));
    eng.k.maxpool2d_forward(good, 1, x, y, arg);
    const wrong = putI32(eng, [4, 4, 2, 2, 2, 3, 2]);
    const tooBig = putI32(eng, [4, 4, 2, 5, 1, 0, 0]);
    expect(() => eng.k.maxpool2d_forward(wrong, 1, x, y, arg)).toThrow(/aborted/);
    expect(() => eng.k.maxpool2d_forward(tooBig, 1, x, y, arg)).toThrow(/aborted/);
    eng.i32(arg, 8)[3] = 32;
    expect(() => eng.k.maxpool2d_backward(good, 1, y, arg, dx, 0)).toThrow(/aborted/);
  });
});
