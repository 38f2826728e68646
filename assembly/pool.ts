// Max pooling (2-D, square windows, no padding) over NHWC f32 activations: forward with argmax, and backward,
// side by side. The forward runs four channels per vector (the channels of one pixel are contiguous); with
// C % 4 ≠ 0 the last vector overlaps the one before it, whose lanes it recomputes and stores again with the same bits.

/** Geometry words the host writes (i32): [H, W, C, k, stride, OH, OW]. */
@unmanaged class PoolGeom {
  H: i32; W: i32; C: i32; k: i32; stride: i32; OH: i32; OW: i32;
}

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

/** Debug-build checks of the geometry at g (sizes as PyTorch computes them) and of rows ≥ 1. */
function checkGeom(g: usize, rows: i32): PoolGeom {
  assert((g & 3) == 0 && inMemory(g, 28) && rows >= 1);
  const G = changetype<PoolGeom>(g);
  assert(G.H >= G.k && G.W >= G.k && G.C >= 1 && G.k >= 1 && G.stride >= 1);
  assert(G.OH == (G.H - G.k) / G.stride + 1 && G.OW == (G.W - G.k) / G.stride + 1);
  return G;
}

/** Debug-build check of a 4-byte array of `words` at p. */
@inline function checkWords(p: usize, words: usize): void {
  assert((p & 3) == 0 && inMemory(p, words << 2));
}

// y[rows, OH, OW, C] = max of x[rows, H, W, C] over the k×k window at (oy·s, ox·s); arg[rows, OH, OW, C] (i32) =
// the max's index (yy·W + xx)·C + c within its sample, the first in (ky, kx) order on ties (strict >, as PyTorch).
export function maxpool2d_forward(g: usize, rows: i32, x: usize, y: usize, arg: usize): void {
  const G = checkGeom(g, rows);
  const W = G.W, C = G.C, k = G.k, s = G.stride;
  const sample = <usize>G.H * <usize>W * <usize>C;
  const outs = <usize>rows * <usize>G.OH * <usize>G.OW * <usize>C;
  checkWords(x, <usize>rows * sample);
  checkWords(y, outs);
  checkWords(arg, outs);
  const lanes = i32x4(0, 1, 2, 3);
  const pix = <usize>C << 2;
  const rowBytes = <usize>(W * C) << 2;
  let yp = y, ap = arg;
  for (let n = 0; n < rows; n++) {
    const xs = x + (<usize>n * sample << 2);
    for (let oy = 0; oy < G.OH; oy++) {
      for (let ox = 0; ox < G.OW; ox++) {
        const corner = (oy * s * W + ox * s) * C;
        if (C < 4) {
          for (let c = 0; c < C; c++) {
            let best = load<f32>(xs + (<usize>(corner + c) << 2));
            let at = corner + c;
            for (let ky = 0; ky < k; ky++) {
              for (let kx = ky == 0 ? 1 : 0; kx < k; kx++) {
                const i = corner + (ky * W + kx) * C + c;
                const v = load<f32>(xs + (<usize>i << 2));
                if (v > best) { best = v; at = i; }
              }
            }
            store<f32>(yp + (<usize>c << 2), best);
            store<i32>(ap + (<usize>c << 2), at);
          }
        } else if (k == 2) {
          // 2×2 windows (the common case) unrolled: the same comparisons in the same order.
          for (let c0 = 0; c0 < C; c0 += 4) {
            const c = min(c0, C - 4);
            const p = xs + (<usize>(corner + c) << 2);
            let best = v128.load(p);
            let at = i32x4.add(i32x4.splat(corner + c), lanes);
            const i01 = i32x4.add(at, i32x4.splat(C)), i10 = i32x4.add(at, i32x4.splat(W * C));
            const i11 = i32x4.add(i10, i32x4.splat(C));
            let v = v128.load(p + pix);
            let gt = f32x4.gt(v, best);
            best = v128.bitselect(v, best, gt); at = v128.bitselect(i01, at, gt);
            v = v128.load(p + rowBytes);
            gt = f32x4.gt(v, best);
            best = v128.bitselect(v, best, gt); at = v128.bitselect(i10, at, gt);
            v = v128.load(p + rowBytes + pix);
            gt = f32x4.gt(v, best);
            best = v128.bitselect(v, best, gt); at = v128.bitselect(i11, at, gt);
            v128.store(yp + (<usize>c << 2), best);
            v128.store(ap + (<usize>c << 2), at);
          }
        } else {
          for (let c0 = 0; c0 < C; c0 += 4) {
            const c = min(c0, C - 4);
            let best = v128.load(xs + (<usize>(corner + c) << 2));
            let at = i32x4.add(i32x4.splat(corner + c), lanes);
            for (let ky = 0; ky < k; ky++) {
              for (let kx = ky == 0 ? 1 : 0; kx < k; kx++) {
                const i = corner + (ky * W + kx) * C + c;
                const v = v128.load(xs + (<usize>i << 2));
                const gt = f32x4.gt(v, best);
                best = v128.bitselect(v, best, gt);
                at = v128.bitselect(i32x4.add(i32x4.splat(i), lanes), at, gt);
              }
            }
            v128.store(yp + (<usize>c << 2), best);
            v128.store(ap + (<usize>c << 2), at);
          }
        }
        yp += pix; ap += pix;
      }
    }
  }
}

// dx[rows, H, W, C] = 0, then for each output element in increasing order dx[arg] += dy, where y = 0 or y > 0
// (y: the pool's output, laid out as dy, when its input is a ReLU's output: the max x[arg] is positive exactly
// when that ReLU passed it, so this fuses the ReLU's backward without reading its output at arg).
export function maxpool2d_backward(g: usize, rows: i32, dy: usize, arg: usize, dx: usize, y: usize): void {
  const G = checkGeom(g, rows);
  const sample = <usize>G.H * <usize>G.W * <usize>G.C;
  const outs = <usize>G.OH * <usize>G.OW * <usize>G.C;
  checkWords(dy, <usize>rows * outs);
  checkWords(arg, <usize>rows * outs);
  checkWords(dx, <usize>rows * sample);
  if (y) checkWords(y, <usize>rows * outs);
  memory.fill(dx, 0, <usize>rows * sample << 2);
  if (G.stride >= G.k) {
    if (y) scatter(true, false, rows, sample, outs, dy, arg, dx, y);
    else scatter(false, false, rows, sample, outs, dy, arg, dx, y);
  } else if (y) scatter(true, true, rows, sample, outs, dy, arg, dx, y);
  else scatter(false, true, rows, sample, outs, dy, arg, dx, y);
}

// maxpool2d_backward's scatter, compiled per case, branch-free (whether the ReLU passed is unpredictable): a masked
// term adds +0, which changes no sum (a sum from +0 is never −0). Windows apart (no `overlap`) give each dx
// element at most one term, 0 + dy: stored without reading dx back.
@inline function scatter(
  masked: bool, overlap: bool, rows: i32, sample: usize, outs: usize, dy: usize, arg: usize, dx: usize, y: usize,
): void {
  let dp = dy, ap = arg, yp = y;
  for (let n = 0; n < rows; n++) {
    const dxs = dx + (<usize>n * sample << 2);
    for (let i: usize = 0; i < outs; i++) {
      const a = load<i32>(ap);
      assert(a >= 0 && <usize>a < sample);
      const o = dxs + (<usize>a << 2);
      let d = load<f32>(dp);
      if (masked) d = select<f32>(d, 0, load<f32>(yp) > 0);
      store<f32>(o, (overlap ? load<f32>(o) : 0) + d);
      dp += 4; ap += 4; yp += 4;
    }
  }
}
