// Float64 reference twins of the max-pool kernels (assembly/pool.ts), over NHWC activations. The forward is
// exact in any precision; the backward takes a rounding `rd` (f32 replays the kernel's sums exactly).
import { f64, type Round, type Vec } from './kernels.js';

/** A max pool's sizes, as the kernels' 7 geometry words [h, w, c, k, stride, oh, ow] hold them. */
export interface PoolGeometry {
  h: number;
  w: number;
  c: number;
  k: number;
  stride: number;
  oh: number;
  ow: number;
}

/** The geometry of a k×k max pool (stride defaults to k) of an h×w×c input; output sizes as PyTorch's. */
export function poolGeometry(h: number, w: number, c: number, k: number, stride = k): PoolGeometry {
  const whole = [h, w, c, k, stride].every(Number.isInteger);
  if (!whole || c < 1 || k < 1 || stride < 1 || h < k || w < k) {
    throw new RangeError(`pool geometry ${h}×${w}×${c}, k=${k} stride=${stride}: needs positive sizes and a window inside the image`);
  }
  const out = (n: number) => Math.floor((n - k) / stride) + 1;
  return { h, w, c, k, stride, oh: out(h), ow: out(w) };
}

/** The geometry as the kernels read it (7 i32 words). */
export function poolWords(g: PoolGeometry): number[] {
  return [g.h, g.w, g.c, g.k, g.stride, g.oh, g.ow];
}

/** y[rows, oh, ow, c] = the window max of x[rows, h, w, c]; arg (laid out as y) = its index (yy·w + xx)·c + ci
 *  within the sample, the first in (ky, kx) order on ties. */
export function maxpool2dForward(g: PoolGeometry, rows: number, x: Vec, y: Vec, arg: Vec): void {
  const sample = g.h * g.w * g.c;
  let o = 0;
  for (let n = 0; n < rows; n++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        for (let ci = 0; ci < g.c; ci++) {
          let best = -Infinity;
          let at = -1;
          for (let ky = 0; ky < g.k; ky++) {
            for (let kx = 0; kx < g.k; kx++) {
              const i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * g.c + ci;
              const v = x[n * sample + i];
              if (at < 0 || v > best) {
                best = v;
                at = i;
              }
            }
          }
          y[o] = best;
          arg[o++] = at;
        }
      }
    }
  }
}

/** dx[rows, h, w, c] = 0, then dx[arg] += dy for each output element in order, where y is null or y > 0 (y: the
 *  pool's output, laid out as dy, when its input is a ReLU's output: y = x[arg] is positive exactly when the ReLU
 *  passed x[arg], so this fuses that ReLU's backward). */
export function maxpool2dBackward(g: PoolGeometry, rows: number, dy: Vec, arg: Vec, dx: Vec, y: Vec | null, rd: Round = f64): void {
  const sample = g.h * g.w * g.c;
  const outs = g.oh * g.ow * g.c;
  for (let i = 0; i < rows * sample; i++) dx[i] = 0;
  for (let n = 0; n < rows; n++) {
    for (let i = 0; i < outs; i++) {
      const a = n * sample + arg[n * outs + i];
      if (!y || y[n * outs + i] > 0) dx[a] = rd(dx[a] + dy[n * outs + i]);
    }
  }
}
