// Float64 reference twins of the convolution kernels (assembly/conv.ts): direct loops over the definition,
// no im2col, so that tests check the kernels' im2col layout too. NHWC activations, x[n, y, x, c] at
// ((n·H + y)·W + x)·C + c; weights w[K, CO] with row (ky·k + kx)·C + ci. Also im2col and col2im themselves,
// for the tests that check the kernels' bits against "im2col, then the GEMM" (col2im takes a rounding `rd`:
// with f32 it replays the kernel's sums exactly).
import { biasBackward, f64, type Round, type Vec } from './kernels.js';

/** A convolution's sizes, as the kernels' 9 geometry words [h, w, c, co, k, stride, pad, oh, ow] hold them. */
export interface ConvGeometry {
  h: number;
  w: number;
  c: number;
  co: number;
  k: number;
  stride: number;
  pad: number;
  oh: number;
  ow: number;
}

/** The geometry of a k×k convolution of an h×w×c image to co channels; output sizes as PyTorch computes them. */
export function convGeometry(h: number, w: number, c: number, co: number, k: number, stride = 1, pad = 0): ConvGeometry {
  const whole = [h, w, c, co, k, stride, pad].every(Number.isInteger);
  if (!whole || h < 1 || w < 1 || c < 1 || co < 1 || k < 1 || stride < 1 || pad < 0 || pad >= k) {
    throw new RangeError(`conv geometry ${h}×${w}×${c} → ${co}, k=${k} stride=${stride} pad=${pad}: needs positive sizes and 0 ≤ pad < k`);
  }
  if (h + 2 * pad < k || w + 2 * pad < k) throw new RangeError(`conv geometry: a ${k}×${k} kernel does not fit a padded ${h}×${w} image`);
  const out = (n: number) => Math.floor((n + 2 * pad - k) / stride) + 1;
  return { h, w, c, co, k, stride, pad, oh: out(h), ow: out(w) };
}

/** The geometry as the kernels read it (9 i32 words). */
export function convWords(g: ConvGeometry): number[] {
  return [g.h, g.w, g.c, g.co, g.k, g.stride, g.pad, g.oh, g.ow];
}

/** K = k·k·c: a patch's length, the weight's rows. */
export const patchSize = (g: ConvGeometry) => g.k * g.k * g.c;

// Calls f(pos, tap, xi) for every in-image tap of every output position, in increasing pos, then tap: pos is
// the output row (n·oh + oy)·ow + ox, tap the patch column (ky·k + kx)·c + ci, xi the tap's index in x.
function forEachTap(g: ConvGeometry, rows: number, f: (pos: number, tap: number, xi: number) => void): void {
  for (let n = 0; n < rows; n++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const pos = (n * g.oh + oy) * g.ow + ox;
        for (let ky = 0; ky < g.k; ky++) {
          const iy = oy * g.stride - g.pad + ky;
          if (iy < 0 || iy >= g.h) continue;
          for (let kx = 0; kx < g.k; kx++) {
            const ix = ox * g.stride - g.pad + kx;
            if (ix < 0 || ix >= g.w) continue;
            for (let ci = 0; ci < g.c; ci++) f(pos, (ky * g.k + kx) * g.c + ci, ((n * g.h + iy) * g.w + ix) * g.c + ci);
          }
        }
      }
    }
  }
}

/** y[rows·oh·ow, co] = conv(x[rows, h, w, c], w[K, co]) + b[co], then max(0, ·) when relu. */
export function conv2dForward(g: ConvGeometry, rows: number, x: Vec, w: Vec, b: Vec, y: Vec, relu: boolean): void {
  const positions = rows * g.oh * g.ow;
  for (let i = 0; i < positions; i++) for (let co = 0; co < g.co; co++) y[i * g.co + co] = 0;
  forEachTap(g, rows, (pos, tap, xi) => {
    for (let co = 0; co < g.co; co++) y[pos * g.co + co] += x[xi] * w[tap * g.co + co];
  });
  for (let i = 0; i < positions; i++) {
    for (let co = 0; co < g.co; co++) {
      const v = y[i * g.co + co] + b[co];
      y[i * g.co + co] = relu ? Math.max(v, 0) : v;
    }
  }
}

/** dx[rows, h, w, c] = ∂/∂x of Σ y·dy (dy[rows·oh·ow, co]), then ⊙ [mask > 0] when mask is given (laid out as dx). */
export function conv2dBackwardInput(g: ConvGeometry, rows: number, dy: Vec, w: Vec, dx: Vec, mask: Vec | null): void {
  const size = rows * g.h * g.w * g.c;
  for (let i = 0; i < size; i++) dx[i] = 0;
  forEachTap(g, rows, (pos, tap, xi) => {
    for (let co = 0; co < g.co; co++) dx[xi] += w[tap * g.co + co] * dy[pos * g.co + co];
  });
  if (mask) for (let i = 0; i < size; i++) if (!(mask[i] > 0)) dx[i] = 0;
}

/** dw[K, co] = ∂/∂w of Σ y·dy: Σ over positions and batch of x's tap times dy. */
export function conv2dBackwardWeight(g: ConvGeometry, rows: number, x: Vec, dy: Vec, dw: Vec): void {
  for (let i = 0; i < patchSize(g) * g.co; i++) dw[i] = 0;
  forEachTap(g, rows, (pos, tap, xi) => {
    for (let co = 0; co < g.co; co++) dw[tap * g.co + co] += x[xi] * dy[pos * g.co + co];
  });
}

/** db[co] = Σ of dy[rows·oh·ow, co] over positions and batch (the kernels' bias_backward). */
export function conv2dBackwardBias(g: ConvGeometry, rows: number, dy: Vec, db: Vec): void {
  biasBackward(db, dy, rows * g.oh * g.ow, g.co, false);
}

/** col[rows·oh·ow, K] = the im2col matrix of x[rows, h, w, c]: row (n·oh + oy)·ow + ox, column (ky·k + kx)·c + ci. */
export function im2col(g: ConvGeometry, rows: number, x: Vec, col: Vec): void {
  const K = patchSize(g);
  for (let i = 0; i < rows * g.oh * g.ow * K; i++) col[i] = 0;
  forEachTap(g, rows, (pos, tap, xi) => {
    col[pos * K + tap] = x[xi];
  });
}

/** dx[rows, h, w, c] = col2im(dcol[rows·oh·ow, K]), the adjoint of im2col: from 0, each element adds its terms
 *  in increasing output position (rounded by rd after each addition). */
export function col2im(g: ConvGeometry, rows: number, dcol: Vec, dx: Vec, rd: Round = f64): void {
  const K = patchSize(g);
  for (let i = 0; i < rows * g.h * g.w * g.c; i++) dx[i] = 0;
  forEachTap(g, rows, (pos, tap, xi) => {
    dx[xi] = rd(dx[xi] + dcol[pos * K + tap]);
  });
}
