// The dropout kernels (assembly/dropout.ts) against their twin (src/reference/dropout.ts), in every build:
// the mask (scale) bit for bit, y = x·scale and dx = dy·scale (one rounding each) bit for bit; the kept
// fraction near 1 − p; evaluation copies; a row's mask depends on its sample index, not its position.
import { describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { Rng } from '../src/rng.js';
import { dropoutBackward, dropoutForward, dropoutHash, dropoutKeepScale, dropoutThreshold } from '../src/reference/dropout.js';
import { firstBitDiff, putF32, putI32, randomF32 } from './helpers.js';

const allBuilds: Build[] = ['debug', 'release', 'relaxed'];
const SENTINEL = 12345.678;

/** Fresh memory for n floats (NaN, or data) and a guard float after them. */
function region(eng: Engine, n: number, data?: ArrayLike<number>): number {
  return putF32(eng, [...(data ? Array.from(data) : new Array(n).fill(NaN)), SENTINEL]);
}
const intact = (eng: Engine, p: number, n: number) => eng.f32(p + 4 * n, 1)[0] === Math.fround(SENTINEL);

interface Forward {
  y: Float32Array;
  scale: Float32Array;
}

/** dropout_forward in fresh memory (training when `training`, else scale = 0), guards checked. */
function forward(eng: Engine, x: Float32Array, idx: number[], cols: number, p: number, seed: number, step: number, training = true): Forward {
  const rows = idx.length;
  const n = rows * cols;
  const xp = region(eng, n, x);
  const yp = region(eng, n);
  const sp = training ? region(eng, n) : 0;
  eng.k.dropout_forward(yp, sp, xp, putI32(eng, idx), rows, cols, dropoutThreshold(p), dropoutKeepScale(p), seed, step);
  expect(intact(eng, yp, n) && (!sp || intact(eng, sp, n))).toBe(true);
  expect(firstBitDiff(eng.f32(xp, n), x), 'x unchanged').toBe(-1);
  return { y: eng.f32(yp, n).slice(), scale: sp ? eng.f32(sp, n).slice() : new Float32Array(0) };
}

for (const build of allBuilds) {
  describe(`dropout (${build})`, () => {
    // p = 0 keeps all, 1 − 2⁻⁴⁰ caps the threshold at 2³² − 1; cols around the 4-lane vectors; B6's 1600.
    const ps = [0, 0.1, 0.5, 0.9, 1 - 2 ** -40];
    const shapes: [number, number][] = [[1, 1], [1, 3], [33, 4], [5, 5], [3, 17], [64, 1600], [2, 255]];

    it.each(ps)('p = %d: scale and y equal the twin bit for bit', async (p) => {
      const eng = await Engine.load(build);
      let seed = 1;
      for (const [rows, cols] of shapes) {
        const rng = new Rng(seed);
        const idx = Array.from({ length: rows }, () => rng.nextBelow(60000));
        const x = randomF32(rows * cols, seed++);
        const step = 3 + seed * 1000003;
        const got = forward(eng, x, idx, cols, p, 0xdeadbeef, step);
        const scale = new Float64Array(rows * cols);
        const y = new Float64Array(rows * cols);
        dropoutForward(y, scale, x, idx, rows, cols, dropoutThreshold(p), dropoutKeepScale(p), 0xdeadbeef, step);
        expect(firstBitDiff(got.scale, scale), `${rows}×${cols} scale`).toBe(-1);
        expect(firstBitDiff(got.y, y.map(Math.fround)), `${rows}×${cols} y`).toBe(-1);
      }
    });

    it.each([0.1, 0.5, 0.9])('p = %d: the kept fraction over 64×1600 is within 5σ of 1 − p, each kept element scaled by 1/(1 − p)', async (p) => {
      const eng = await Engine.load(build);
      const [rows, cols] = [64, 1600];
      const idx = Array.from({ length: rows }, (_, r) => r * 937);
      const got = forward(eng, new Float32Array(rows * cols).fill(1), idx, cols, p, 42, 7);
      const kept = got.scale.filter((v) => v !== 0);
      const sigma = Math.sqrt((p * (1 - p)) / (rows * cols));
      expect(Math.abs(kept.length / (rows * cols) - (1 - p))).toBeLessThan(5 * sigma);
      expect(kept.every((v) => v === dropoutKeepScale(p))).toBe(true);
      expect(firstBitDiff(got.y, got.scale)).toBe(-1); // y = 1·scale
    });

    it('p = 0 keeps everything with scale 1; the threshold cap keeps almost nothing', async () => {
      const eng = await Engine.load(build);
      const x = randomF32(33 * 20, 5);
      const idx = Array.from({ length: 33 }, (_, r) => r);
      const none = forward(eng, x, idx, 20, 0, 9, 9);
      expect(none.scale.every((v) => v === 1)).toBe(true);
      expect(firstBitDiff(none.y, x)).toBe(-1);
      const all = forward(eng, x, idx, 20, 1 - 2 ** -40, 9, 9);
      expect(all.scale.every((v) => v === 0)).toBe(true); // hash = 2³² − 1 exactly: 1 in 4 billion
    });

    it('an element whose hash equals the threshold is kept (≥, unsigned), one just above it dropped', async () => {
      const eng = await Engine.load(build);
      // Elements 2 (a vector lane) and 5 (the scalar tail) of a 6-column row; hashes above 2³¹ test the unsigned compare.
      for (const j of [2, 5]) {
        for (let seed = 1; seed < 40; seed++) {
          const bits = dropoutHash(seed, 4, 77, j);
          const run = (threshold: number) => {
            const sp = region(eng, 6);
            eng.k.dropout_forward(region(eng, 6), sp, putF32(eng, new Array(6).fill(1)), putI32(eng, [77]), 1, 6, threshold, 2, seed, 4);
            return eng.f32(sp, 6)[j];
          };
          expect(run(bits), `seed ${seed} j ${j}`).toBe(2);
          if (bits < 2 ** 32 - 1) expect(run(bits + 1), `seed ${seed} j ${j}`).toBe(0);
        }
      }
    });

    it('evaluation (scale = 0) copies x, bit for bit, in place too', async () => {
      const eng = await Engine.load(build);
      const x = randomF32(7 * 13, 6);
      x[0] = -0;
      x[1] = NaN;
      const got = forward(eng, x, [1, 2, 3, 4, 5, 6, 7], 13, 0.5, 1, 1, false);
      expect(firstBitDiff(got.y, x)).toBe(-1);
      const xp = region(eng, x.length, x);
      eng.k.dropout_forward(xp, 0, xp, 0, 7, 13, dropoutThreshold(0.5), dropoutKeepScale(0.5), 1, 1);
      expect(firstBitDiff(eng.f32(xp, x.length), x)).toBe(-1);
    });

    it("a row's mask depends on its sample index, seed and step, not its position in the batch", async () => {
      const eng = await Engine.load(build);
      const cols = 37;
      const idx = [10, 59999, 0, 12345, 7];
      const perm = [3, 0, 4, 2, 1];
      const x = new Float32Array(idx.length * cols).fill(1);
      const a = forward(eng, x, idx, cols, 0.5, 11, 100);
      const b = forward(eng, x, perm.map((i) => idx[i]), cols, 0.5, 11, 100);
      perm.forEach((from, to) => {
        expect(firstBitDiff(b.scale.slice(to * cols, (to + 1) * cols), a.scale.slice(from * cols, (from + 1) * cols)), `row ${to}`).toBe(-1);
      });
      // One row alone (a batch of 1) gets the same mask too.
      const one = forward(eng, x.subarray(0, cols), [idx[3]], cols, 0.5, 11, 100);
      expect(firstBitDiff(one.scale, a.scale.slice(3 * cols, 4 * cols))).toBe(-1);
      // Another step, seed or sample changes the mask.
      const differs = (s: Float32Array) => firstBitDiff(s.slice(0, cols), a.scale.slice(0, cols)) >= 0;
      expect(differs(forward(eng, x, idx, cols, 0.5, 11, 101).scale)).toBe(true);
      expect(differs(forward(eng, x, idx, cols, 0.5, 12, 100).scale)).toBe(true);
      expect(differs(forward(eng, x, [11, ...idx.slice(1)], cols, 0.5, 11, 100).scale)).toBe(true);
    });

    it('backward: dx = dy·scale, then the ReLU mask, bit for bit', async () => {
      const eng = await Engine.load(build);
      for (const n of [1, 3, 4, 7, 64, 1001]) {
        const dy = randomF32(n, n);
        const scale = randomF32(n, n + 1).map((v) => (v > 0 ? dropoutKeepScale(0.3) : 0));
        const mask = randomF32(n, n + 2).map((v) => Math.max(v, 0));
        for (const useMask of [false, true]) {
          const dxp = region(eng, n);
          eng.k.dropout_backward(dxp, putF32(eng, dy), putF32(eng, scale), n, useMask ? putF32(eng, mask) : 0);
          const want = new Float64Array(n);
          dropoutBackward(want, dy, scale, n, useMask ? mask : null);
          expect(firstBitDiff(eng.f32(dxp, n), want.map(Math.fround)), `n=${n} mask=${useMask}`).toBe(-1);
          expect(intact(eng, dxp, n)).toBe(true);
        }
      }
    });
  });
}
