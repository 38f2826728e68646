// Every non-GEMM kernel against its reference twin (src/reference/kernels.ts) on random data, over awkward
// sizes, for each build. Exact ops are compared bit for bit; exp/log ones within tight tolerances;
// optimizer steps bit for bit against an f32-emulating replay of the same arithmetic.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine, Build } from '../src/wasm/engine.js';
import { Rng } from '../src/rng.js';
import * as ref from '../src/reference/kernels.js';
import { builds, loadEngine, maxRelError, putF32, putI32, putU8, randomF32 } from './helpers.js';

const allBuilds: Build[] = [...builds, 'relaxed']; // Node 20 compiles relaxed SIMD behind a V8 flag the engine sets
const sizes = [1, 3, 5, 17, 33, 64, 784];
const rowCounts = [1, 3, 5, 17, 33, 64];
const SENTINEL = 12345.678;

/** Asserts two float arrays hold the same f32 bit patterns (so +0 ≠ −0), naming the first difference. */
function expectBitsEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const a = new Uint32Array(Float32Array.from(actual).buffer);
  const e = new Uint32Array(Float32Array.from(expected).buffer);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Allocates n floats plus one guard float holding SENTINEL after them. */
function putGuarded(eng: Engine, data: ArrayLike<number>): number {
  return putF32(eng, [...Array.from(data), SENTINEL]);
}

function guardIntact(eng: Engine, p: number, n: number): boolean {
  return eng.f32(p + 4 * n, 1)[0] === Math.fround(SENTINEL);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextBelow(256);
  return out;
}

describe.each(allBuilds)('kernels (%s build)', (build) => {
  let eng: Engine;
  beforeAll(async () => {
    eng = await loadEngine(build);
  });

  describe('bias_relu_forward', () => {
    for (const relu of [false, true]) {
      for (const withZ of [false, true]) {
        it(`matches Math.fround(${withZ ? 'fround(y + z)' : 'y'} + b)${relu ? ' then max(0, ·)' : ''} exactly`, () => {
          let seed = (relu ? 100 : 200) + (withZ ? 50 : 0);
          for (const rows of rowCounts) {
            for (const cols of sizes) {
              const y = randomF32(rows * cols, seed++);
              const z = withZ ? randomF32(rows * cols, seed++) : null;
              const bias = randomF32(cols, seed++);
              if (z) {
                z[0] = -y[0]; // y + z = +0, then + b
                y[rows * cols - 1] = -bias[cols - 1] - z[rows * cols - 1]; // a sum near zero
              } else {
                y[0] = -bias[0]; // an exact zero sum
                if (rows * cols > 1) y[rows * cols - 1] = -bias[cols - 1];
              }
              const yp = putGuarded(eng, y);
              const zp = z ? putF32(eng, z) : 0;
              const bp = putF32(eng, bias);
              eng.k.bias_relu_forward(yp, zp, bp, rows, cols, relu);
              const want = Float64Array.from(y);
              ref.biasReluForward(want, z, bias, rows, cols, relu, Math.fround);
              expectBitsEqual(eng.f32(yp, rows * cols), want, `${rows}x${cols}`);
              if (z) expect(eng.f32(zp, rows * cols)).toEqual(z); // z is read, not written
              expect(guardIntact(eng, yp, rows * cols)).toBe(true);
            }
          }
        });
      }
    }
  });

  describe('relu_backward', () => {
    it('masks dy by y > 0 exactly', () => {
      let seed = 300;
      for (const n of [...sizes, 1000, 1003]) {
        const y = randomF32(n, seed++).map((v) => Math.max(v, 0));
        y[0] = -0;
        if (n > 2) y[2] = 0;
        const dy = randomF32(n, seed++);
        const dyp = putGuarded(eng, dy);
        const yp = putF32(eng, y);
        eng.k.relu_backward(dyp, yp, n);
        const want = Float64Array.from(dy);
        ref.reluBackward(want, y, n);
        expectBitsEqual(eng.f32(dyp, n), want, `n=${n}`);
        expect(guardIntact(eng, dyp, n)).toBe(true);
      }
    });
  });

  describe('bias_backward', () => {
    for (const accumulate of [false, true]) {
      it(`sums columns in increasing r${accumulate ? ', accumulating' : ''}`, () => {
        let seed = accumulate ? 400 : 500;
        for (const rows of rowCounts) {
          for (const cols of sizes) {
            const dy = randomF32(rows * cols, seed++);
            const old = randomF32(cols, seed++);
            const dbp = putGuarded(eng, old);
            const dyp = putF32(eng, dy);
            eng.k.bias_backward(dbp, dyp, rows, cols, accumulate);
            const got = eng.f32(dbp, cols);
            // bit-exact against the same f32 sums replayed in order
            const exact = Float64Array.from(old);
            ref.biasBackward(exact, dy, rows, cols, accumulate, ref.f32);
            expectBitsEqual(got, exact, `${rows}x${cols}`);
            // and close to the float64 sums
            const wide = Float64Array.from(old);
            ref.biasBackward(wide, dy, rows, cols, accumulate);
            expect(maxRelError(got, wide, 1)).toBeLessThan(rows * 1e-7);
            expect(guardIntact(eng, dbp, cols)).toBe(true);
          }
        }
      });
    }
  });

  describe('softmax_forward', () => {
    it('matches the float64 softmax within 1e-6 relative', () => {
      let seed = 600;
      for (const rows of rowCounts) {
        for (const cols of sizes) {
          const logits = randomF32(rows * cols, seed++, -4, 4);
          const lp = putF32(eng, logits);
          const pp = putGuarded(eng, new Float32Array(rows * cols));
          eng.k.softmax_forward(pp, lp, rows, cols);
          const want = new Float64Array(rows * cols);
          ref.softmaxForward(want, logits, rows, cols);
          expect(maxRelError(eng.f32(pp, rows * cols), want, 0), `${rows}x${cols}`).toBeLessThan(1e-6);
          expect(guardIntact(eng, pp, rows * cols)).toBe(true);
        }
      }
    });

    it('works in place and survives huge logits', () => {
      const logits = [1e4, -1e4, 0, 1e4, -3e38, 3e38];
      const lp = putF32(eng, logits);
      eng.k.softmax_forward(lp, lp, 2, 3);
      expect(Array.from(eng.f32(lp, 6))).toEqual([1, 0, 0, 0, 0, 1]);
    });
  });

  describe('softmax_xent', () => {
    it('matches the float64 reference: loss, per-row losses, dlogits, preds', () => {
      let seed = 700;
      for (const rows of rowCounts) {
        for (const cols of sizes) {
          const logits = randomF32(rows * cols, seed++, -4, 4);
          const rng = new Rng(seed++);
          const labels = Uint8Array.from({ length: rows }, () => rng.nextBelow(Math.min(cols, 256)));
          // make some rows right: put the label's logit at the top
          for (let r = 0; r < rows; r += 2) logits[r * cols + labels[r]] = 5;
          const lp = putF32(eng, logits);
          const yp = putU8(eng, labels);
          const dp = putGuarded(eng, new Float32Array(rows * cols));
          const pp = putI32(eng, new Int32Array(rows + 1).fill(-7));
          const lossesPtr = eng.alloc(8 * (rows + 1), 8);
          eng.f64(lossesPtr, rows + 1).fill(-7);
          const loss = eng.k.softmax_xent(lp, yp, rows, cols, dp, pp, lossesPtr, rows);
          const preds = eng.i32(pp, rows);
          const correct = labels.filter((l, r) => preds[r] === l).length;

          const dWant = new Float64Array(rows * cols);
          const pWant = new Int32Array(rows);
          const want = ref.softmaxXent(logits, labels, rows, cols, dWant, pWant);
          const what = `${rows}x${cols}`;
          expect(Math.abs(loss - want.loss) / Math.max(want.loss, rows), what).toBeLessThan(1e-6);
          expect(correct, what).toBe(want.correct);
          expect(correct, what).toBeGreaterThanOrEqual(Math.ceil(rows / 2));
          expect(Array.from(eng.i32(pp, rows + 1)), what).toEqual([...pWant, -7]);
          // |Δ(softmax − onehot)| < 1e-6, i.e. dlogits·rows within 1e-6 absolute
          const got = Array.from(eng.f32(dp, rows * cols), (v) => v * rows);
          expect(maxRelError(got, dWant.map((v) => v * rows), 1), what).toBeLessThan(1e-6);
          expect(guardIntact(eng, dp, rows * cols)).toBe(true);
          // the per-row losses sum, in order, to exactly the returned total; the slot past them is untouched
          const losses = eng.f64(lossesPtr, rows + 1);
          expect(losses.subarray(0, rows).reduce((a, v) => a + v, 0), what).toBe(loss);
          expect(losses[rows]).toBe(-7);
          for (let r = 0; r < rows; r++) expect(losses[r], what).toBeGreaterThanOrEqual(0);

          // without outputs: same loss, nothing written
          expect(eng.k.softmax_xent(lp, yp, rows, cols, 0, 0, 0, rows)).toBe(loss);
          // norm scales dlogits: a block of a larger batch gets that batch's values
          const dp2 = putF32(eng, new Float32Array(rows * cols));
          eng.k.softmax_xent(lp, yp, rows, cols, dp2, 0, 0, 4 * rows);
          const d1 = eng.f32(dp, rows * cols);
          const d4 = eng.f32(dp2, rows * cols);
          for (let i = 0; i < rows * cols; i++) expect(Math.abs(d4[i] * 4 - d1[i]), what).toBeLessThanOrEqual(Math.abs(d1[i]) * 1e-6);
        }
      }
    });

    it('takes the first index of a tied max as the prediction', () => {
      const lp = putF32(eng, [1, 3, 3, 0, /**/ 2, 2, 2, 2, /**/ 0, 0, 1, 1]);
      const yp = putU8(eng, [2, 0, 3]);
      const pp = putI32(eng, [9, 9, 9]);
      eng.k.softmax_xent(lp, yp, 3, 4, 0, pp, 0, 3);
      expect(Array.from(eng.i32(pp, 3))).toEqual([1, 0, 2]);
    });

    it('is stable with huge logits', () => {
      const logits = [1e4, -1e4, 0, /**/ -1e4, 1e4, 1e4, /**/ 1e4, -1e4, 0];
      const labels = [0, 0, 1];
      const lp = putF32(eng, logits);
      const yp = putU8(eng, labels);
      const dp = putF32(eng, new Float32Array(9));
      const pp = putI32(eng, new Int32Array(3));
      const loss = eng.k.softmax_xent(lp, yp, 3, 3, dp, pp, 0, 3);
      // row 0: ~0; row 1: log 2 + 2e4; row 2: 2e4
      expect(Number.isFinite(loss)).toBe(true);
      expect(Math.abs(loss - (Math.log(2) + 4e4))).toBeLessThan(1e-9);
      expect(Array.from(eng.i32(pp, 3))).toEqual([0, 1, 0]);
      const d = Array.from(eng.f32(dp, 9), (v) => v * 3);
      expect(maxRelError(d, [0, 0, 0, -1, 0.5, 0.5, 1, -1, 0], 1)).toBeLessThan(1e-7);
    });

    it('handles a single class', () => {
      const rows = 5;
      const lp = putF32(eng, randomF32(rows, 800, -1e4, 1e4));
      const yp = putU8(eng, new Uint8Array(rows));
      const dp = putF32(eng, new Float32Array(rows).fill(7));
      const pp = putI32(eng, new Int32Array(rows).fill(7));
      expect(eng.k.softmax_xent(lp, yp, rows, 1, dp, pp, 0, rows)).toBe(0);
      expect(Array.from(eng.f32(dp, rows))).toEqual(new Array(rows).fill(0));
      expect(Array.from(eng.i32(pp, rows))).toEqual(new Array(rows).fill(0));
    });

    it('handles 256 classes (the largest u8 label)', () => {
      const rows = 3;
      const cols = 256;
      const logits = randomF32(rows * cols, 801, -4, 4);
      const labels = Uint8Array.from([255, 0, 128]);
      const lp = putF32(eng, logits);
      const yp = putU8(eng, labels);
      const want = ref.softmaxXent(logits, labels, rows, cols);
      expect(Math.abs(eng.k.softmax_xent(lp, yp, rows, cols, 0, 0) - want.loss) / want.loss).toBeLessThan(1e-6);
    });

    if (build === 'debug') {
      it('asserts labels are below the class count', () => {
        const lp = putF32(eng, [0, 1, 2]);
        const yp = putU8(eng, [3]);
        expect(() => eng.k.softmax_xent(lp, yp, 1, 3, 0, 0)).toThrow(/aborted/);
      });
    }
  });

  describe('optimizers', () => {
    const ns = [...sizes, 1000, 1003];

    /** Runs `steps` updates on the kernel and on the f32-emulating reference; the results must be bit-identical. */
    function compare(
      n: number, seed: number, slots: number, steps: number,
      kernel: (p: number, g: number, s: number[], t: number) => void,
      replay: (p: Float64Array, g: Float32Array, s: Float64Array[], t: number) => void,
    ): void {
      // magnitudes from 1e-6 to 1, so the update is not lost against p's rounding
      const p0 = randomF32(n, seed).map((v, i) => v * 10 ** -(i % 7));
      const state0 = Array.from({ length: slots }, (_, i) => randomF32(n, seed + 1 + i, i === 1 ? 0 : -0.1, 0.1));
      const pp = putGuarded(eng, p0);
      const sp = state0.map((s) => putF32(eng, s));
      const gp = putF32(eng, new Float32Array(n));
      const p = Float64Array.from(p0);
      const state = state0.map((s) => Float64Array.from(s));
      for (let t = 1; t <= steps; t++) {
        const g = randomF32(n, seed * 31 + t).map((v, i) => v * 10 ** -((i + t) % 5));
        eng.f32(gp, n).set(g);
        kernel(pp, gp, sp, t);
        replay(p, g, state, t);
        expectBitsEqual(eng.f32(pp, n), p, `n=${n} step ${t}: p`);
        state.forEach((s, i) => expectBitsEqual(eng.f32(sp[i], n), s, `n=${n} step ${t}: state ${i}`));
        expectBitsEqual(eng.f32(gp, n), g, `n=${n} step ${t}: g is left alone`);
      }
      expect(guardIntact(eng, pp, n)).toBe(true);
    }

    for (const wd of [0, 5e-4]) {
      it(`sgd_step is bit-exact against the f32 replay (wd=${wd})`, () => {
        let seed = 900;
        for (const n of ns) {
          compare(n, seed++, 0, 3,
            (p, g) => eng.k.sgd_step(p, g, n, 0.1, wd),
            (p, g) => ref.sgdStep(p, g, n, 0.1, wd, ref.f32));
        }
      });

      it(`sgd_step keeps the bits of p − lr·(g + wd·p) for signed zeros in p and g (wd=${wd})`, () => {
        // Without decay the kernel computes p − lr·g: the zero cases are where it could differ.
        const vals = [0, -0, 1.5, -1.5, 3e-39, -3e-39];
        const p = vals.flatMap((v) => vals.map(() => v));
        const g = vals.flatMap(() => vals);
        const n = p.length; // 36: nine vectors, then the same formula again in the scalar tail below
        for (const len of [n, n - 1]) {
          const pp = putF32(eng, p.slice(0, len));
          eng.k.sgd_step(pp, putF32(eng, g.slice(0, len)), len, 0.1, wd);
          const want = Float64Array.from(p.slice(0, len));
          ref.sgdStep(want, Float32Array.from(g.slice(0, len)), len, 0.1, wd, ref.f32);
          expectBitsEqual(eng.f32(pp, len), want, `len ${len}`);
        }
      });

      for (const nesterov of [false, true]) {
        it(`momentum_step is bit-exact against the f32 replay (wd=${wd}, nesterov=${nesterov})`, () => {
          let seed = 1000;
          for (const n of ns) {
            compare(n, seed++, 1, 3,
              (p, g, [v]) => eng.k.momentum_step(p, g, v, n, 0.05, 0.9, wd, nesterov),
              (p, g, [v]) => ref.momentumStep(p, g, v, n, 0.05, 0.9, wd, nesterov, ref.f32));
          }
        });
      }

      it(`adam_step is bit-exact against the f32 replay (wd=${wd})`, () => {
        let seed = 1100;
        for (const n of ns) {
          compare(n, seed++, 2, 4,
            (p, g, [m, v], t) => eng.k.adam_step(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, wd, t),
            (p, g, [m, v], t) => ref.adamStep(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, wd, t, ref.f32));
        }
      });
    }

    it('adam_step at a late step (t = 100000) is bit-exact and close to float64', () => {
      const n = 37;
      for (const t of [1, 2, 1000, 100_000]) {
        const p0 = randomF32(n, 1200 + t).map((v, i) => v * 10 ** -(i % 7));
        const g = randomF32(n, 1300 + t);
        const m0 = randomF32(n, 1400 + t, -0.1, 0.1);
        const v0 = randomF32(n, 1500 + t, 0, 0.01);
        const [pp, gp, mp, vp] = [p0, g, m0, v0].map((a) => putF32(eng, a));
        eng.k.adam_step(pp, gp, mp, vp, n, 1e-3, 0.9, 0.999, 1e-8, 1e-4, t);
        const [p, m, v] = [p0, m0, v0].map((a) => Float64Array.from(a));
        ref.adamStep(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 1e-4, t, ref.f32);
        expectBitsEqual(eng.f32(pp, n), p, `t=${t}`);
        const [pw, mw, vw] = [p0, m0, v0].map((a) => Float64Array.from(a));
        ref.adamStep(pw, g, mw, vw, n, Math.fround(1e-3), Math.fround(0.9), Math.fround(0.999), Math.fround(1e-8), Math.fround(1e-4), t);
        expect(maxRelError(eng.f32(pp, n), pw, 1)).toBeLessThan(1e-6);
      }
    });

    it('sgd and momentum steps are close to the float64 reference', () => {
      const n = 1003;
      const lr = Math.fround(0.05), mu = Math.fround(0.9), wd = Math.fround(1e-3);
      for (const nesterov of [false, true]) {
        const p0 = randomF32(n, 1600);
        const g = randomF32(n, 1601);
        const v0 = randomF32(n, 1602, -0.1, 0.1);
        const [pp, gp, vp] = [p0, g, v0].map((a) => putF32(eng, a));
        const qp = putF32(eng, p0);
        eng.k.momentum_step(pp, gp, vp, n, lr, mu, wd, nesterov);
        eng.k.sgd_step(qp, gp, n, lr, wd);
        const [p, v, q] = [p0, v0, p0].map((a) => Float64Array.from(a));
        ref.momentumStep(p, g, v, n, lr, mu, wd, nesterov);
        ref.sgdStep(q, g, n, lr, wd);
        expect(maxRelError(eng.f32(pp, n), p, 1)).toBeLessThan(1e-6);
        expect(maxRelError(eng.f32(vp, n), v, 1)).toBeLessThan(1e-6);
        expect(maxRelError(eng.f32(qp, n), q, 1)).toBeLessThan(1e-6);
      }
    });
  });

  describe('gather_batch', () => {
    it('widens bytes to Math.fround(v / 255) exactly and copies labels', () => {
      let seed = 1700;
      const N = 40;
      for (const dim of sizes) {
        const images = randomBytes(N * dim, seed++);
        images[0] = 255;
        images[1 % (N * dim)] = 0;
        const labels = randomBytes(N, seed++);
        const ip = putU8(eng, images);
        const lp = putU8(eng, labels);
        for (const count of rowCounts) {
          const rng = new Rng(seed++);
          const idx = Int32Array.from({ length: count }, () => rng.nextBelow(N));
          idx[0] = 0;
          const xp = putGuarded(eng, new Float32Array(count * dim));
          const yp = putU8(eng, new Uint8Array(count + 1).fill(77));
          const ixp = putI32(eng, idx);
          eng.k.gather_batch(xp, yp, ip, lp, ixp, count, dim, 0, dim);
          const x = new Float64Array(count * dim);
          const y = new Uint8Array(count);
          ref.gatherBatch(x, y, images, labels, idx, count, dim);
          expectBitsEqual(eng.f32(xp, count * dim), x.map(Math.fround), `${count}x${dim}`);
          expect(eng.f32(xp, 1)[0]).toBe(1);
          expect(Array.from(eng.u8(yp, count + 1))).toEqual([...y, 77]);
          expect(guardIntact(eng, xp, count * dim)).toBe(true);
        }
      }
    });

    it('gathers only columns [from, to) of each row, and no labels when y is 0', () => {
      let seed = 1800;
      const N = 30;
      for (const dim of [1, 7, 33, 784]) {
        const images = randomBytes(N * dim, seed++);
        const labels = randomBytes(N, seed++);
        const ip = putU8(eng, images);
        const lp = putU8(eng, labels);
        for (const [from, to] of [[0, 0], [0, dim >> 1], [dim >> 1, dim], [1, dim], [Math.min(3, dim), Math.max(Math.min(3, dim), dim - 2)]]) {
          for (const count of [1, 5, 17]) {
            const rng = new Rng(seed++);
            const idx = Int32Array.from({ length: count }, () => rng.nextBelow(N));
            const x0 = Float32Array.from({ length: count * dim }, (_, i) => -1 - i);
            const xp = putGuarded(eng, x0);
            eng.k.gather_batch(xp, 0, ip, lp, putI32(eng, idx), count, dim, from, to);
            const x = Float64Array.from(x0);
            ref.gatherBatch(x, null, images, labels, idx, count, dim, from, to);
            expectBitsEqual(eng.f32(xp, count * dim), x.map(Math.fround), `${count}x${dim} [${from}, ${to})`);
            expect(guardIntact(eng, xp, count * dim)).toBe(true);
          }
        }
      }
    });

    it('is exact for every byte value', () => {
      const images = Uint8Array.from({ length: 256 }, (_, i) => i);
      const ip = putU8(eng, images);
      const lp = putU8(eng, [42]);
      const xp = putF32(eng, new Float32Array(256));
      const yp = putU8(eng, [0]);
      eng.k.gather_batch(xp, yp, ip, lp, putI32(eng, [0]), 1, 256, 0, 256);
      expectBitsEqual(eng.f32(xp, 256), Array.from(images, (v) => Math.fround(v / 255)), 'bytes 0..255');
      expect(eng.u8(yp, 1)[0]).toBe(42);
    });
  });
});
