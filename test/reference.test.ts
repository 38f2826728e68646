// The float64 reference network (src/reference/mlp.ts) is the oracle for the WebAssembly model, so its
// hand-derived gradients are checked here against centred finite differences of its own loss.
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { forward, lossAndGrad, randomParams, type Params } from '../src/reference/mlp.js';
import * as ref from '../src/reference/kernels.js';
import { worstRelError } from './helpers.js';

const sizes = [7, 5, 4, 3];
const batch = 3;
const h = 3e-5; // balances truncation (∝ h²) against rounding (∝ 1/h): worst error ~4e-8 on these nets
const tol = 1e-6;

interface Problem {
  params: Params;
  x: Float64Array;
  labels: Uint8Array;
}

/** Smallest |Z| over the hidden layers' pre-activations: the distance to the nearest ReLU kink. */
function kinkMargin(p: Problem): number {
  const { pre } = forward(p.params, p.x, batch);
  let m = Infinity;
  for (const z of pre.slice(0, -1)) for (const v of z) m = Math.min(m, Math.abs(v));
  return m;
}

/**
 * A random 7-5-4-3 problem, batch 3, whose hidden pre-activations all stay well clear of 0: a step of h
 * in one parameter moves any Z by at most h·max(1, |x|, |A|), far less than the margin demanded.
 */
function problem(seed: number): Problem {
  for (let s = seed; ; s += 1000) {
    const rng = new Rng(s);
    const params = randomParams(sizes, rng);
    const x = Float64Array.from({ length: batch * sizes[0] }, () => 2 * rng.nextFloat() - 1);
    const labels = Uint8Array.from({ length: batch }, () => rng.nextBelow(sizes[sizes.length - 1]));
    const p = { params, x, labels };
    if (kinkMargin(p) > 1e-2) return p;
  }
}

/** The hidden layers' ReLU masks, as a string, to confirm a perturbation did not cross a kink. */
function masks(p: Problem): string {
  return forward(p.params, p.x, batch)
    .pre.slice(0, -1)
    .map((z) => Array.from(z, (v) => (v > 0 ? '1' : '0')).join(''))
    .join('|');
}

/** Centred differences (L(θ+h) − L(θ−h)) / 2h for every weight and bias, in the params' layout. */
function numericGrads(p: Problem): Params {
  const base = masks(p);
  return p.params.map((layer) => {
    const diff = (arr: Float64Array) =>
      arr.map((_, i) => {
        const keep = arr[i];
        arr[i] = keep + h;
        const up = lossAndGrad(p.params, p.x, p.labels, batch).loss;
        const upMask = masks(p);
        arr[i] = keep - h;
        const down = lossAndGrad(p.params, p.x, p.labels, batch).loss;
        const downMask = masks(p);
        arr[i] = keep;
        if (upMask !== base || downMask !== base) throw new Error('a finite-difference step crossed a ReLU kink');
        return (up - down) / (2 * h);
      });
    return { ...layer, w: diff(layer.w), b: diff(layer.b) };
  });
}

/** Worst relative error per parameter group: w0, b0, w1, b1, … */
function groupErrors(analytic: Params, numeric: Params): Record<string, number> {
  const out: Record<string, number> = {};
  analytic.forEach((layer, l) => {
    out[`w${l}`] = worstRelError(layer.w, numeric[l].w);
    out[`b${l}`] = worstRelError(layer.b, numeric[l].b);
  });
  return out;
}

describe('float64 reference MLP', () => {
  it('has the stated shapes and a loss equal to the mean cross-entropy of its logits', () => {
    const p = problem(1);
    const { logits, acts, pre } = forward(p.params, p.x, batch);
    expect(acts.map((a) => a.length)).toEqual(sizes.map((s) => s * batch));
    expect(pre.map((z) => z.length)).toEqual(sizes.slice(1).map((s) => s * batch));
    expect(logits).toBe(acts[acts.length - 1]);
    const { loss, grads } = lossAndGrad(p.params, p.x, p.labels, batch);
    expect(loss).toBeCloseTo(ref.softmaxXent(logits, p.labels, batch, 3).loss / batch, 14);
    expect(grads.map((g) => [g.fanIn, g.fanOut, g.w.length, g.b.length])).toEqual(
      p.params.map((q) => [q.fanIn, q.fanOut, q.w.length, q.b.length]),
    );
  });

  it('computes Y = X·W + b with W stored [in, out], ReLU on hidden layers only', () => {
    // one layer 2→3 and a second 3→2, by hand
    const params: Params = [
      { fanIn: 2, fanOut: 3, w: Float64Array.from([1, 2, 3, 4, 5, 6]), b: Float64Array.from([0, -100, 1]) },
      { fanIn: 3, fanOut: 2, w: Float64Array.from([1, 0, 0, 1, -1, -1]), b: Float64Array.from([0, 0]) },
    ];
    const { pre, logits } = forward(params, [1, 1], 1);
    expect(Array.from(pre[0])).toEqual([5, -93, 10]);
    expect(Array.from(logits)).toEqual([5 - 10, -10]);
  });

  for (const seed of [1, 2, 3]) {
    it(`gradients match centred finite differences to ${tol} (seed ${seed})`, () => {
      const p = problem(seed);
      expect(kinkMargin(p)).toBeGreaterThan(1e-2);
      const { grads } = lossAndGrad(p.params, p.x, p.labels, batch);
      const errors = groupErrors(grads, numericGrads(p));
      expect(Object.keys(errors)).toEqual(['w0', 'b0', 'w1', 'b1', 'w2', 'b2']);
      for (const [group, e] of Object.entries(errors)) expect(e, group).toBeLessThan(tol);
    });
  }

  it('the finite-difference check catches a slightly wrong gradient', () => {
    const p = problem(1);
    const numeric = numericGrads(p);
    for (const [l, key, i] of [[0, 'w', 11], [1, 'b', 2], [2, 'w', 0]] as const) {
      const { grads } = lossAndGrad(p.params, p.x, p.labels, batch);
      expect(groupErrors(grads, numeric)[`${key}${l}`]).toBeLessThan(tol);
      grads[l][key][i] *= 1 + 1e-5; // one entry off by 10 ppm
      expect(groupErrors(grads, numeric)[`${key}${l}`]).toBeGreaterThan(tol);
    }
  });

  it('the finite-difference check catches a gradient group left at zero', () => {
    const p = problem(1);
    const { grads } = lossAndGrad(p.params, p.x, p.labels, batch);
    grads[0].w.fill(0); // as if a chain-rule term back to the first layer were missing
    expect(groupErrors(grads, numericGrads(p)).w0).toBe(1);
  });
});
