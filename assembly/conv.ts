// Convolution (2-D, square kernels, zero padding) as im2col + GEMM: forward, input gradient and weight
// gradient side by side. Activations are NHWC f32: x[n, y, x, c] at ((n·H + y)·W + x)·C + c. A weight is
// w[K, CO] with K = k·k·C and row (ky·k + kx)·C + ci. The im2col matrix of a batch has row (n·OH + oy)·OW + ox
// and column (ky·k + kx)·C + ci, holding x[n, oy·s − p + ky, ox·s − p + kx, ci], or 0 outside the image.
// In NHWC one ky row of a patch, k·C floats, is contiguous in x: im2col and col2im copy and add whole spans.
// The products are the GEMMs of gemm.ts, whose elements' bits depend neither on the number of rows nor on
// which block of C they are computed in; so no result here depends on how rows are chunked or split.
import { gemm_nn_ld, gemm_nn_sparse_ld, gemm_nt_ld, gemm_tn_ld, gemm_tn_sparse_ld, gemm_ws_bytes } from './gemm';
import { bias_relu_forward, relu_backward } from './activations';

/** Geometry words the host writes (i32): [H, W, C, CO, k, stride, pad, OH, OW]. */
@unmanaged class ConvGeom {
  H: i32; W: i32; C: i32; CO: i32; k: i32; stride: i32; pad: i32; OH: i32; OW: i32;
}

/** Fewest output channels for which the sparse hint runs the sparse GEMMs: each skipped term saves CO/4 vector
 *  multiply-adds against the cost of its list entry. On MNIST at batch 64 (src/bench/conv.ts, a noisy machine):
 *  CO = 6 (B5 conv1) ran 1.1–2× slower sparse in both passes; CO = 32 (B6 conv1) about even forward and
 *  1.3–1.6× faster for the weight gradient. Either way the bits are the same. */
const SPARSE_MIN_CO: i32 = 16;

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

/** Debug-build checks of the geometry at g: sizes as PyTorch computes them, pad < k, and `rows` ≥ 1. */
function checkGeom(g: usize, rows: i32): ConvGeom {
  assert((g & 3) == 0 && inMemory(g, 36) && rows >= 1);
  const G = changetype<ConvGeom>(g);
  assert(G.H >= 1 && G.W >= 1 && G.C >= 1 && G.CO >= 1 && G.k >= 1 && G.stride >= 1);
  assert(G.pad >= 0 && G.pad < G.k && G.H + 2 * G.pad >= G.k && G.W + 2 * G.pad >= G.k);
  assert(G.OH == (G.H + 2 * G.pad - G.k) / G.stride + 1 && G.OW == (G.W + 2 * G.pad - G.k) / G.stride + 1);
  return G;
}

/** Debug-build check of an f32 array of `floats` at p. */
@inline function checkF32(p: usize, floats: usize): void {
  assert((p & 3) == 0 && inMemory(p, floats << 2));
}

/** Debug-build checks of a chunked pass's im2col-sized buffer (colRows samples, or rows when fewer) and workspace. */
@inline function checkChunks(g: usize, rows: i32, colRows: i32, col: usize, ws: usize): void {
  const G = changetype<ConvGeom>(g);
  assert(colRows >= 1);
  checkF32(col, <usize>min(rows, colRows) * <usize>positions(G) * <usize>patchFloats(G));
  assert(inMemory(ws, <usize>conv2d_ws_bytes(g, min(rows, colRows))));
}

@inline function sampleFloats(G: ConvGeom): usize {
  return <usize>G.H * <usize>G.W * <usize>G.C;
}

@inline function positions(G: ConvGeom): i32 {
  return G.OH * G.OW;
}

@inline function patchFloats(G: ConvGeom): i32 {
  return G.k * G.k * G.C;
}

// dst[0:n] = src[0:n] (f32).
@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, v128.load(src + o));
  for (; o < bytes; o += 4) store<f32>(dst + o, load<f32>(src + o));
}

// dst[0:n] += src[0:n] (f32), elementwise: vector lanes round as scalars do.
@inline function addFloats(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  for (; o < bytes; o += 4) store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
}

// dst[0:n] = 0 (f32).
@inline function zeroFloats(dst: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, f32x4.splat(0));
  for (; o < bytes; o += 4) store<f32>(dst + o, 0);
}

// The im2col walk over every patch row (ky) of every output position, whose in-image kx in [lo, hi) are one
// span of x. Forward: col[rows·OH·OW, K] ← x[rows, H, W, C]'s spans, the rest zero. Adjoint: x += col's spans,
// in increasing col row order (col2im). Compiled once for each.
@inline function patches(G: ConvGeom, rows: i32, x: usize, col: usize, adjoint: bool): void {
  const H = G.H, W = G.W, C = G.C, k = G.k, s = G.stride, p = G.pad;
  const span = k * C;
  const spanBytes = <usize>span << 2;
  const sample = sampleFloats(G) << 2;
  let cp = col;
  for (let n = 0; n < rows; n++) {
    const xs = x + <usize>n * sample;
    for (let oy = 0; oy < G.OH; oy++) {
      for (let ox = 0; ox < G.OW; ox++) {
        const ix0 = ox * s - p;
        const lo = max(0, -ix0), hi = min(k, W - ix0);
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - p + ky;
          const inside = iy >= 0 && iy < H;
          const xp = xs + ((<usize>(iy * W + ix0 + lo) * <usize>C) << 2);
          const inner = cp + (<usize>(lo * C) << 2);
          if (adjoint) {
            if (inside) addFloats(xp, inner, (hi - lo) * C);
          } else if (!inside) {
            zeroFloats(cp, span);
          } else {
            zeroFloats(cp, lo * C);
            copyFloats(inner, xp, (hi - lo) * C);
            zeroFloats(cp + (<usize>(hi * C) << 2), (k - hi) * C);
          }
          cp += spanBytes;
        }
      }
    }
  }
}

// col[rows·OH·OW, K] = im2col(x[rows, H, W, C])
function im2col(G: ConvGeom, rows: i32, x: usize, col: usize): void {
  patches(G, rows, x, col, false);
}

// dx[rows, H, W, C] = col2im(dcol[rows·OH·OW, K]), the adjoint of im2col: each dx element sums its terms from 0
// in increasing (oy, ox).
function col2im(G: ConvGeom, rows: i32, dcol: usize, dx: usize): void {
  zeroFloats(dx, <i32>(<usize>rows * sampleFloats(G)));
  patches(G, rows, dx, dcol, true);
}

// y[rows·OH·OW, CO] = im2col(x[rows, H, W, C]) · w[K, CO] + b[CO], then max(0, ·) when relu; col[colRows·OH·OW, K]
export function conv2d_forward(
  g: usize, rows: i32, x: usize, w: usize, b: usize, y: usize, col: usize, colRows: i32, relu: bool, sparse: bool,
  ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO;
  checkChunks(g, rows, colRows, col, ws);
  checkF32(x, <usize>rows * sampleFloats(G));
  checkF32(w, <usize>K * <usize>CO);
  checkF32(b, <usize>CO);
  checkF32(y, <usize>rows * <usize>P * <usize>CO);
  const skipZeros = sparse && CO >= SPARSE_MIN_CO;
  const xChunk = <usize>colRows * sampleFloats(G) << 2;
  const yChunk = <usize>colRows * <usize>P * <usize>CO << 2;
  for (let n0 = 0; n0 < rows; n0 += colRows) {
    const cr = min(colRows, rows - n0);
    const m = cr * P;
    im2col(G, cr, x, col);
    if (skipZeros) gemm_nn_sparse_ld(m, CO, K, col, K, w, CO, y, CO, false, ws);
    else gemm_nn_ld(m, CO, K, col, K, w, CO, y, CO, false, ws);
    bias_relu_forward(y, 0, b, m, CO, relu);
    x += xChunk;
    y += yChunk;
  }
}

// dx[rows, H, W, C] = col2im(dy[rows·OH·OW, CO] · w[K, CO]ᵀ), then ⊙ [mask > 0] when mask ≠ 0; dcol[colRows·OH·OW, K]
export function conv2d_backward_input(
  g: usize, rows: i32, dy: usize, w: usize, dx: usize, dcol: usize, colRows: i32, mask: usize, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO;
  checkChunks(g, rows, colRows, dcol, ws);
  checkF32(dy, <usize>rows * <usize>P * <usize>CO);
  checkF32(w, <usize>K * <usize>CO);
  checkF32(dx, <usize>rows * sampleFloats(G));
  if (mask) checkF32(mask, <usize>rows * sampleFloats(G));
  const dxChunk = <usize>colRows * sampleFloats(G) << 2;
  const dyChunk = <usize>colRows * <usize>P * <usize>CO << 2;
  for (let n0 = 0; n0 < rows; n0 += colRows) {
    const cr = min(colRows, rows - n0);
    gemm_nt_ld(cr * P, K, CO, dy, CO, w, CO, dcol, K, false, ws);
    col2im(G, cr, dcol, dx);
    // Whole samples are in the chunk, so their sums are complete: mask them while they are in cache.
    if (mask) {
      relu_backward(dx, mask, <i32>(<usize>cr * sampleFloats(G)));
      mask += dxChunk;
    }
    dx += dxChunk;
    dy += dyChunk;
  }
}

// dw[k0:k1, CO] = col[rows·OH·OW, k0:k1]ᵀ · dy[rows·OH·OW, CO] (rows of dw only: threads split them)
export function conv2d_backward_weight(
  g: usize, rows: i32, col: usize, dy: usize, dw: usize, k0: i32, k1: i32, sparse: bool, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO;
  const M = rows * P;
  assert(0 <= k0 && k0 <= k1 && k1 <= K);
  checkF32(col, <usize>M * <usize>K);
  checkF32(dy, <usize>M * <usize>CO);
  checkF32(dw, <usize>K * <usize>CO);
  assert(inMemory(ws, <usize>conv2d_ws_bytes(g, rows)));
  if (k0 == k1) return;
  const a = col + (<usize>k0 << 2);
  const c = dw + (<usize>k0 * <usize>CO << 2);
  if (sparse && CO >= SPARSE_MIN_CO) gemm_tn_sparse_ld(k1 - k0, CO, M, a, K, dy, CO, c, CO, false, ws);
  else gemm_tn_ld(k1 - k0, CO, M, a, K, dy, CO, c, CO, false, ws);
}

// Workspace bytes any of the three above needs with up to `rows` samples per call and per chunk: the GEMMs'.
export function conv2d_ws_bytes(g: usize, rows: i32): i32 {
  const G = checkGeom(g, rows);
  const M = rows * positions(G), K = patchFloats(G), CO = G.CO;
  return max(gemm_ws_bytes(M, CO, K), max(gemm_ws_bytes(M, K, CO), gemm_ws_bytes(K, CO, M)));
}
