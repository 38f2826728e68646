// Optimizer steps: one pass over a whole parameter buffer p[n] and its gradient g[n] (same layout).
// Hyperparameters arrive as f32; all per-element arithmetic is f32, in the same order in the f32x4 main
// loop and the scalar tail, so an element's update does not depend on its position. wd is L2 weight
// decay added to the gradient first: g' = g + wd·p. g itself is never written.

import { sgdScalar, sgdVec } from './sgd';

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

/** x^n for n ≥ 0 by binary powering in f64 (plain IEEE multiplies: the same result on every engine). */
function powi(x: f64, n: i32): f64 {
  let r: f64 = 1;
  let b = x;
  while (n > 0) {
    if (n & 1) r *= b;
    b *= b;
    n >>= 1;
  }
  return r;
}

// p[n], g[n]: p = p − lr·(g + wd·p).
export function sgd_step(p: usize, g: usize, n: i32, lr: f32, wd: f32): void {
  assert(n >= 0 && (p & 3) == 0 && (g & 3) == 0);
  assert(inMemory(p, <usize>n << 2) && inMemory(g, <usize>n << 2));
  if (wd == 0) sgd_loop(false, p, g, n, lr, wd);
  else sgd_loop(true, p, g, n, lr, wd);
}

// sgd_step's loop, with the decay term or (compiled separately) without.
@inline function sgd_loop(decay: bool, p: usize, g: usize, n: i32, lr: f32, wd: f32): void {
  const vlr = f32x4.splat(lr);
  const vwd = f32x4.splat(wd);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(p + o, sgdVec(v128.load(p + o), v128.load(g + o), vlr, vwd, decay));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(p + o, sgdScalar(load<f32>(p + o), load<f32>(g + o), lr, wd));
  }
}

// p[n], g[n], vel[n] (PyTorch SGD momentum): g' = g + wd·p; vel = mu·vel + g';
// p = p − lr·(nesterov ? g' + mu·vel : vel).
export function momentum_step(p: usize, g: usize, vel: usize, n: i32, lr: f32, mu: f32, wd: f32, nesterov: bool): void {
  assert(n >= 0 && (p & 3) == 0 && (g & 3) == 0 && (vel & 3) == 0);
  assert(inMemory(p, <usize>n << 2) && inMemory(g, <usize>n << 2) && inMemory(vel, <usize>n << 2));
  const vlr = f32x4.splat(lr);
  const vmu = f32x4.splat(mu);
  const vwd = f32x4.splat(wd);
  const n4 = n & ~3;
  let i = 0;
  if (nesterov) {
    for (; i < n4; i += 4) {
      const o = <usize>i << 2;
      const pv = v128.load(p + o);
      const gv = f32x4.add(v128.load(g + o), f32x4.mul(vwd, pv));
      const vv = f32x4.add(f32x4.mul(vmu, v128.load(vel + o)), gv);
      v128.store(vel + o, vv);
      v128.store(p + o, f32x4.sub(pv, f32x4.mul(vlr, f32x4.add(gv, f32x4.mul(vmu, vv)))));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      const pv = load<f32>(p + o);
      const gv = load<f32>(g + o) + wd * pv;
      const vv = mu * load<f32>(vel + o) + gv;
      store<f32>(vel + o, vv);
      store<f32>(p + o, pv - lr * (gv + mu * vv));
    }
  } else {
    for (; i < n4; i += 4) {
      const o = <usize>i << 2;
      const pv = v128.load(p + o);
      const gv = f32x4.add(v128.load(g + o), f32x4.mul(vwd, pv));
      const vv = f32x4.add(f32x4.mul(vmu, v128.load(vel + o)), gv);
      v128.store(vel + o, vv);
      v128.store(p + o, f32x4.sub(pv, f32x4.mul(vlr, vv)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      const pv = load<f32>(p + o);
      const gv = load<f32>(g + o) + wd * pv;
      const vv = mu * load<f32>(vel + o) + gv;
      store<f32>(vel + o, vv);
      store<f32>(p + o, pv - lr * vv);
    }
  }
}

// p[n], g[n], m[n], v[n] (PyTorch Adam, L2 wd): g' = g + wd·p; m = b1·m + (1−b1)·g'; v = b2·v + (1−b2)·(g'·g');
// p = p − (lr·(m/bc1)) / (sqrt(v/bc2) + eps), with t ≥ 1 the step count. The bias corrections
// bc = 1 − b^t are computed once per call in f64 (b^t by binary powering) and rounded to f32;
// 1 − b1 and 1 − b2 are f32 subtractions.
export function adam_step(
  p: usize, g: usize, m: usize, v: usize, n: i32,
  lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, t: i32,
): void {
  assert(n >= 0 && t >= 1 && (p & 3) == 0 && (g & 3) == 0 && (m & 3) == 0 && (v & 3) == 0);
  assert(inMemory(p, <usize>n << 2) && inMemory(g, <usize>n << 2));
  assert(inMemory(m, <usize>n << 2) && inMemory(v, <usize>n << 2));
  const bc1 = <f32>(1 - powi(<f64>beta1, t));
  const bc2 = <f32>(1 - powi(<f64>beta2, t));
  const omb1: f32 = 1 - beta1;
  const omb2: f32 = 1 - beta2;
  const vlr = f32x4.splat(lr), veps = f32x4.splat(eps), vwd = f32x4.splat(wd);
  const vb1 = f32x4.splat(beta1), vb2 = f32x4.splat(beta2);
  const vomb1 = f32x4.splat(omb1), vomb2 = f32x4.splat(omb2);
  const vbc1 = f32x4.splat(bc1), vbc2 = f32x4.splat(bc2);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    const gv = f32x4.add(v128.load(g + o), f32x4.mul(vwd, pv));
    const mv = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vomb1, gv));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(vomb2, f32x4.mul(gv, gv)));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    const mhat = f32x4.div(mv, vbc1);
    const vhat = f32x4.div(vv, vbc2);
    v128.store(p + o, f32x4.sub(pv, f32x4.div(f32x4.mul(vlr, mhat), f32x4.add(f32x4.sqrt(vhat), veps))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const pv = load<f32>(p + o);
    const gv = load<f32>(g + o) + wd * pv;
    const mv = beta1 * load<f32>(m + o) + omb1 * gv;
    const vv = beta2 * load<f32>(v + o) + omb2 * (gv * gv);
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    const mhat = mv / bc1;
    const vhat = vv / bc2;
    store<f32>(p + o, pv - (lr * mhat) / (sqrt<f32>(vhat) + eps));
  }
}
