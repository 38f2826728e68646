// The convolution micro-kernels (conv.ts and conv-lists.ts drive them) and their epilogues: register tiles of
// output pixels or taps × channels, each walking one flat list of terms (V8 keeps the 12 accumulators in registers
// through one loop but spills them in a loop nest, so a list of (x offset, other offset) entries replaces the nest
// over patch rows). The drivers call them through references (XNNPACK's ukernel pointers): inlined into a driver's
// loops, V8 spills their accumulators too and they run at half speed. Every sum is a madd chain in the order
// conv.ts documents.
import { MR, madd, relu4, transpose4_store } from './simd';

/** Vectors of a strip of the sparse-dy weight gradient, and bytes of its entry in the strip table. */
export const STRIP_VECTORS: i32 = 6;
export const STRIP_BYTES: usize = 64;
/** Bytes of a pixel's row of sums in conv_fwd_pair's acc (MR vectors at most). */
export const FWD_PAIR_ROW: usize = 96;

/** Forward: acc[MR][8] = MR output pixels × 8 channels. */
export type FwdUkernel = (tab: usize, taps: usize, n: i32, wp: usize, acc: usize) => void;
/** Weight gradient: acc[MR][8] += MR taps × 8 channels over a list of pixels. */
export type WgradUkernel = (offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize) => void;

// Forward: pixel i's patch top-left a_i is the u32 at tab[i]; taps[0..n) are (x byte offset in the patch, byte
// offset of the tap's row in wp), wp w packed [K][8]. acc[MR][8] = the madd sums over the taps in order (the
// epilogue, conv_fwd_store, is out of the loop's function for the same reason).
export function conv_fwd_ukernel_6x8(tab: usize, taps: usize, n: i32, wp: usize, acc: usize): void {
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
export function conv_fwd_ukernel_8x6_c1(tab: usize, taps: usize, n: i32, wp: usize, acc: usize): void {
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
export function conv_fwd_store_c1(acc: usize, bias: usize, y: usize, CO: i32, relu: bool): void {
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

// The forward skipping zeros for a pair of output pixels, patches at a0 and a1: out_i[0..vecs) = pixel i's madd sums,
// over list[0..n) in order, of x · w[row, col..] for entries (u32 x byte offset from the patch, u32 byte offset of
// the tap's w row from wcol; wcol points at the strip's first column). (Bias and ReLU in the loop's function made V8
// spill the sums: bias_relu_forward adds them after.)
export function conv_fwd_pair(vecs: i32, a0: usize, a1: usize, list: usize, n: i32, wcol: usize, out0: usize, out1: usize): void {
  if (vecs == 6) fwd_pair_vectors(6, a0, a1, list, n, wcol, out0, out1);
  else if (vecs == 5) fwd_pair_vectors(5, a0, a1, list, n, wcol, out0, out1);
  else if (vecs == 4) fwd_pair_vectors(4, a0, a1, list, n, wcol, out0, out1);
  else if (vecs == 3) fwd_pair_vectors(3, a0, a1, list, n, wcol, out0, out1);
  else if (vecs == 2) fwd_pair_vectors(2, a0, a1, list, n, wcol, out0, out1);
  else fwd_pair_vectors(1, a0, a1, list, n, wcol, out0, out1);
}

// conv_fwd_pair with a compile-time count (≤ MR: 2·MR sums, two broadcasts and a w vector in xmm0-15).
@inline function fwd_pair_vectors(vecs: i32, a0: usize, a1: usize, list: usize, n: i32, wcol: usize, out0: usize, out1: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
  const end = list + (<usize>n << 3);
  for (let e = list; e < end; e += 8) {
    const o = <usize>load<u32>(e);
    const wq = wcol + <usize>load<u32>(e, 4);
    const x0 = v128.load32_splat(a0 + o), x1 = v128.load32_splat(a1 + o);
    let b = v128.load(wq);
    c00 = madd(x0, b, c00); c10 = madd(x1, b, c10);
    if (vecs > 1) { b = v128.load(wq, 16); c01 = madd(x0, b, c01); c11 = madd(x1, b, c11); }
    if (vecs > 2) { b = v128.load(wq, 32); c02 = madd(x0, b, c02); c12 = madd(x1, b, c12); }
    if (vecs > 3) { b = v128.load(wq, 48); c03 = madd(x0, b, c03); c13 = madd(x1, b, c13); }
    if (vecs > 4) { b = v128.load(wq, 64); c04 = madd(x0, b, c04); c14 = madd(x1, b, c14); }
    if (vecs > 5) { b = v128.load(wq, 80); c05 = madd(x0, b, c05); c15 = madd(x1, b, c15); }
  }
  v128.store(out0, c00); v128.store(out1, c10);
  if (vecs > 1) { v128.store(out0, c01, 16); v128.store(out1, c11, 16); }
  if (vecs > 2) { v128.store(out0, c02, 32); v128.store(out1, c12, 32); }
  if (vecs > 3) { v128.store(out0, c03, 48); v128.store(out1, c13, 48); }
  if (vecs > 4) { v128.store(out0, c04, 64); v128.store(out1, c14, 64); }
  if (vecs > 5) { v128.store(out0, c05, 80); v128.store(out1, c15, 80); }
}

// y rows: c_i[0:cols] = acc_i + b, then max(0, ·) when relu (bias_relu_forward's ops), for the tile's mr pixels:
// acc[mr][8], c_i = outs[i] (u32) + cOff.
export function conv_fwd_store(outs: usize, acc: usize, bias: usize, cOff: usize, cols: i32, mr: i32, relu: bool): void {
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
export function conv_wgrad_ukernel_6x8_contiguous(offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize): void {
  wgrad_tile(true, offs, pix, n, img, dyb, acc, accRow);
}
export function conv_wgrad_ukernel_6x8_gather(offs: usize, pix: usize, n: i32, img: usize, dyb: usize, acc: usize, accRow: usize): void {
  wgrad_tile(false, offs, pix, n, img, dyb, acc, accRow);
}

// The strip at st: out + toff_i += Σ_list a · x[ptr + xoff_i] for its vectors, sums in registers down the list.
export function dy_strip(st: usize, list: usize, n: i32, out: usize): void {
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
