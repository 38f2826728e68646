// Float64 reference twin of the dropout kernels (assembly/dropout.ts), and the definition of their mask:
// element (r, j) is kept when hash(seed, step, idx[r], j) ≥ threshold, as unsigned 32-bit integers.
import type { Vec } from './kernels.js';

/** The MurmurHash3 32-bit finalizer. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The mask's hash of element j of sample `sample` at training step `step`: a u32. */
export function dropoutHash(seed: number, step: number, sample: number, j: number): number {
  return fmix32(fmix32(fmix32(fmix32(seed) ^ step) ^ sample) ^ j);
}

/** The kernels' threshold for drop probability p: round(p·2³²), at most 2³² − 1. */
export function dropoutThreshold(p: number): number {
  return Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
}

/** The kernels' scale of a kept element for drop probability p: 1/(1 − p) as an f32. */
export function dropoutKeepScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

/**
 * Training (scale given): scale[r, j] = hash(seed, step, idx[r], j) ≥ threshold ? keepScale : 0 and
 * y = x · scale over [rows, cols]; evaluation (scale null): y = x.
 */
export function dropoutForward(
  y: Vec, scale: Vec | null, x: Vec, idx: ArrayLike<number>, rows: number, cols: number,
  threshold: number, keepScale: number, seed: number, step: number,
): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      if (!scale) {
        y[i] = x[i];
        continue;
      }
      scale[i] = dropoutHash(seed, step, idx[r], j) >= threshold ? keepScale : 0;
      y[i] = x[i] * scale[i];
    }
  }
}

/** dx[n] = dy · scale, then 0 where mask is given and mask ≤ 0. */
export function dropoutBackward(dx: Vec, dy: Vec, scale: Vec, n: number, mask: Vec | null): void {
  for (let i = 0; i < n; i++) dx[i] = mask && !(mask[i] > 0) ? 0 : dy[i] * scale[i];
}
