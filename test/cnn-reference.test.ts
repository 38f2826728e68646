// The float64 twins of the convolution, max-pool and dropout kernels are the oracle for them, so their
// backward passes are checked here against centred finite differences of their own forward passes, and the
// dropout hash against MurmurHash3's published test vectors.
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { worstRelError } from './helpers.js';
import {
  conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeometry, patchSize, type ConvGeometry,
} from '../src/reference/conv.js';
import { maxpool2dBackward, maxpool2dForward, poolGeometry } from '../src/reference/pool.js';
import { dropoutBackward, dropoutForward, dropoutHash, dropoutKeepScale, dropoutThreshold, fmix32 } from '../src/reference/dropout.js';

// Every loss here is piecewise linear in what is perturbed (and no step of h crosses a kink or a tie), so
// centred differences have no truncation error: h only trades against rounding, ~1e-16·|L|/h.
const h = 1e-3;
const tol = 1e-7;

function uniform(n: number, rng: Rng, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * rng.nextFloat());
}

/** Values at least `margin` from 0 (ReLU kinks stay out of reach of a step of h). */
function awayFromZero(n: number, rng: Rng, margin = 0.05): Float64Array {
  return uniform(n, rng).map((v) => (v < 0 ? v - margin : v + margin));
}

const relu = (z: Float64Array) => z.map((v) => Math.max(v, 0));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Centred differences of L at every element of v (perturbed in place and restored). */
function numeric(v: Float64Array, L: () => number): Float64Array {
  return v.map((_, i) => {
    const keep = v[i];
    v[i] = keep + h;
    const up = L();
    v[i] = keep - h;
    const down = L();
    v[i] = keep;
    return (up - down) / (2 * h);
  });
}

/** The sizes: odd and even k, strides 1–3, padding 0–2, a 1×1 output, batch 1 and 3. */
const convCases: [ConvGeometry, number][] = [
  [convGeometry(5, 6, 3, 4, 3, 2, 1), 2],
  [convGeometry(4, 5, 2, 3, 2, 1, 1), 1],
  [convGeometry(7, 8, 1, 2, 5, 3, 2), 3],
  [convGeometry(3, 3, 2, 2, 3, 1, 0), 2],
  [convGeometry(6, 4, 3, 2, 1, 2, 0), 1],
];

describe('conv reference gradients = centred differences of the reference forward', () => {
  it.each(convCases.map((c, i) => [i, ...c] as const))('case %i', (_i, g, rows) => {
    const rng = new Rng(17 + g.k * 7 + g.stride);
    const K = patchSize(g);
    const out = rows * g.oh * g.ow * g.co;
    const z = awayFromZero(rows * g.h * g.w * g.c, rng);
    const w = uniform(K * g.co, rng);
    const b = uniform(g.co, rng);
    const r = uniform(out, rng); // L = Σ r·y: dL/dy = r
    const y = new Float64Array(out);
    // The input is a ReLU's output relu(z), so the input gradient's mask is exercised: dL/dz = dx ⊙ [relu(z) > 0].
    const L = () => {
      conv2dForward(g, rows, relu(z), w, b, y, false);
      return dot(r, y);
    };
    const x = relu(z);
    const dz = new Float64Array(z.length);
    conv2dBackwardInput(g, rows, r, w, dz, x);
    const dw = new Float64Array(w.length);
    conv2dBackwardWeight(g, rows, x, r, dw);
    const db = new Float64Array(g.co);
    conv2dBackwardBias(g, rows, r, db);
    expect(worstRelError(dz, numeric(z, L))).toBeLessThan(tol);
    expect(worstRelError(dw, numeric(w, L))).toBeLessThan(tol);
    expect(worstRelError(db, numeric(b, L))).toBeLessThan(tol);
    // The mask mattered: without it some entries (where z < 0) would be nonzero.
    const unmasked = new Float64Array(z.length);
    conv2dBackwardInput(g, rows, r, w, unmasked, null);
    expect(unmasked.some((v, i) => v !== 0 && dz[i] === 0)).toBe(true);
  });

  it('the forward applies the ReLU after the bias, and its gradient through the ReLU is dy ⊙ [y > 0]', () => {
    const g = convGeometry(5, 5, 2, 3, 3, 1, 1);
    const rng = new Rng(5);
    const x = uniform(2 * 25 * 2, rng);
    const w = uniform(patchSize(g) * 3, rng);
    const b = uniform(3, rng);
    const y = new Float64Array(2 * 25 * 3);
    const lin = new Float64Array(y.length);
    conv2dForward(g, 2, x, w, b, y, true);
    conv2dForward(g, 2, x, w, b, lin, false);
    expect(Array.from(y)).toEqual(Array.from(lin, (v) => Math.max(v, 0)));
    expect(y.some((v) => v === 0) && y.some((v) => v > 0)).toBe(true);
  });
});

describe('max-pool reference gradients = centred differences', () => {
  // Distinct values 0.01 apart (no ties within a step of h), half of them negative: relu(z) has zero windows.
  for (const [hh, ww, c, k, s, rows] of [[6, 7, 3, 2, 2, 2], [7, 7, 2, 3, 1, 1], [8, 5, 4, 3, 2, 2], [5, 5, 1, 2, 3, 3]]) {
    it(`${hh}×${ww}×${c}, window ${k}, stride ${s}, batch ${rows}`, () => {
      const g = poolGeometry(hh, ww, c, k, s);
      const rng = new Rng(hh * 100 + k * 10 + s);
      const n = rows * hh * ww * c;
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.nextBelow(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const z = Float64Array.from(order, (o) => (o - n / 2 + 0.5) * 0.01);
      const outs = rows * g.oh * g.ow * c;
      const r = uniform(outs, rng);
      const y = new Float64Array(outs);
      const arg = new Int32Array(outs);
      const L = () => {
        maxpool2dForward(g, rows, relu(z), y, arg);
        return dot(r, y);
      };
      L();
      const dz = new Float64Array(n);
      maxpool2dBackward(g, rows, r, arg, dz, y);
      expect(worstRelError(dz, numeric(z, L))).toBeLessThan(tol);
      expect(dz.filter((v) => v !== 0).length).toBeGreaterThan(0);
    });
  }
});

describe('dropout reference', () => {
  it('fmix32 and the hash match MurmurHash3 x86_32 test vectors', () => {
    // MurmurHash3_x86_32 of the empty string with seed s is fmix32(s): 0x514E28B7 for seed 1, 0x81F16F39 for 2³²−1.
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
    expect(dropoutHash(7, 3, 11, 5)).toBe(fmix32(fmix32(fmix32(fmix32(7) ^ 3) ^ 11) ^ 5));
  });

  it('threshold and keep scale', () => {
    expect(dropoutThreshold(0)).toBe(0);
    expect(dropoutThreshold(0.5)).toBe(2 ** 31);
    expect(dropoutThreshold(1 - 2 ** -40)).toBe(2 ** 32 - 1);
    expect(dropoutKeepScale(0.5)).toBe(2);
    expect(dropoutKeepScale(0.1)).toBe(Math.fround(1 / 0.9));
  });

  it('gradient = centred differences, through a ReLU mask', () => {
    const rng = new Rng(9);
    const [rows, cols] = [3, 13];
    const z = awayFromZero(rows * cols, rng);
    const idx = [5, 900, 12];
    const scale = new Float64Array(rows * cols);
    const y = new Float64Array(rows * cols);
    const r = uniform(rows * cols, rng);
    const L = () => {
      dropoutForward(y, scale, relu(z), idx, rows, cols, dropoutThreshold(0.3), dropoutKeepScale(0.3), 1, 2);
      return dot(r, y);
    };
    L();
    const dz = new Float64Array(z.length);
    dropoutBackward(dz, r, scale, z.length, relu(z));
    expect(worstRelError(dz, numeric(z, L))).toBeLessThan(tol);
    expect(scale.some((v) => v === 0) && scale.some((v) => v > 1)).toBe(true);
  });
});
