// Convolution (2-D, square kernels, zero padding): forward, input gradient and weight gradient side by side.
// Activations are NHWC f32: x[n, y, x, c] at ((n·H + y)·W + x)·C + c. A weight is w[K, CO] with K = k·k·C and
// row t = (ky·k + kx)·C + ci. The im2col matrix of a batch has row p = (n·OH + oy)·OW + ox and column t, holding
// x[n, oy·s − pad + ky, ox·s − pad + kx, ci], or 0 outside the image.
//
// The forward and the weight gradient are indirect GEMMs (XNNPACK's igemm): in NHWC one ky row of a patch, k·C
// floats, is contiguous in x, so the micro-kernels read each output pixel's patch in place (k rows, W·C floats
// apart) and no im2col matrix is ever built. A padded image is first copied, one sample at a time, into a
// zero-bordered buffer. Their sums are those of "im2col, then gemm.ts's GEMM", term for term and madd for madd:
//   y[p, co]  = max(0, ((0 + col[p,0]·w[0,co]) + col[p,1]·w[1,co]) + … + b[co])   t increasing (bias_relu_forward's
//               ops; a NaN stays a NaN)
//   dw[t, co] = ((0 + col[0,t]·dy[0,co]) + col[1,t]·dy[1,co]) + …                  p increasing over the batch
// so no result depends on how rows are split over calls or threads. The input gradient is the GEMM dy · wᵀ into
// a few samples' [P, K] scratch, then their col2im (each dx element sums its terms from 0 in increasing p), then
// the mask.
//
// Zeros are skipped where they are many: `sparse` (x mostly zeros: the first layer on images) skips patch rows and
// output pixels whose x is all zero; `sparseDy` / dy's lists (a max pool's gradient, at least 3/4 zeros) skip
// dy = 0. A skipped term 0·w adds ±0 to its sum, which leaves the sum's bits as they are unless the sum is −0; the
// sums start at +0, and x + y is −0 in round-to-nearest only when both are −0, so the bits are the same either way
// (for finite w, x and dy; a fused multiply-add whose product underflows to −0 is the one way a sum could start −0).
import { gemm_nn_sparse_ld, gemm_nt_ld, gemm_ws_bytes } from './gemm';
import { relu_backward } from './activations';
import { MR, madd, transpose4_store } from './simd';

/** Geometry words the host writes (i32): [H, W, C, CO, k, stride, pad, OH, OW]. */
@unmanaged class ConvGeom {
  H: i32; W: i32; C: i32; CO: i32; k: i32; stride: i32; pad: i32; OH: i32; OW: i32;
}

/** Largest MR of any build: conv2d_ws_bytes answers the same in every build. */
const MR_MAX: i32 = 6;
/** Bytes of the input gradient's im2col-shaped scratch: samples are chunked to about this much per GEMM. */
const IGRAD_CHUNK_BYTES: i32 = 128 << 10;
/** Most runs of contiguous list entries one output channel's samples make (one per block of rows that listed them). */
const MAX_LIST_RUNS: i32 = 64;
/** Vectors of a strip of the sparse-dy weight gradient, and bytes of its entry in the strip table. */
const STRIP_VECTORS: i32 = 6;
const STRIP_BYTES: usize = 64;
/** Output pixels of the one-channel forward micro-tile (conv_fwd_ukernel_8x6_c1). */
const C1_PIXELS: i32 = 8;

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

@inline function align64(bytes: usize): usize {
  return (bytes + 63) & ~(<usize>63);
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

/** 8-channel blocks of the output channels (the micro-tiles' columns). */
@inline function colBlocks(G: ConvGeom): i32 {
  return (G.CO + 7) >> 3;
}

/** Rows and columns of the image the micro-kernels read: x itself, or its zero-bordered copy when padded. */
@inline function paddedH(G: ConvGeom): i32 {
  return G.H + 2 * G.pad;
}
@inline function paddedW(G: ConvGeom): i32 {
  return G.W + 2 * G.pad;
}

/** Bytes of the zero-bordered copy of one sample (0 without padding). */
@inline function stagingBytes(G: ConvGeom): usize {
  return G.pad ? align64(<usize>paddedH(G) * <usize>paddedW(G) * <usize>G.C << 2) : 0;
}

// dst[0:n] = src[0:n] (f32).
@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, v128.load(src + o));
  for (; o < bytes; o += 4) store<f32>(dst + o, load<f32>(src + o));
}

// dst[0:n] += src[0:n] (f32), elementwise: vector lanes round as scalars do (a pair of floats as two lanes).
@inline function addFloats(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  if (o + 8 <= bytes) {
    v128.store64_lane(dst + o, f32x4.add(v128.load64_zero(dst + o), v128.load64_zero(src + o)), 0);
    o += 8;
  }
  if (o < bytes) store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
}

// ---------------------------------------------------------------------------------------------------------
// The image a sample's micro-kernels read, and which of its rows hold anything.

// Sample xs[H, W, C] → the image to read: xs itself, or (padded) its copy into the interior of buf[H+2p, W+2p, C],
// whose border the caller zeroed.
@inline function stage(G: ConvGeom, xs: usize, buf: usize): usize {
  if (!G.pad) return xs;
  const rowFloats = G.W * G.C;
  const dstRow = <usize>paddedW(G) * <usize>G.C << 2;
  let dst = buf + <usize>G.pad * dstRow + (<usize>(G.pad * G.C) << 2);
  let src = xs;
  for (let iy = 0; iy < G.H; iy++) {
    copyFloats(dst, src, rowFloats);
    dst += dstRow;
    src += <usize>rowFloats << 2;
  }
  return buf;
}

// spans[iy] = (lo, hi): the first and one past the last nonzero float of row iy of img[rows, rowFloats] ((0, 0)
// for a row of zeros; −0 counts as zero).
function row_spans(img: usize, rows: i32, rowFloats: i32, spans: usize): void {
  const zero = f32x4.splat(0);
  let row = img;
  for (let iy = 0; iy < rows; iy++) {
    // Four floats at a time from each end, then one at a time.
    let lo = 0;
    while (lo + 4 <= rowFloats && !v128.any_true(f32x4.ne(v128.load(row + (<usize>lo << 2)), zero))) lo += 4;
    while (lo < rowFloats && load<f32>(row + (<usize>lo << 2)) == 0) lo++;
    let hi = rowFloats;
    if (lo == rowFloats) lo = hi = 0;
    else {
      while (hi - 4 >= lo && !v128.any_true(f32x4.ne(v128.load(row + (<usize>(hi - 4) << 2)), zero))) hi -= 4;
      while (load<f32>(row + (<usize>(hi - 1) << 2)) == 0) hi--;
    }
    store<i32>(spans + (<usize>iy << 3), lo);
    store<i32>(spans + (<usize>iy << 3), hi, 4);
    row += <usize>rowFloats << 2;
  }
}

// ranges[iy] = (lo, hi): the output columns ox whose patch row in image row iy meets the row's nonzeros,
// [ox·sC, ox·sC + kC) ∩ span ≠ ∅ ((OW, 0) for a row of zeros); spans from row_spans (ranges may be spans).
function ox_ranges(G: ConvGeom, spans: usize, rows: i32, ranges: usize): void {
  const sC = G.stride * G.C, kC = G.k * G.C, OW = G.OW;
  for (let iy = 0; iy < rows; iy++) {
    const e = <usize>iy << 3;
    const a = load<i32>(spans + e), z = load<i32>(spans + e, 4);
    const lo = a >= z ? OW : a - kC + 1 <= 0 ? 0 : (a - kC + sC) / sC;
    const hi = a >= z ? 0 : min(OW, (z - 1) / sC + 1);
    store<i32>(ranges + e, lo);
    store<i32>(ranges + e, hi, 4);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Micro-kernels. Each walks one flat list of terms (V8 keeps the 12 accumulators in registers through one loop,
// but spills them in a loop nest: a list of (x offset, other offset) entries replaces the nest over rows).

// The drivers call micro-kernels through references (XNNPACK's ukernel pointers): inlined into a driver's loops,
// V8 spills their accumulators and they run at half speed.

/** Forward: acc[MR][8] = MR output pixels × 8 channels. */
type FwdUkernel = (tab: usize, taps: usize, n: i32, wp: usize, acc: usize) => void;
/** Weight gradient: acc[MR][8] += MR taps × 8 channels over a list of pixels. */
type WgradUkernel = (offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize) => void;

// Forward: pixel i's patch top-left a_i is the u32 at tab[i]; taps[0..n) are (x byte offset in the patch, byte
// offset of the tap's row in wp), wp w packed [K][8]. acc[MR][8] = the madd sums over the taps in order (the
// epilogue, conv_fwd_store, is out of the loop's function for the same reason).
function conv_fwd_ukernel_6x8(tab: usize, taps: usize, n: i32, wp: usize, acc: usize): void {
  const a0 = <usize>load<u32>(tab), a1 = <usize>load<u32>(tab, 4), a2 = <usize>load<u32>(tab, 8);
  const a3 = <usize>load<u32>(tab, 12), a4 = <usize>load<u32>(tab, 16);
  const a5: usize = MR == 6 ? <usize>load<u32>(tab, 20) : 0;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const end = taps + (<usize>n << 3);
  for (let e = taps; e < end; e += 8) {
    const o = <usize>load<u32>(e);
    const wq = wp + <usize>load<u32>(e, 4);
    const b0 = v128.load(wq), b1 = v128.load(wq, 16);
    let a = v128.load32_splat(a0 + o);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(a1 + o);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(a2 + o);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(a3 + o);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(a4 + o);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    if (MR == 6) {
      a = v128.load32_splat(a5 + o);
      c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    }
  }
  v128.store(acc, c00); v128.store(acc, c01, 16);
  v128.store(acc, c10, 32); v128.store(acc, c11, 48);
  v128.store(acc, c20, 64); v128.store(acc, c21, 80);
  v128.store(acc, c30, 96); v128.store(acc, c31, 112);
  v128.store(acc, c40, 128); v128.store(acc, c41, 144);
  if (MR == 6) {
    v128.store(acc, c50, 160);
    v128.store(acc, c51, 176);
  }
}

// Forward for one input channel (C = 1, stride 1), CO ≤ 6: 8 consecutive output pixels of a row × 6 channels,
// the pixels in the vector lanes (four lanes per 8-channel column of the 6x8 tile would hold only 6 channels).
// Pixel i's patch starts at a + 4·i; taps and wp as conv_fwd_ukernel_6x8's (w read 6 channels of each [8] row).
// acc[6][8] = the sums, channel rows of the 8 pixels (conv_fwd_store_c1 stores them); the same madds, in the same
// order, as the 6x8 kernel.
function conv_fwd_ukernel_8x6_c1(tab: usize, taps: usize, n: i32, wp: usize, acc: usize): void {
  const a = <usize>load<u32>(tab);
  let c0a = f32x4.splat(0), c0b = c0a, c1a = c0a, c1b = c0a, c2a = c0a, c2b = c0a;
  let c3a = c0a, c3b = c0a, c4a = c0a, c4b = c0a, c5a = c0a, c5b = c0a;
  const end = taps + (<usize>n << 3);
  for (let e = taps; e < end; e += 8) {
    const xp = a + <usize>load<u32>(e);
    const wq = wp + <usize>load<u32>(e, 4);
    const xa = v128.load(xp), xb = v128.load(xp, 16);
    let w = v128.load32_splat(wq);
    c0a = madd(w, xa, c0a); c0b = madd(w, xb, c0b);
    w = v128.load32_splat(wq, 4);
    c1a = madd(w, xa, c1a); c1b = madd(w, xb, c1b);
    w = v128.load32_splat(wq, 8);
    c2a = madd(w, xa, c2a); c2b = madd(w, xb, c2b);
    w = v128.load32_splat(wq, 12);
    c3a = madd(w, xa, c3a); c3b = madd(w, xb, c3b);
    w = v128.load32_splat(wq, 16);
    c4a = madd(w, xa, c4a); c4b = madd(w, xb, c4b);
    w = v128.load32_splat(wq, 20);
    c5a = madd(w, xa, c5a); c5b = madd(w, xb, c5b);
  }
  v128.store(acc, c0a); v128.store(acc, c0b, 16);
  v128.store(acc, c1a, 32); v128.store(acc, c1b, 48);
  v128.store(acc, c2a, 64); v128.store(acc, c2b, 80);
  v128.store(acc, c3a, 96); v128.store(acc, c3b, 112);
  v128.store(acc, c4a, 128); v128.store(acc, c4b, 144);
  v128.store(acc, c5a, 160); v128.store(acc, c5b, 176);
}

// y[8 pixels][CO] (rows CO floats apart, CO ≤ 6) = acc + b, then max(0, ·) when relu, for conv_fwd_ukernel_8x6_c1's
// acc[6][8] (channel rows): bias_relu_forward's ops on the channel vectors, then transposed to pixel rows in
// registers: with CO = 6 the 8 rows are 12 whole vectors, else rows of 8 through acc's second half.
function conv_fwd_store_c1(acc: usize, bias: usize, y: usize, CO: i32, relu: bool): void {
  const zero = f32x4.splat(0);
  for (let half = 0; half < 2; half++) {
    const h = acc + (<usize>half << 4);
    let c0 = f32x4.add(v128.load(h), v128.load32_splat(bias)), c1 = f32x4.add(v128.load(h, 32), v128.load32_splat(bias, 4));
    let c2 = f32x4.add(v128.load(h, 64), v128.load32_splat(bias, 8)), c3 = f32x4.add(v128.load(h, 96), v128.load32_splat(bias, 12));
    let c4 = f32x4.add(v128.load(h, 128), v128.load32_splat(bias, 16)), c5 = f32x4.add(v128.load(h, 160), v128.load32_splat(bias, 20));
    if (relu) {
      c0 = relu4(c0); c1 = relu4(c1); c2 = relu4(c2); c3 = relu4(c3); c4 = relu4(c4); c5 = relu4(c5);
    }
    const yp = y + <usize>(4 * half * CO) * 4;
    if (CO == 6) {
      // Rows p0..p3 of channels 0-3, channels 4-5 interleaved beside them: 24 floats, 6 vectors.
      const t0 = i32x4.shuffle(c0, c1, 0, 4, 1, 5), t1 = i32x4.shuffle(c2, c3, 0, 4, 1, 5);
      const t2 = i32x4.shuffle(c0, c1, 2, 6, 3, 7), t3 = i32x4.shuffle(c2, c3, 2, 6, 3, 7);
      const r0 = i32x4.shuffle(t0, t1, 0, 1, 4, 5), r1 = i32x4.shuffle(t0, t1, 2, 3, 6, 7);
      const r2 = i32x4.shuffle(t2, t3, 0, 1, 4, 5), r3 = i32x4.shuffle(t2, t3, 2, 3, 6, 7);
      const u01 = i32x4.shuffle(c4, c5, 0, 4, 1, 5), u23 = i32x4.shuffle(c4, c5, 2, 6, 3, 7);
      v128.store(yp, r0);
      v128.store(yp, i32x4.shuffle(u01, r1, 0, 1, 4, 5), 16);
      v128.store(yp, i32x4.shuffle(r1, u01, 2, 3, 6, 7), 32);
      v128.store(yp, r2, 48);
      v128.store(yp, i32x4.shuffle(u23, r3, 0, 1, 4, 5), 64);
      v128.store(yp, i32x4.shuffle(r3, u23, 2, 3, 6, 7), 80);
    } else {
      const rows = acc + 256;
      transpose4_store(c0, c1, c2, c3, rows, 32);
      transpose4_store(c4, c5, zero, zero, rows + 16, 32);
      let yr = yp;
      for (let i = 0; i < 4; i++) {
        const r = rows + (<usize>i << 5);
        if (CO >= 4) {
          v128.store(yr, v128.load(r));
          storeLanes(yr + 16, v128.load(r, 16), CO - 4);
        } else storeLanes(yr, v128.load(r), CO);
        yr += <usize>CO << 2;
      }
    }
  }
}

// max(0, v) lane by lane, as f32x4.max(v, 0) (bias_relu_forward's) gives it for every v but NaN, which it passes
// on unchanged (max may return another NaN); two instructions instead of V8's seven for max.
@inline function relu4(v: v128): v128 {
  return v128.andnot(v, f32x4.le(v, f32x4.splat(0)));
}

// y rows: c_i[0:cols] = acc_i + b, then max(0, ·) when relu (bias_relu_forward's ops), for the tile's mr pixels:
// acc[mr][8], c_i = outs[i] (u32) + cOff.
function conv_fwd_store(outs: usize, acc: usize, bias: usize, cOff: usize, cols: i32, mr: i32, relu: bool): void {
  const b0 = v128.load(bias), b1 = v128.load(bias, 16);
  for (let i = 0; i < mr; i++) {
    const c = <usize>load<u32>(outs + (<usize>i << 2)) + cOff;
    const a = acc + (<usize>i << 5);
    let v0 = f32x4.add(v128.load(a), b0), v1 = f32x4.add(v128.load(a, 16), b1);
    if (relu) {
      v0 = relu4(v0);
      v1 = relu4(v1);
    }
    if (cols >= 8) {
      v128.store(c, v0);
      v128.store(c, v1, 16);
    } else if (cols >= 4) {
      v128.store(c, v0);
      storeLanes(c + 16, v1, cols - 4);
    } else storeLanes(c, v0, cols);
  }
}

// c[0:n] = v's first n (< 4) lanes.
@inline function storeLanes(c: usize, v: v128, n: i32): void {
  if (n & 2) {
    v128.store64_lane(c, v, 0);
    if (n & 1) v128.store32_lane(c, v, 2, 8);
  } else if (n & 1) v128.store32_lane(c, v, 0);
}

// Weight gradient: MR taps × 8 channels, summed over a list of output pixels. Tap i is at byte offset offs[i]
// from a pixel's patch top-left (`contiguous`: offs[i] = offs[0] + 4·i, read with immediate offsets); pix[0..n)
// are (patch top-left − img, dy row − dyb) byte offsets. The sums go through acc[MR][8] (row stride accRow),
// loaded before and stored after: f32 in memory, exact.
@inline function wgrad_tile(
  contiguous: bool, offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize,
): void {
  const o0 = <usize>load<u32>(offs), o1 = <usize>load<u32>(offs, 4), o2 = <usize>load<u32>(offs, 8);
  const o3 = <usize>load<u32>(offs, 12), o4 = <usize>load<u32>(offs, 16);
  const o5: usize = MR == 6 ? <usize>load<u32>(offs, 20) : 0;
  const r1 = acc + accRow, r2 = r1 + accRow, r3 = r2 + accRow, r4 = r3 + accRow, r5 = r4 + accRow;
  let c00 = v128.load(acc), c01 = v128.load(acc, 16), c10 = v128.load(r1), c11 = v128.load(r1, 16);
  let c20 = v128.load(r2), c21 = v128.load(r2, 16), c30 = v128.load(r3), c31 = v128.load(r3, 16);
  let c40 = v128.load(r4), c41 = v128.load(r4, 16);
  let c50 = f32x4.splat(0), c51 = c50;
  if (MR == 6) {
    c50 = v128.load(r5);
    c51 = v128.load(r5, 16);
  }
  const xb = contiguous ? img + o0 : img;
  const end = pix + (<usize>n << 3);
  for (let e = pix; e < end; e += 8) {
    const xp = xb + <usize>load<u32>(e);
    const dp = dyb + <usize>load<u32>(e, 4);
    const b0 = v128.load(dp), b1 = v128.load(dp, 16);
    let a = contiguous ? v128.load32_splat(xp) : v128.load32_splat(xp + o0);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = contiguous ? v128.load32_splat(xp, 4) : v128.load32_splat(xp + o1);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = contiguous ? v128.load32_splat(xp, 8) : v128.load32_splat(xp + o2);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = contiguous ? v128.load32_splat(xp, 12) : v128.load32_splat(xp + o3);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = contiguous ? v128.load32_splat(xp, 16) : v128.load32_splat(xp + o4);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    if (MR == 6) {
      a = contiguous ? v128.load32_splat(xp, 20) : v128.load32_splat(xp + o5);
      c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    }
  }
  v128.store(acc, c00); v128.store(acc, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
  v128.store(r4, c40); v128.store(r4, c41, 16);
  if (MR == 6) {
    v128.store(r5, c50);
    v128.store(r5, c51, 16);
  }
}

// The weight-gradient micro-kernel with contiguous taps (one patch row), and with any taps.
function conv_wgrad_ukernel_6x8_contiguous(offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize): void {
  wgrad_tile(true, offs, pix, n, img, dyb, acc, accRow);
}
function conv_wgrad_ukernel_6x8_gather(offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize): void {
  wgrad_tile(false, offs, pix, n, img, dyb, acc, accRow);
}

// masks[j] (u64): bit iy set when image row iy holds a nonzero under the patches of output columns [ox0, ox0 + width)
// of column block j (ox0 = starts[j], i32), from the rows' spans; rows past 64 count as nonzero.
function col_masks(G: ConvGeom, spans: usize, rows: i32, blocks: i32, starts: usize, width: i32, masks: usize): void {
  const sC = G.stride * G.C, kC = G.k * G.C;
  for (let j = 0; j < blocks; j++) {
    const a = load<i32>(starts + (<usize>j << 2)) * sC, b = a + (width - 1) * sC + kC;
    let m: u64 = rows > 64 ? ~(<u64>0) : 0;
    for (let iy = 0; iy < min(rows, 64); iy++) {
      const e = spans + (<usize>iy << 3);
      if (load<i32>(e) < b && load<i32>(e, 4) > a) m |= <u64>1 << <u64>iy;
    }
    store<u64>(masks + (<usize>j << 3), m);
  }
}

// Bits of the patch rows ky (of all k) that a tile needs, from its column block's row mask (col_masks), its pixels
// in output rows oyA..oyB: the rows oy·s + ky with a nonzero (more rows than needed only adds zero terms).
@inline function liveRows(G: ConvGeom, mask: u64, oyA: i32, oyB: i32): u64 {
  const k = G.k;
  const all: u64 = k >= 64 ? ~(<u64>0) : (<u64>1 << <u64>k) - 1;
  if (k > 64) return all;
  let live: u64 = 0;
  for (let oy = oyA; oy <= oyB; oy++) {
    const iy = oy * G.stride;
    live |= iy >= 64 ? all : mask >> <u64>iy;
  }
  return live & all;
}

/** Whether the forward keeps a tap list per set of live patch rows (2^k of them), built once each: sparse images
 *  and lists small enough (k ≤ 6, 64 KB). Else one list, rebuilt when the set changes. */
@inline function tapCache(G: ConvGeom): bool {
  return G.k <= 6 && (<usize>patchFloats(G) << (3 + G.k)) <= (64 << 10);
}

// taps ← the forward's (x offset, w panel offset) entries of the patch rows whose bit in `live` is set, in
// increasing t; returns their count.
function fwd_taps(k: i32, kC: i32, rowBytes: usize, live: u64, taps: usize): i32 {
  let e = taps;
  for (let ky = 0; ky < k; ky++) {
    if (!((live >> <u64>(ky & 63)) & 1)) continue;
    for (let j = 0; j < kC; j++) {
      store<u32>(e, <u32>(<usize>ky * rowBytes + (<usize>j << 2)));
      store<u32>(e, <u32>((ky * kC + j) << 5), 4);
      e += 8;
    }
  }
  return <i32>((e - taps) >> 3);
}

// ---------------------------------------------------------------------------------------------------------
// Workspaces: one layout per pass, each from ws in 64-byte aligned regions.

/** Forward: w packed [CO/8][K][8], b packed, the tile's sums [MR][8], its pointers, the tap list, row spans,
 *  staging, the cached tap lists (count + list per set of rows), the row masks' column blocks and masks. */
@inline function fwdWsBytes(G: ConvGeom): usize {
  const nb = <usize>colBlocks(G);
  const K = <usize>patchFloats(G);
  const cache = tapCache(G) ? (<usize>1 << <usize>G.k) * (K + 1) << 3 : 0;
  const blocks = <usize>(G.OW + C1_PIXELS - 1) / C1_PIXELS; // (at most: the row masks' column blocks)
  return align64(nb * K << 5) + align64(nb << 5) + align64(<usize>C1_PIXELS << 6) + 64 + align64(K << 3)
    + align64(<usize>paddedH(G) << 3) + stagingBytes(G) + cache + align64(blocks << 2) + (blocks << 3);
}

/** Weight gradient: the sums [K + MR][CO/8·8], tap offsets, two pixel lists, row spans and ox ranges, staging,
 *  one sample's dy packed (CO not a multiple of 8); or (from dy's lists) dwᵀ, the strips and list runs. */
@inline function wgradWsBytes(G: ConvGeom): usize {
  const nb = <usize>colBlocks(G);
  const packDy = G.CO & 7 ? align64(<usize>positions(G) * nb << 5) : 0;
  const dense = align64(<usize>(patchFloats(G) + MR_MAX) * nb << 5) + 64 + 2 * align64(<usize>positions(G) << 3)
    + 2 * align64(<usize>paddedH(G) << 3) + stagingBytes(G) + packDy;
  const fromLists = align64(<usize>G.CO * <usize>patchFloats(G) << 2) + stripsBytes(G) + align64(<usize>MAX_LIST_RUNS << 3);
  return max(dense, fromLists);
}

/** dy's lists: ox ranges, row spans, the channels' cursors. */
@inline function listsWsBytes(G: ConvGeom): usize {
  return align64(<usize>G.OH << 3) + align64(<usize>G.H << 3) + align64(<usize>G.CO << 2);
}

/** Input gradient: a chunk's [P, K] gradient matrices, wᵀ, and the GEMM's workspace. */
@inline function igradWsBytes(G: ConvGeom): usize {
  const M = igradChunk(G) * positions(G), K = patchFloats(G);
  return align64(<usize>M * <usize>K << 2) + align64(<usize>K * <usize>G.CO << 2) + <usize>gemm_ws_bytes(M, K, G.CO);
}

// ---------------------------------------------------------------------------------------------------------
// The passes.

// y[rows·OH·OW, CO] = max(0, im2col(x[rows, H, W, C]) · w[K, CO] + b[CO]) (relu), or without the max
export function conv2d_forward(
  g: usize, rows: i32, x: usize, w: usize, b: usize, y: usize, relu: bool, sparse: bool, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO, OW = G.OW, k = G.k;
  checkF32(x, <usize>rows * sampleFloats(G));
  checkF32(w, <usize>K * <usize>CO);
  checkF32(b, <usize>CO);
  checkF32(y, <usize>rows * <usize>P * <usize>CO);
  assert(inMemory(ws, fwdWsBytes(G)));
  const nb = colBlocks(G);
  const wp = ws;
  const bp = wp + align64(<usize>nb * <usize>K << 5);
  const acc = bp + align64(<usize>nb << 5);
  const tab = acc + align64(<usize>C1_PIXELS << 6); // tile pixels' patches [MR], then output rows [MR]
  const outs = tab + (<usize>MR << 2);
  const taps = tab + 64;
  const spans = taps + align64(<usize>K << 3);
  const staging = spans + align64(<usize>paddedH(G) << 3);
  const cache = staging + stagingBytes(G);
  const cached = sparse && tapCache(G);
  // One input channel and few output channels: 8 pixels of a row in the vector lanes (rows of OW % 8 end with a
  // tile that overlaps the one before it, recomputing its pixels with the same bits).
  const pixelLanes = G.C == 1 && G.stride == 1 && CO <= 6 && OW >= C1_PIXELS;
  // Column blocks of the row masks (sparse): the pixel-lane tiles' columns, or all of them.
  const colBlocks = pixelLanes ? (OW + C1_PIXELS - 1) / C1_PIXELS : 1;
  const starts = cache + (tapCache(G) ? (<usize>1 << <usize>k) * <usize>(K + 1) << 3 : 0);
  const masks = starts + align64(<usize>colBlocks << 2);
  for (let j = 0; j < colBlocks; j++) store<i32>(starts + (<usize>j << 2), pixelLanes ? min(j * C1_PIXELS, OW - C1_PIXELS) : 0);
  if (cached) for (let m = 0; m < 1 << k; m++) store<i32>(cache + <usize>m * <usize>(K + 1) * 8, -1);
  // w and b into 8-column panels, zero beyond CO.
  for (let jb = 0; jb < nb; jb++) {
    const cols = min(8, CO - 8 * jb);
    for (let t = 0; t < K; t++) {
      const dst = wp + ((<usize>jb * <usize>K + <usize>t) << 5);
      for (let j = 0; j < 8; j++) store<f32>(dst + (<usize>j << 2), j < cols ? load<f32>(w + ((<usize>t * <usize>CO + <usize>(8 * jb + j)) << 2)) : 0);
    }
    for (let j = 0; j < 8; j++) store<f32>(bp + (<usize>(8 * jb + j) << 2), j < cols ? load<f32>(b + (<usize>(8 * jb + j) << 2)) : 0);
  }
  if (G.pad) memory.fill(staging, 0, stagingBytes(G));
  const rowFloats = paddedW(G) * G.C;
  const rowBytes = <usize>rowFloats << 2;
  const sC4 = <usize>(G.stride * G.C) << 2;
  const oyStep = <usize>G.stride * rowBytes;
  const kC = k * G.C;
  const yPix = <usize>CO << 2;
  const ukernel: FwdUkernel = pixelLanes ? conv_fwd_ukernel_8x6_c1 : conv_fwd_ukernel_6x8;
  const tileRows = pixelLanes ? C1_PIXELS : MR;
  let tapLive = liveRows(G, ~(<u64>0), 0, 0);
  let nTaps = fwd_taps(k, kC, rowBytes, tapLive, taps);
  for (let n = 0; n < rows; n++) {
    const img = stage(G, x + (<usize>n * sampleFloats(G) << 2), staging);
    if (sparse) {
      row_spans(img, paddedH(G), rowFloats, spans);
      col_masks(G, spans, paddedH(G), colBlocks, starts, pixelLanes ? C1_PIXELS : OW, masks);
    }
    const yn = y + (<usize>n * <usize>P) * yPix;
    for (let p0 = 0; p0 < P; p0 += tileRows) {
      let mr = min(tileRows, P - p0);
      let oyA = p0 / OW, oxA = p0 - oyA * OW;
      let oy = oyA, ox = oxA;
      if (pixelLanes) {
        // Tiles within a row: the row's last one ends at its end.
        oxA = ox = min(oxA, OW - C1_PIXELS);
        p0 = oyA * OW + oxA;
        mr = C1_PIXELS;
        store<u32>(tab, <u32>(img + <usize>oyA * oyStep + <usize>oxA * sC4));
        ox = oxA + C1_PIXELS - 1;
      } else {
        // The tile's pointers: pixels p0.. in raster order (the last one repeated past mr) and their y rows.
        for (let i = 0; i < MR; i++) {
          store<u32>(tab + (<usize>i << 2), <u32>(img + <usize>oy * oyStep + <usize>ox * sC4));
          store<u32>(outs + (<usize>i << 2), <u32>(yn + <usize>(p0 + min(i, mr - 1)) * yPix));
          if (i + 1 < mr && ++ox == OW) { ox = 0; oy++; }
        }
      }
      // (oy, ox) is now the tile's last pixel.
      const block = pixelLanes ? (oxA == OW - C1_PIXELS ? colBlocks - 1 : oxA / C1_PIXELS) : 0;
      const live = liveRows(G, sparse ? load<u64>(masks + (<usize>block << 3)) : ~(<u64>0), oyA, oy);
      let list = taps;
      if (cached) {
        // (a slot per set of rows: its count, −1 until built, then its list)
        list = cache + <usize>live * <usize>(K + 1) * 8;
        if (load<i32>(list) < 0) store<i32>(list, fwd_taps(k, kC, rowBytes, live, list + 8));
        nTaps = load<i32>(list);
        list += 8;
      } else if (live != tapLive) {
        tapLive = live;
        nTaps = fwd_taps(k, kC, rowBytes, live, taps);
      }
      for (let jb = 0; jb < nb; jb++) {
        ukernel(tab, list, nTaps, wp + ((<usize>jb * <usize>K) << 5), acc);
        if (pixelLanes) conv_fwd_store_c1(acc, bp, yn + <usize>p0 * yPix, CO, relu);
        else conv_fwd_store(outs, acc, bp + (<usize>jb << 5), <usize>jb << 5, min(8, CO - 8 * jb), mr, relu);
      }
      p0 += mr - tileRows; // (the loop adds tileRows: the next tile starts after this one's last pixel)
    }
  }
}

// dx[rows, H, W, C] = col2im(dy[rows·OH·OW, CO] · w[K, CO]ᵀ), then ⊙ [mask > 0] when mask ≠ 0. `sparse`: dy is
// mostly zeros (a max pool's gradient): the GEMM skips them, as gemm_nn_sparse_ld with wᵀ (the same sums).
export function conv2d_backward_input(
  g: usize, rows: i32, dy: usize, w: usize, dx: usize, mask: usize, sparse: bool, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO;
  checkF32(dy, <usize>rows * <usize>P * <usize>CO);
  checkF32(w, <usize>K * <usize>CO);
  checkF32(dx, <usize>rows * sampleFloats(G));
  if (mask) checkF32(mask, <usize>rows * sampleFloats(G));
  assert(inMemory(ws, igradWsBytes(G)));
  const chunk = igradChunk(G);
  const dcol = ws;
  const wT = dcol + align64(<usize>chunk * <usize>P * <usize>K << 2);
  const gws = wT + align64(<usize>K * <usize>CO << 2);
  if (sparse) {
    for (let t = 0; t < K; t++) {
      for (let co = 0; co < CO; co++) store<f32>(wT + ((<usize>co * <usize>K + <usize>t) << 2), load<f32>(w + ((<usize>t * <usize>CO + <usize>co) << 2)));
    }
  }
  const sample = sampleFloats(G) << 2;
  const dyRows = <usize>P * <usize>CO << 2;
  for (let n0 = 0; n0 < rows; n0 += chunk) {
    const cn = min(chunk, rows - n0);
    if (sparse) gemm_nn_sparse_ld(cn * P, K, CO, dy, CO, wT, K, dcol, K, false, gws);
    else gemm_nt_ld(cn * P, K, CO, dy, CO, w, CO, dcol, K, false, gws);
    for (let n = 0; n < cn; n++) {
      col2im(G, dcol + <usize>n * <usize>P * <usize>K * 4, dx);
      // The sample's sums are complete: mask them while they are in cache.
      if (mask) {
        relu_backward(dx, mask, <i32>sampleFloats(G));
        mask += sample;
      }
      dx += sample;
    }
    dy += <usize>cn * dyRows;
  }
}

/** Samples per GEMM of the input gradient: their [P, K] gradient matrices fill about IGRAD_CHUNK_BYTES. */
@inline function igradChunk(G: ConvGeom): i32 {
  return max(1, IGRAD_CHUNK_BYTES / (positions(G) * patchFloats(G) * 4));
}

// dxs[H, W, C] = col2im(dcol[OH·OW, K]) for one sample: from 0, each element adds its terms in increasing (oy, ox).
function col2im(G: ConvGeom, dcol: usize, dxs: usize): void {
  const W = G.W, C = G.C, k = G.k, s = G.stride, p = G.pad;
  const spanBytes = <usize>(k * C) << 2;
  memory.fill(dxs, 0, sampleFloats(G) << 2);
  let cp = dcol;
  for (let oy = 0; oy < G.OH; oy++) {
    for (let ox = 0; ox < G.OW; ox++) {
      const ix0 = ox * s - p;
      const lo = max(0, -ix0), hi = min(k, W - ix0);
      for (let ky = 0; ky < k; ky++) {
        const iy = oy * s - p + ky;
        if (iy >= 0 && iy < G.H) {
          addFloats(dxs + ((<usize>(iy * W + ix0 + lo) * <usize>C) << 2), cp + (<usize>(lo * C) << 2), (hi - lo) * C);
        }
        cp += spanBytes;
      }
    }
  }
}

// dw[k0:k1, CO] = im2col(x[rows, H, W, C])[:, k0:k1]ᵀ · dy[rows·OH·OW, CO] (rows of dw only: threads split them)
export function conv2d_backward_weight(
  g: usize, rows: i32, x: usize, dy: usize, dw: usize, k0: i32, k1: i32, sparse: bool, lists: usize, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO, OW = G.OW, k = G.k, C = G.C;
  assert(0 <= k0 && k0 <= k1 && k1 <= K);
  checkF32(x, <usize>rows * sampleFloats(G));
  checkF32(dy, <usize>rows * <usize>P * <usize>CO);
  checkF32(dw, <usize>K * <usize>CO);
  assert(inMemory(ws, wgradWsBytes(G)));
  if (k0 == k1) return;
  if (lists) {
    assert((lists & 3) == 0 && inMemory(lists, <usize>rows * <usize>G.CO << 3) && listsPay(G, sparse));
    wgrad_lists(G, rows, lists, dw, k0, k1, ws);
    return;
  }
  const nb = colBlocks(G);
  const accRow = <usize>nb << 5;
  const tiles = (k1 - k0 + MR - 1) / MR;
  const Hp = paddedH(G);
  const acc = ws;
  const offs = acc + align64(<usize>(K + MR_MAX) * accRow);
  const pix = offs + 64; // the pixel list: dy read in place
  const pixPacked = pix + align64(<usize>P << 3); // the pixel list: dy packed
  const spans = pixPacked + align64(<usize>P << 3);
  const oxRanges = spans + align64(<usize>Hp << 3);
  const staging = oxRanges + align64(<usize>Hp << 3);
  const dyp = staging + stagingBytes(G);
  memory.fill(acc, 0, <usize>tiles * <usize>MR * accRow);
  if (G.pad) memory.fill(staging, 0, stagingBytes(G));
  const rowFloats = paddedW(G) * C;
  const rowBytes = <usize>rowFloats << 2;
  const sC = G.stride * C;
  const sC4 = <usize>sC << 2;
  const oyStep = <usize>G.stride * rowBytes;
  const kC = k * C;
  // dy rows are read 8 channels at a time: in place (lanes past CO read the next row and are never stored), but
  // the call's last sample is copied into rows of nb·8 (zero past CO) so that no read runs past dy's end.
  const dyRow = <usize>CO << 2;
  const packLast = (CO & 7) != 0;
  if (!sparse) {
    pixel_list(G, 0, 0, 0, oyStep, sC4, dyRow, pix);
    if (packLast) pixel_list(G, 0, 0, 0, oyStep, sC4, accRow, pixPacked);
  }
  for (let n = 0; n < rows; n++) {
    const img = stage(G, x + (<usize>n * sampleFloats(G) << 2), staging);
    let dys = dy + <usize>n * <usize>P * dyRow;
    const packed = packLast && n == rows - 1;
    if (packed) {
      for (let p = 0; p < P; p++) {
        const dst = dyp + <usize>p * accRow;
        memory.fill(dst, 0, accRow);
        copyFloats(dst, dys + <usize>p * dyRow, CO);
      }
      dys = dyp;
    }
    const list = packed ? pixPacked : pix;
    if (sparse) {
      row_spans(img, Hp, rowFloats, spans);
      ox_ranges(G, spans, Hp, oxRanges);
    }
    let nPix = P;
    for (let tile = 0; tile < tiles; tile++) {
      const t0 = k0 + tile * MR;
      const mr = min(MR, k1 - t0);
      // Tap offsets from the patch's top-left: tap t = ky·kC + r is row ky, float r.
      let contiguous = mr == MR;
      const kyA = t0 / kC;
      let kyB = kyA;
      for (let i = 0; i < MR; i++) {
        const t = t0 + min(i, mr - 1);
        const ky = t / kC;
        store<u32>(offs + (<usize>i << 2), <u32>(<usize>ky * rowBytes + (<usize>(t - ky * kC) << 2)));
        if (ky != kyA) contiguous = false;
        kyB = ky;
      }
      if (sparse) nPix = pixel_list(G, oxRanges, kyA, kyB, oyStep, sC4, packed ? accRow : dyRow, list);
      const ukernel: WgradUkernel = contiguous ? conv_wgrad_ukernel_6x8_contiguous : conv_wgrad_ukernel_6x8_gather;
      const accTile = acc + <usize>(tile * MR) * accRow;
      for (let jb = 0; jb < nb; jb++) ukernel(offs, list, nPix, img, dys + (<usize>jb << 5), accTile + (<usize>jb << 5), accRow);
    }
  }
  for (let t = k0; t < k1; t++) copyFloats(dw + (<usize>t * <usize>CO << 2), acc + <usize>(t - k0) * accRow, CO);
}

// list ← (patch top-left − image, dy row − dy) byte offsets of output pixels in raster order: all of them
// (oxRanges = 0), or those whose patch rows kyA..kyB meet a nonzero, from the image rows' ox ranges. Returns
// the count.
function pixel_list(G: ConvGeom, oxRanges: usize, kyA: i32, kyB: i32, oyStep: usize, sC4: usize, dyPix: usize, list: usize): i32 {
  const OW = G.OW;
  let e = list;
  for (let oy = 0; oy < G.OH; oy++) {
    let lo = 0, hi = OW;
    if (oxRanges) {
      lo = OW; hi = 0;
      for (let ky = kyA; ky <= kyB; ky++) {
        const r = oxRanges + (<usize>(oy * G.stride + ky) << 3);
        lo = min(lo, load<i32>(r));
        hi = max(hi, load<i32>(r, 4));
      }
    }
    let xo = <usize>oy * oyStep + <usize>lo * sC4;
    let dyo = <usize>(oy * OW + lo) * dyPix;
    for (let ox = lo; ox < hi; ox++) {
      store<u32>(e, <u32>xo);
      store<u32>(e, <u32>dyo, 4);
      e += 8; xo += sC4; dyo += dyPix;
    }
  }
  return <i32>((e - list) >> 3);
}

// The weight gradient skipping dy = 0 (pad = 0): a max pool's gradient is mostly zeros, in a pattern of its own in
// every channel. In the backward phase, each block of rows lists, per output channel co, its pixels p with
// dy[p, co] ≠ 0 (and, with sparseX, a patch that is not all zero) in increasing p, as (patch address, dy) entries,
// contiguous for the block's samples (conv2d_dy_lists). The weight phase then sums, per co and run of taps within a
// patch row, dwᵀ[co, run] += Σ dy · x[patch + run] down the list, in strips of vectors whose sums stay in registers
// down each block's run of entries and go through dwᵀ (f32, exact) between runs. Each dw element sums its nonzero
// terms in increasing p, as the dense kernel sums all of them; and no thread re-reads the others' dy.
//
// The lists of a batch of N samples: a header [N][CO] of (byte offset of the sample's first entry from the lists,
// entry count), then per co a slot of N·P entries (u32 patch address, f32 dy).

/** Whether skipping dy's zeros pays for this geometry: from two vectors per patch row, or on sparse images from one
 *  (B5 conv1: x and dy both mostly zeros, about 4× fewer terms); not below one (B6 conv1: the zero-input kernel is
 *  faster). Padded images have no patch addresses in x. */
@inline function listsPay(G: ConvGeom, sparse: bool): bool {
  const kC = G.k * G.C;
  return !G.pad && (kC >= 8 || (sparse && kC >= 4));
}

// Bytes of the lists of a batch of `rows` samples (conv2d_dy_lists), or 0 when skipping dy's zeros does not pay for
// this geometry (the weight gradient then reads x and dy itself).
export function conv2d_dy_lists_bytes(g: usize, rows: i32, sparse: bool): i32 {
  const G = checkGeom(g, rows);
  return listsPay(G, sparse) ? <i32>(align64(<usize>rows * <usize>G.CO << 3) + (<usize>rows * <usize>G.CO * <usize>positions(G) << 3)) : 0;
}

// The lists (see above) of samples first … first+rows−1 of a batch of `batch` samples: x and dy point at sample
// `first`'s rows, as the weight gradient's x and dy do at sample 0's.
export function conv2d_dy_lists(
  g: usize, rows: i32, x: usize, dy: usize, sparse: bool, lists: usize, batch: i32, first: i32, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), CO = G.CO, C = G.C, kC = G.k * G.C, OH = G.OH, OW = G.OW;
  assert(listsPay(G, sparse) && first >= 0 && first + rows <= batch);
  checkF32(x, <usize>rows * sampleFloats(G));
  checkF32(dy, <usize>rows * <usize>P * <usize>CO);
  assert((lists & 3) == 0 && inMemory(lists, <usize>conv2d_dy_lists_bytes(g, batch, sparse)));
  assert(inMemory(ws, listsWsBytes(G)));
  const oxRanges = ws; // [OH] (lo, hi) of the pixels to list
  const spans = oxRanges + align64(<usize>OH << 3);
  const cursors = spans + align64(<usize>G.H << 3); // [CO] each channel's next entry
  const rowBytes = <usize>(G.W * C) << 2;
  const sC = G.stride * C;
  const sC4 = <usize>sC << 2;
  const oyStep = <usize>G.stride * rowBytes;
  const dyPix = <usize>CO << 2;
  const slots = lists + align64(<usize>batch * <usize>CO << 3);
  for (let co = 0; co < CO; co++) store<u32>(cursors + (<usize>co << 2), <u32>(slots + ((<usize>co * <usize>batch + <usize>first) * <usize>P << 3)));
  for (let n = 0; n < rows; n++) {
    const xs = x + (<usize>n * sampleFloats(G) << 2);
    // The sample's pixels per output row: all, or (sparse) those whose patch meets a nonzero.
    if (sparse) {
      row_spans(xs, G.H, G.W * C, spans);
      ox_ranges(G, spans, G.H, spans); // (in place: row iy's range replaces its span)
    }
    for (let oy = 0; oy < OH; oy++) {
      let lo = 0, hi = OW;
      if (sparse) {
        lo = OW; hi = 0;
        for (let ky = 0; ky < G.k; ky++) {
          const r = spans + (<usize>(oy * G.stride + ky) << 3);
          lo = min(lo, load<i32>(r));
          hi = max(hi, load<i32>(r, 4));
        }
      }
      store<i32>(oxRanges + (<usize>oy << 3), lo);
      store<i32>(oxRanges + (<usize>oy << 3), max(lo, hi), 4);
    }
    const dys = dy + <usize>n * <usize>P * dyPix;
    // Four channels at a time, their cursors in registers; branch-free appends: every entry is written, a cursor
    // moves past a nonzero only.
    const absMask = i32x4.splat(0x7fffffff);
    for (let c0 = 0; c0 < CO; c0 += 4) {
      const lanes = min(4, CO - c0);
      const cur = cursors + (<usize>c0 << 2);
      const s0 = <usize>load<u32>(cur), s1 = lanes > 1 ? <usize>load<u32>(cur, 4) : 0;
      const s2 = lanes > 2 ? <usize>load<u32>(cur, 8) : 0, s3 = lanes > 3 ? <usize>load<u32>(cur, 12) : 0;
      let e0 = s0, e1 = s1, e2 = s2, e3 = s3;
      for (let oy = 0; oy < OH; oy++) {
        const lo = load<i32>(oxRanges + (<usize>oy << 3)), hi = load<i32>(oxRanges + (<usize>oy << 3), 4);
        let xp = xs + <usize>oy * oyStep + <usize>lo * sC4;
        let dp = dys + <usize>(oy * OW + lo) * dyPix + (<usize>c0 << 2);
        for (let ox = lo; ox < hi; ox++) {
          // (a vector only where four channels remain in the row: no read past dy's end)
          const v = lanes == 4 ? v128.load(dp) : partialLanes(dp, lanes);
          // 8 in the lanes whose dy is not ±0 (NaN counts as nonzero, as v != 0 has it): an entry's size.
          const step = v128.and(i32x4.ne(v128.and(v, absMask), f32x4.splat(0)), i32x4.splat(8));
          store<u32>(e0, <u32>xp); v128.store32_lane(e0, v, 0, 4); e0 += <usize>i32x4.extract_lane(step, 0);
          if (lanes > 1) { store<u32>(e1, <u32>xp); v128.store32_lane(e1, v, 1, 4); e1 += <usize>i32x4.extract_lane(step, 1); }
          if (lanes > 2) { store<u32>(e2, <u32>xp); v128.store32_lane(e2, v, 2, 4); e2 += <usize>i32x4.extract_lane(step, 2); }
          if (lanes > 3) { store<u32>(e3, <u32>xp); v128.store32_lane(e3, v, 3, 4); e3 += <usize>i32x4.extract_lane(step, 3); }
          xp += sC4; dp += dyPix;
        }
      }
      const head = lists + ((<usize>(first + n) * <usize>CO + <usize>c0) << 3);
      listHead(head, lists, s0, e0, cur);
      if (lanes > 1) listHead(head + 8, lists, s1, e1, cur + 4);
      if (lanes > 2) listHead(head + 16, lists, s2, e2, cur + 8);
      if (lanes > 3) listHead(head + 24, lists, s3, e3, cur + 12);
    }
  }
}

// The first `lanes` (< 4) floats at p in a vector, zeros after.
@inline function partialLanes(p: usize, lanes: i32): v128 {
  let v = v128.load32_zero(p);
  if (lanes > 1) v = v128.load32_lane(p + 4, v, 1);
  if (lanes > 2) v = v128.load32_lane(p + 8, v, 2);
  return v;
}

// A sample's list of one channel, from start to end: its header (offset from the lists, count), and the cursor.
@inline function listHead(head: usize, lists: usize, start: usize, end: usize, cursor: usize): void {
  store<u32>(head, <u32>(start - lists));
  store<i32>(head, <i32>((end - start) >> 3), 4);
  store<u32>(cursor, <u32>end);
}

// dw[k0:k1, CO] from the lists of `rows` samples (conv2d_dy_lists), in ws: dwᵀ, the strips, and
// per channel its runs of contiguous entries (the samples' entries merged where one starts at the other's end).
function wgrad_lists(G: ConvGeom, rows: i32, lists: usize, dw: usize, k0: i32, k1: i32, ws: usize): void {
  const K = patchFloats(G), CO = G.CO;
  const dwT = ws;
  const strips = dwT + align64(<usize>CO * <usize>K << 2);
  const runs = strips + stripsBytes(G);
  memory.fill(dwT, 0, <usize>CO * <usize>K << 2);
  const stripsEnd = dy_strips(G, k0, k1, strips);
  for (let co = 0; co < CO; co++) {
    // Runs (start address, entries), at most MAX_LIST_RUNS (then the last absorbs the rest sample by sample).
    let nRuns = 0;
    let end: usize = 0;
    for (let n = 0; n < rows; n++) {
      const head = lists + ((<usize>n * <usize>CO + <usize>co) << 3);
      const start = lists + <usize>load<u32>(head), count = load<i32>(head, 4);
      if (count == 0) continue;
      if (nRuns > 0 && start == end) {
        store<i32>(runs + (<usize>(nRuns - 1) << 3), load<i32>(runs + (<usize>(nRuns - 1) << 3), 4) + count, 4);
      } else {
        if (nRuns == MAX_LIST_RUNS) flush_runs(runs, nRuns, strips, stripsEnd, dwT + (<usize>(co * K) << 2)), nRuns = 0;
        store<u32>(runs + (<usize>nRuns << 3), <u32>start);
        store<i32>(runs + (<usize>nRuns << 3), count, 4);
        nRuns++;
      }
      end = start + (<usize>count << 3);
    }
    flush_runs(runs, nRuns, strips, stripsEnd, dwT + (<usize>(co * K) << 2));
  }
  for (let t = k0; t < k1; t++) {
    for (let co = 0; co < CO; co++) store<f32>(dw + ((<usize>t * <usize>CO + <usize>co) << 2), load<f32>(dwT + ((<usize>co * <usize>K + <usize>t) << 2)));
  }
}

// One channel's runs of entries into its row of dwᵀ (out): every strip, down the runs in order.
function flush_runs(runs: usize, nRuns: i32, strips: usize, stripsEnd: usize, out: usize): void {
  for (let q = 0; q < nRuns; q++) {
    const list = <usize>load<u32>(runs + (<usize>q << 3)), n = load<i32>(runs + (<usize>q << 3), 4);
    for (let st = strips; st < stripsEnd; st += STRIP_BYTES) dy_strip(st, list, n, out);
  }
}

// The vectors of dwᵀ's rows [k0, k1), in strips (k·C ≥ 4). The taps of each patch row ky in [k0, k1) are a run of w
// floats, contiguous in x and in dwᵀ. A run of w ≥ 4 is vectors v = 0 … V−1 at float min(4v, w − 4): with w % 4 ≠ 0
// the last overlaps the one before it (its lanes summed again, the same chains, stored with the same bits). A run of
// w < 4 (a thread's split [k0, k1) can cut a row short) is one vector of the row's taps around it: the others are
// summed too, into this call's own dwᵀ, and not copied out. A strip is up to STRIP_VECTORS vectors whose sums stay
// in registers down a list: whole runs, or pieces of a long run cut from its end (so that the overlapping pair
// shares a strip: both are loaded before either is stored). Strips are STRIP_BYTES: the count (i32), then (x byte
// offset from the patch, byte offset in dwᵀ's row) per vector, the last one repeated up to STRIP_VECTORS. Returns
// the end.
function dy_strips(G: ConvGeom, k0: i32, k1: i32, strips: usize): usize {
  const kC = G.k * G.C;
  const rowBytes = <usize>(G.W * G.C) << 2;
  let st = strips;
  let n = 0; // vectors in the open strip
  for (let ky = k0 / kC; ky * kC < k1; ky++) {
    const r0 = ky * kC;
    const t1 = min(k1, r0 + kC);
    const t0 = min(max(k0, r0), r0 + kC - 4);
    const w = max(4, t1 - t0);
    const V = (w + 3) >> 2;
    if (n > 0 && n + V > STRIP_VECTORS) { st = closeStrip(st, n); n = 0; }
    // A run longer than a strip: pieces from its end, each a strip.
    let v1 = V;
    while (v1 > 0) {
      const v0 = max(0, v1 - STRIP_VECTORS + n);
      for (let v = v0; v < v1; v++) {
        const f = min(4 * v, w - 4);
        const e = st + 8 + (<usize>n << 3);
        store<u32>(e, <u32>(<usize>ky * rowBytes + (<usize>(t0 - r0 + f) << 2)));
        store<u32>(e, <u32>((t0 + f) << 2), 4);
        n++;
      }
      v1 = v0;
      if (v1 > 0 || n == STRIP_VECTORS) { st = closeStrip(st, n); n = 0; }
    }
  }
  return n > 0 ? closeStrip(st, n) : st;
}

// Writes the count of the strip at st (n vectors), repeats its last vector up to STRIP_VECTORS; returns the next.
@inline function closeStrip(st: usize, n: i32): usize {
  store<i32>(st, n);
  const last = load<u64>(st + 8 + (<usize>(n - 1) << 3));
  for (let v = n; v < STRIP_VECTORS; v++) store<u64>(st + 8 + (<usize>v << 3), last);
  return st + STRIP_BYTES;
}

/** Bytes of the strip table: at worst one strip per patch row plus one per STRIP_VECTORS vectors. */
@inline function stripsBytes(G: ConvGeom): usize {
  return <usize>(G.k + (patchFloats(G) + 3) / 4 / STRIP_VECTORS + 1) * STRIP_BYTES;
}

// The strip at st: out + toff_i += Σ_list a · x[ptr + xoff_i] for its vectors, sums in registers down the list.
function dy_strip(st: usize, list: usize, n: i32, out: usize): void {
  const vecs = load<i32>(st);
  if (vecs == 6) dy_strip_vectors(6, st, list, n, out);
  else if (vecs == 5) dy_strip_vectors(5, st, list, n, out);
  else if (vecs == 4) dy_strip_vectors(4, st, list, n, out);
  else if (vecs == 3) dy_strip_vectors(3, st, list, n, out);
  else if (vecs == 2) dy_strip_vectors(2, st, list, n, out);
  else dy_strip_vectors(1, st, list, n, out);
}

// dy_strip with a compile-time count (≤ STRIP_VECTORS = 6: TurboFan issues an entry's loads before its
// multiply-adds, so more would not fit beside the accumulators in xmm0-14).
@inline function dy_strip_vectors(vecs: i32, st: usize, list: usize, n: i32, out: usize): void {
  const x0 = <usize>load<u32>(st, 8), x1 = <usize>load<u32>(st, 16), x2 = <usize>load<u32>(st, 24);
  const x3 = <usize>load<u32>(st, 32), x4 = <usize>load<u32>(st, 40), x5 = <usize>load<u32>(st, 48);
  const p0 = out + <usize>load<u32>(st, 12), p1 = out + <usize>load<u32>(st, 20), p2 = out + <usize>load<u32>(st, 28);
  const p3 = out + <usize>load<u32>(st, 36), p4 = out + <usize>load<u32>(st, 44), p5 = out + <usize>load<u32>(st, 52);
  let c0 = v128.load(p0), c1 = v128.load(p1), c2 = v128.load(p2);
  let c3 = v128.load(p3), c4 = v128.load(p4), c5 = v128.load(p5);
  const end = list + (<usize>n << 3);
  for (let e = list; e < end; e += 8) {
    const a = v128.load32_splat(e, 4);
    const xp = <usize>load<u32>(e);
    c0 = madd(a, v128.load(xp + x0), c0);
    if (vecs > 1) c1 = madd(a, v128.load(xp + x1), c1);
    if (vecs > 2) c2 = madd(a, v128.load(xp + x2), c2);
    if (vecs > 3) c3 = madd(a, v128.load(xp + x3), c3);
    if (vecs > 4) c4 = madd(a, v128.load(xp + x4), c4);
    if (vecs > 5) c5 = madd(a, v128.load(xp + x5), c5);
  }
  v128.store(p0, c0);
  if (vecs > 1) v128.store(p1, c1);
  if (vecs > 2) v128.store(p2, c2);
  if (vecs > 3) v128.store(p3, c3);
  if (vecs > 4) v128.store(p4, c4);
  if (vecs > 5) v128.store(p5, c5);
}

// Workspace bytes any of the kernels above needs (whatever the batch: they work one sample at a time).
export function conv2d_ws_bytes(g: usize): i32 {
  const G = checkGeom(g, 1);
  return <i32>max(max(fwdWsBytes(G), listsWsBytes(G)), max(wgradWsBytes(G), igradWsBytes(G)));
}
