// Plain-TypeScript reference twins of the WebAssembly kernels (assembly/*.ts), in float64.
// Same argument order and semantics as the kernels, with arrays in place of pointers. Kernels whose f32
// arithmetic can be replayed exactly take an optional rounding function `rd`: the default keeps float64;
// passing `f32` (Math.fround) rounds after every operation, in the kernel's order, which reproduces
// the f32 kernel bit for bit (one f64 operation on f32 inputs, then rounding, is the f32 operation).

/** A writable array of numbers: Float64Array, Float32Array, number[]. */
export interface Vec {
  [i: number]: number;
  readonly length: number;
}

/** A rounding applied after each arithmetic operation. */
export type Round = (x: number) => number;
export const f64: Round = (x) => x;
export const f32: Round = Math.fround;

// ---- activations ----

/** y[rows,cols] (in place), bias[cols]: y = (y + z) + bias (z: a second partial product, or null), then max(0, y) when relu. */
export function biasReluForward(y: Vec, z: Vec | null, bias: Vec, rows: number, cols: number, relu: boolean, rd: Round = f64): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const v = rd(rd(y[i] + (z ? z[i] : 0)) + bias[c]);
      y[i] = relu ? Math.max(v, 0) : v;
    }
  }
}

/** dy[n] (in place), y[n] = the ReLU's output: dy = y > 0 ? dy : 0. */
export function reluBackward(dy: Vec, y: Vec, n: number): void {
  for (let i = 0; i < n; i++) dy[i] = y[i] > 0 ? dy[i] : 0;
}

/** dbias[cols] (=|+=) Σ_r dy[r,cols], starting from 0 or dbias's old value, in increasing r. */
export function biasBackward(dbias: Vec, dy: Vec, rows: number, cols: number, accumulate: boolean, rd: Round = f64): void {
  for (let c = 0; c < cols; c++) {
    let s = accumulate ? dbias[c] : 0;
    for (let r = 0; r < rows; r++) s = rd(s + dy[r * cols + c]);
    dbias[c] = s;
  }
}

// ---- loss ----

/** probs[rows,cols] = softmax of each row of logits[rows,cols]. */
export function softmaxForward(probs: Vec, logits: Vec, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mx = logits[o];
    for (let c = 1; c < cols; c++) mx = Math.max(mx, logits[o + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(logits[o + c] - mx);
    for (let c = 0; c < cols; c++) probs[o + c] = Math.exp(logits[o + c] - mx) / sum;
  }
}

export interface XentResult {
  /** Σ over rows of −log softmax(logits)[label] (a sum, not a mean). */
  loss: number;
  /** Rows whose argmax (first index of the max) equals the label. */
  correct: number;
}

/**
 * Softmax + cross-entropy over rows of logits[rows,cols] with integer labels. When given, dlogits receives
 * (softmax − onehot)/rows and preds each row's argmax.
 */
export function softmaxXent(
  logits: Vec, labels: ArrayLike<number>, rows: number, cols: number, dlogits?: Vec, preds?: Vec,
): XentResult {
  let loss = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const label = labels[r];
    if (!(label >= 0 && label < cols)) throw new RangeError(`label ${label} out of range for ${cols} classes`);
    let mx = logits[o];
    let arg = 0;
    for (let c = 1; c < cols; c++) {
      if (logits[o + c] > mx) {
        mx = logits[o + c];
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(logits[o + c] - mx);
    loss += Math.log(sum) - (logits[o + label] - mx);
    if (arg === label) correct++;
    if (preds) preds[r] = arg;
    if (dlogits) {
      for (let c = 0; c < cols; c++) dlogits[o + c] = (Math.exp(logits[o + c] - mx) / sum - (c === label ? 1 : 0)) / rows;
    }
  }
  return { loss, correct };
}

// ---- optimizers ----

/** x^n for integer n ≥ 0 by binary powering, as the kernels compute β^t. */
export function powi(x: number, n: number): number {
  let r = 1;
  let b = x;
  while (n > 0) {
    if (n & 1) r *= b;
    b *= b;
    n >>= 1;
  }
  return r;
}

/** p = p − lr·(g + wd·p). */
export function sgdStep(p: Vec, g: Vec, n: number, lr: number, wd: number, rd: Round = f64): void {
  lr = rd(lr);
  wd = rd(wd);
  for (let i = 0; i < n; i++) {
    const gi = rd(g[i] + rd(wd * p[i]));
    p[i] = rd(p[i] - rd(lr * gi));
  }
}

/** PyTorch SGD momentum: g' = g + wd·p; vel = mu·vel + g'; p = p − lr·(nesterov ? g' + mu·vel : vel). */
export function momentumStep(
  p: Vec, g: Vec, vel: Vec, n: number, lr: number, mu: number, wd: number, nesterov: boolean, rd: Round = f64,
): void {
  lr = rd(lr);
  mu = rd(mu);
  wd = rd(wd);
  for (let i = 0; i < n; i++) {
    const gi = rd(g[i] + rd(wd * p[i]));
    const vi = rd(rd(mu * vel[i]) + gi);
    vel[i] = vi;
    p[i] = rd(p[i] - rd(lr * (nesterov ? rd(gi + rd(mu * vi)) : vi)));
  }
}

/**
 * Adam with bias correction and L2 wd (t is the 1-based step): g' = g + wd·p; m = b1·m + (1−b1)·g';
 * v = b2·v + (1−b2)·g'²; p = p − lr·(m/bc1) / (sqrt(v/bc2) + eps) with bc = 1 − b^t.
 */
export function adamStep(
  p: Vec, g: Vec, m: Vec, v: Vec, n: number,
  lr: number, beta1: number, beta2: number, eps: number, wd: number, t: number, rd: Round = f64,
): void {
  [lr, beta1, beta2, eps, wd] = [lr, beta1, beta2, eps, wd].map(rd);
  // as the kernel: 1 − b^t in float64, then rounded; 1 − b is one rounded subtraction
  const bc1 = rd(1 - powi(beta1, t));
  const bc2 = rd(1 - powi(beta2, t));
  const omb1 = rd(1 - beta1);
  const omb2 = rd(1 - beta2);
  for (let i = 0; i < n; i++) {
    const gi = rd(g[i] + rd(wd * p[i]));
    const mi = rd(rd(beta1 * m[i]) + rd(omb1 * gi));
    const vi = rd(rd(beta2 * v[i]) + rd(omb2 * rd(gi * gi)));
    m[i] = mi;
    v[i] = vi;
    const mhat = rd(mi / bc1);
    const vhat = rd(vi / bc2);
    p[i] = rd(p[i] - rd(rd(lr * mhat) / rd(rd(Math.sqrt(vhat)) + eps)));
  }
}

// ---- data ----

/** x[i, from:to] = images[idx[i]*dim + from:to] / 255, y[i] = labels[idx[i]] (when y is given). The f32 kernel
 *  gives Math.fround of this x. */
export function gatherBatch(
  x: Vec, y: Vec | null, images: ArrayLike<number>, labels: ArrayLike<number>, idx: ArrayLike<number>, count: number, dim: number,
  from = 0, to = dim,
): void {
  for (let i = 0; i < count; i++) {
    const j = idx[i];
    for (let d = from; d < to; d++) x[i * dim + d] = images[j * dim + d] / 255;
    if (y) y[i] = labels[j];
  }
}
