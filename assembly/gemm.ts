// GEMM kernels: C[m,n] (=|+=) op(A)·op(B), row-major f32 at byte addresses.
import { sgdScalar, sgdVec } from './sgd';
import { relu_backward } from './activations';
import { MR, madd, madd_s, transpose4_store } from './simd';

// Every C element is ((C0 + a0·b0) + a1·b1) + … in increasing k (C0 = 0, or the old C when accumulating),
// each step one `madd` (mul then add; one fused op in the relaxed build). Nothing is reassociated, so the
// sparse kernels, which skip a = 0 terms, agree with the dense ones bit for bit (for finite B and C0 ≠ −0),
// and an element's bits never depend on where it sits in a tile.
//
// Dense path (GotoBLAS/BLIS style): op(B) is packed into 8-column panels and op(A) into MR-row panels in
// the workspace, so one register-blocked micro-kernel serves nn, nt and tn, and edge tiles run the same
// full-width kernel on zero-padded panels through a scratch tile. K is split into blocks; the partial sums
// go through C in f32, which is exact, so blocking keeps the summation order.
//
// Batch 1 skips packing: m = 1 runs one row of C straight from B (gemv_n, gemv_t) and k = 1 an outer product
// (gemm_outer), with the same madd per element in the same order.
//
// Sparse path: per-row lists of A's nonzero terms, walked over column strips of B in registers (see below).
//
// Every kernel has a `_ld` twin taking leading dimensions (row strides, in floats) for A, B and C, so a
// block of rows or columns of C can be computed in place: that is how threads split a GEMM. The K blocks
// depend on k alone, so an element's bits do not depend on which block of C it was computed in.

/** Columns of a micro-tile: two f32x4 per row. */
const NR: i32 = 8;
/** Largest MR of any build: gemm_ws_bytes answers the same in every build. */
const MR_MAX: i32 = 6;
/** K block: an A micro-panel (6·256·4 = 6 KB) and a B micro-panel (8 KB) stay in L1. */
const KC: i32 = 256;
/** M block (a multiple of 5 and 6): the packed A block, 120·256·4 = 120 KB, stays in L2. */
const MC: i32 = 120;
/** N block: the packed B block, 256·512·4 = 512 KB, stays in L2/L3. */
const NC: i32 = 512;

/** Rows of B per strip of the m = 1, B-transposed path (gemv_t): the lines the strip is reading stay in L1. */
const GEMV_T_ROWS: usize = 32;
/** Fewest k for which gemv_t_relu's skipped rows pay for its list of rows (k = 10: 1.5× slower; 128: 1.35× faster). */
const GEMV_T_RELU_MIN_K: i32 = 32;

@inline function roundUp(x: i32, to: i32): i32 {
  return (x + to - 1) / to * to;
}

/** Rows of the packed A block, rounded up to whole panels for any build's MR (≤ MR_MAX), so the workspace
 *  size is the same in every build. */
@inline function aPanelRows(m: i32): i32 {
  return min(m, MC) + MR_MAX - 1;
}

@inline function align64(bytes: usize): usize {
  return (bytes + 63) & ~(<usize>63);
}

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

// ---------------------------------------------------------------------------------------------------------
// Micro-kernels: C[MR,8] (=|+=) Ap[kc][MR] · Bp[kc][8] over packed panels; C has row stride ldc bytes.
// `fromC` starts the sums from C (accumulating, or a later K block), else from 0.

// C[6,8] (=|+=) Ap[kc][6] · Bp[kc][8]: 12 accumulators, for the relaxed (fused) build.
function gemm_ukernel_6x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, fromC: bool): void {
  const r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  if (fromC) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(r1); c11 = v128.load(r1, 16);
    c20 = v128.load(r2); c21 = v128.load(r2, 16);
    c30 = v128.load(r3); c31 = v128.load(r3, 16);
    c40 = v128.load(r4); c41 = v128.load(r4, 16);
    c50 = v128.load(r5); c51 = v128.load(r5, 16);
  }
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    ap += 24; bp += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
  v128.store(r4, c40); v128.store(r4, c41, 16);
  v128.store(r5, c50); v128.store(r5, c51, 16);
}

// C[5,8] (=|+=) Ap[kc][5] · Bp[kc][8]: 10 accumulators + 2 B + broadcast + product temp, for mul+add.
function gemm_ukernel_5x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, fromC: bool): void {
  const r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc;
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00;
  if (fromC) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(r1); c11 = v128.load(r1, 16);
    c20 = v128.load(r2); c21 = v128.load(r2, 16);
    c30 = v128.load(r3); c31 = v128.load(r3, 16);
    c40 = v128.load(r4); c41 = v128.load(r4, 16);
  }
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    ap += 20; bp += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
  v128.store(r4, c40); v128.store(r4, c41, 16);
}

/** The build's micro-kernel. */
@inline function gemm_ukernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, fromC: bool): void {
  if (MR == 6) gemm_ukernel_6x8(kc, ap, bp, c, ldc, fromC);
  else gemm_ukernel_5x8(kc, ap, bp, c, ldc, fromC);
}

// C[mr,nr] (=|+=) for an edge tile (mr ≤ MR, nr ≤ 8): the full micro-kernel on the zero-padded panels,
// through a scratch tile, so edge elements see exactly the same operations as interior ones.
function gemm_ukernel_edge(
  kc: i32, ap: usize, bp: usize, c: usize, ldc: usize, fromC: bool, mr: i32, nr: i32, tile: usize,
): void {
  if (fromC) {
    for (let r = 0; r < mr; r++) {
      for (let j = 0; j < nr; j++) {
        store<f32>(tile + (<usize>(r * NR + j) << 2), load<f32>(c + <usize>r * ldc + (<usize>j << 2)));
      }
    }
  }
  gemm_ukernel(kc, ap, bp, tile, <usize>NR << 2, fromC);
  for (let r = 0; r < mr; r++) {
    for (let j = 0; j < nr; j++) {
      store<f32>(c + <usize>r * ldc + (<usize>j << 2), load<f32>(tile + (<usize>(r * NR + j) << 2)));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Packing. op(A) element (i,p) is A[i*k+p] (nn, nt) or A[p*m+i] (tn); op(B) element (p,j) is B[p*n+j]
// (nn, tn) or B[j*k+p] (nt).

// Ap[ceil(mc/MR)][kc][MR] ← op(A)[i0:i0+mc, p0:p0+kc]; rows past mc are zero. lda: A's row stride (floats).
function pack_a(transA: bool, a: usize, lda: i32, i0: i32, mc: i32, p0: i32, kc: i32, ap: usize): void {
  const rowBytes = <usize>MR << 2;
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    let dst = ap;
    if (transA) {
      // A[p, i0+ir : i0+ir+mr] is contiguous: copy MR floats per p.
      let src = a + ((<usize>p0 * <usize>lda + <usize>(i0 + ir)) << 2);
      const step = <usize>lda << 2;
      if (mr == MR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          if (MR == 6) store<u64>(dst, load<u64>(src, 16), 16);
          else store<u32>(dst, load<u32>(src, 16), 16);
          src += step; dst += rowBytes;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) {
            store<f32>(dst + (<usize>r << 2), r < mr ? load<f32>(src + (<usize>r << 2)) : 0);
          }
          src += step; dst += rowBytes;
        }
      }
    } else {
      // Rows of A are contiguous along p: transpose 4x4 blocks of rows 0-3 into the panel, then row 4
      // (and 5) lane by lane.
      let src = a + ((<usize>(i0 + ir) * <usize>lda + <usize>p0) << 2);
      const rowStep = <usize>lda << 2;
      let p = 0;
      if (mr == MR) {
        for (; p + 4 <= kc; p += 4) {
          transpose4_store(
            v128.load(src), v128.load(src + rowStep), v128.load(src + 2 * rowStep), v128.load(src + 3 * rowStep),
            dst, rowBytes,
          );
          const x4 = v128.load(src + 4 * rowStep);
          if (MR == 6) {
            const x5 = v128.load(src + 5 * rowStep);
            const lo = i32x4.shuffle(x4, x5, 0, 4, 1, 5);
            const hi = i32x4.shuffle(x4, x5, 2, 6, 3, 7);
            v128.store64_lane(dst, lo, 0, 16);
            v128.store64_lane(dst + rowBytes, lo, 1, 16);
            v128.store64_lane(dst + 2 * rowBytes, hi, 0, 16);
            v128.store64_lane(dst + 3 * rowBytes, hi, 1, 16);
          } else {
            v128.store32_lane(dst, x4, 0, 16);
            v128.store32_lane(dst + rowBytes, x4, 1, 16);
            v128.store32_lane(dst + 2 * rowBytes, x4, 2, 16);
            v128.store32_lane(dst + 3 * rowBytes, x4, 3, 16);
          }
          src += 16; dst += rowBytes << 2;
        }
      }
      for (; p < kc; p++) {
        for (let r = 0; r < MR; r++) {
          store<f32>(dst + (<usize>r << 2), r < mr ? load<f32>(src + <usize>r * rowStep) : 0);
        }
        src += 4; dst += rowBytes;
      }
    }
    ap += <usize>kc * rowBytes;
  }
}

// Bp[ceil(nc/8)][kc][8] ← op(B)[p0:p0+kc, j0:j0+nc]; columns past nc are zero. ldb: B's row stride (floats).
function pack_b(transB: bool, b: usize, ldb: i32, j0: i32, nc: i32, p0: i32, kc: i32, bp: usize): void {
  const zero = f32x4.splat(0);
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    let dst = bp;
    if (transB) {
      // Rows j of B (columns of op(B)) are contiguous along p: transpose 4x4 blocks of rows 0-3 and 4-7.
      let src = b + ((<usize>(j0 + jr) * <usize>ldb + <usize>p0) << 2);
      const rowStep = <usize>ldb << 2;
      let p = 0;
      if (nr == NR) {
        for (; p + 4 <= kc; p += 4) {
          transpose4_store(
            v128.load(src), v128.load(src + rowStep), v128.load(src + 2 * rowStep), v128.load(src + 3 * rowStep),
            dst, 32,
          );
          transpose4_store(
            v128.load(src + 4 * rowStep), v128.load(src + 5 * rowStep), v128.load(src + 6 * rowStep),
            v128.load(src + 7 * rowStep), dst + 16, 32,
          );
          src += 16; dst += 128;
        }
      }
      for (; p < kc; p++) {
        for (let jj = 0; jj < NR; jj++) {
          store<f32>(dst + (<usize>jj << 2), jj < nr ? load<f32>(src + <usize>jj * rowStep) : 0);
        }
        src += 4; dst += 32;
      }
    } else {
      let src = b + ((<usize>p0 * <usize>ldb + <usize>(j0 + jr)) << 2);
      const step = <usize>ldb << 2;
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += step; dst += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          v128.store(dst, zero);
          v128.store(dst, zero, 16);
          for (let j = 0; j < nr; j++) store<f32>(dst + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
          src += step; dst += 32;
        }
      }
    }
    bp += <usize>kc << 5;
  }
}

/** Bytes spanned by `rows` rows of `cols` floats at row stride `ld`. */
@inline function spanBytes(rows: i32, cols: i32, ld: i32): usize {
  return (<usize>(rows - 1) * <usize>ld + <usize>cols) << 2;
}

/** Debug-build checks shared by every GEMM: sizes, alignment, strides, and all operands in memory. */
@inline function checkArgs(
  transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  ws: usize,
): void {
  assert(m >= 1 && n >= 1 && k >= 1 && ws != 0);
  assert((a & 3) == 0 && (b & 3) == 0 && (c & 3) == 0);
  assert(lda >= (transA ? m : k) && ldb >= (transB ? k : n) && ldc >= n);
  assert(inMemory(a, transA ? spanBytes(k, m, lda) : spanBytes(m, k, lda)));
  assert(inMemory(b, transB ? spanBytes(n, k, ldb) : spanBytes(k, n, ldb)));
  assert(inMemory(c, spanBytes(m, n, ldc)) && inMemory(ws, <usize>gemm_ws_bytes(m, n, k)));
}

// ---------------------------------------------------------------------------------------------------------
// Unpacked paths for batch 1 (per-sample SGD): one row of C (m = 1: y = x·W, dX = dOut·Wᵀ) and an outer
// product (k = 1: dW = xᵀ·dOut). There, packing would cost as much as the product itself and the
// micro-kernel would use one row in five or six. Each vector lane is one element of C, summed in increasing
// p as in the micro-kernel (lone scalar columns use madd_s). A column tail (n % 4) is one more vector over
// the last four columns, overlapping the last full one: its C0 is read before anything is stored, it is
// stored last, and the overlapped lanes get the same bits again.

// gemv_t, before its K loop: C[0, :n4] ← 0 unless accumulating (the sums then run through C), and the tail
// vector's C0 (or 0) into ws[0:4], where the tail accumulates.
@inline function gemv_init(n: i32, c: usize, accumulate: bool, ws: usize): void {
  const zero = f32x4.splat(0);
  const n4 = <usize>(n & ~3) << 2;
  if (!accumulate) for (let o: usize = 0; o < n4; o += 16) v128.store(c + o, zero);
  if (n & 3) v128.store(ws, accumulate ? v128.load(c + (<usize>(n - 4) << 2)) : zero);
}

// One row: C[0, j:j+4·vecs] (=|+=) Σ_p x[p]·B[p, j:j+4·vecs], vecs ≤ 6 accumulators (see sparse_cols).
// x[p] is at x + p·xStep; B's rows are bRow bytes apart.
@inline function gemv_n_cols(
  vecs: i32, j: i32, k: i32, x: usize, xStep: usize, b: usize, bRow: usize, c: usize, accumulate: bool,
): void {
  const zero = f32x4.splat(0);
  const cp = c + (<usize>j << 2);
  let bp = b + (<usize>j << 2);
  let xp = x;
  let c0 = zero, c1 = zero, c2 = zero, c3 = zero, c4 = zero, c5 = zero;
  if (accumulate) {
    c0 = v128.load(cp);
    if (vecs > 1) c1 = v128.load(cp, 16);
    if (vecs > 2) c2 = v128.load(cp, 32);
    if (vecs > 3) c3 = v128.load(cp, 48);
    if (vecs > 4) c4 = v128.load(cp, 64);
    if (vecs > 5) c5 = v128.load(cp, 80);
  }
  for (let p = 0; p < k; p++) {
    const a = v128.load32_splat(xp);
    c0 = madd(a, v128.load(bp), c0);
    if (vecs > 1) c1 = madd(a, v128.load(bp, 16), c1);
    if (vecs > 2) c2 = madd(a, v128.load(bp, 32), c2);
    if (vecs > 3) c3 = madd(a, v128.load(bp, 48), c3);
    if (vecs > 4) c4 = madd(a, v128.load(bp, 64), c4);
    if (vecs > 5) c5 = madd(a, v128.load(bp, 80), c5);
    xp += xStep; bp += bRow;
  }
  v128.store(cp, c0);
  if (vecs > 1) v128.store(cp, c1, 16);
  if (vecs > 2) v128.store(cp, c2, 32);
  if (vecs > 3) v128.store(cp, c3, 48);
  if (vecs > 4) v128.store(cp, c4, 64);
  if (vecs > 5) v128.store(cp, c5, 80);
}

// C[0, :n] (=|+=) x[0, :k] · B[k, n] (m = 1, B not transposed): strips of up to 24 columns in registers,
// each running down all k rows of B; the tail vector first, kept in a register.
function gemv_n(
  n: i32, k: i32, x: usize, xStep: usize, b: usize, bRow: usize, c: usize, accumulate: bool, ws: usize,
): void {
  if (n < 4) {
    for (let j = 0; j < n; j++) {
      const cp = c + (<usize>j << 2);
      let bp = b + (<usize>j << 2);
      let xp = x;
      let s: f32 = accumulate ? load<f32>(cp) : 0;
      for (let p = 0; p < k; p++) {
        s = madd_s(load<f32>(xp), load<f32>(bp), s);
        xp += xStep; bp += bRow;
      }
      store<f32>(cp, s);
    }
    return;
  }
  // Columns n-4..n-1 first (kept in a register), when n % 4 leaves a tail.
  const tailOff = <usize>(n - 4) << 2;
  let tail = f32x4.splat(0);
  if (n & 3) {
    if (accumulate) tail = v128.load(c + tailOff);
    let bp = b + tailOff;
    let xp = x;
    for (let p = 0; p < k; p++) {
      tail = madd(v128.load32_splat(xp), v128.load(bp), tail);
      xp += xStep; bp += bRow;
    }
  }
  let j = 0;
  for (; j + 24 <= n; j += 24) gemv_n_cols(6, j, k, x, xStep, b, bRow, c, accumulate);
  if (j + 16 <= n) { gemv_n_cols(4, j, k, x, xStep, b, bRow, c, accumulate); j += 16; }
  if (j + 8 <= n) { gemv_n_cols(2, j, k, x, xStep, b, bRow, c, accumulate); j += 8; }
  if (j + 4 <= n) { gemv_n_cols(1, j, k, x, xStep, b, bRow, c, accumulate); j += 4; }
  if (n & 3) v128.store(c + tailOff, tail);
}

// Four rows of B at r0..r3, columns p..p+3, transposed into four column vectors and multiplied into acc in
// increasing p: lane i is the element of row ri.
@inline function gemv_t_rows4(r0: usize, r1: usize, r2: usize, r3: usize, a0: v128, a1: v128, a2: v128, a3: v128, acc: v128): v128 {
  const x0 = v128.load(r0), x1 = v128.load(r1), x2 = v128.load(r2), x3 = v128.load(r3);
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  acc = madd(a0, i32x4.shuffle(t0, t1, 0, 1, 4, 5), acc);
  acc = madd(a1, i32x4.shuffle(t0, t1, 2, 3, 6, 7), acc);
  acc = madd(a2, i32x4.shuffle(t2, t3, 0, 1, 4, 5), acc);
  return madd(a3, i32x4.shuffle(t2, t3, 2, 3, 6, 7), acc);
}

// Four rows of B from rp (bRow bytes apart): lane r is element j+r of C.
@inline function gemv_t_block(rp: usize, bRow: usize, a0: v128, a1: v128, a2: v128, a3: v128, acc: v128): v128 {
  return gemv_t_rows4(rp, rp + bRow, rp + 2 * bRow, rp + 3 * bRow, a0, a1, a2, a3, acc);
}

// Column p of four rows of B at r0..r3, multiplied into acc (k % 4 tail).
@inline function gemv_t_col4(r0: usize, r1: usize, r2: usize, r3: usize, a: v128, acc: v128): v128 {
  let v = v128.load32_zero(r0);
  v = v128.load32_lane(r1, v, 1);
  v = v128.load32_lane(r2, v, 2);
  v = v128.load32_lane(r3, v, 3);
  return madd(a, v, acc);
}

// Column p of four rows of B from rp (bRow bytes apart).
@inline function gemv_t_col(rp: usize, bRow: usize, a: v128, acc: v128): v128 {
  return gemv_t_col4(rp, rp + bRow, rp + 2 * bRow, rp + 3 * bRow, a, acc);
}

// C[0, :n] (=|+=) x[0, :k] · B[n, k]ᵀ (m = 1, B transposed: row j of B, bRow bytes after row j - 1, is column
// j of op(B)). Each block of four rows and four p is transposed in registers; the sums run through C (in
// f32, which changes no bits) and the tail vector through ws.
function gemv_t(
  n: i32, k: i32, x: usize, xStep: usize, b: usize, bRow: usize, c: usize, accumulate: bool, ws: usize,
): void {
  if (n < 4) {
    for (let j = 0; j < n; j++) {
      const cp = c + (<usize>j << 2);
      let bp = b + <usize>j * bRow;
      let xp = x;
      let s: f32 = accumulate ? load<f32>(cp) : 0;
      for (let p = 0; p < k; p++) {
        s = madd_s(load<f32>(xp), load<f32>(bp), s);
        xp += xStep; bp += 4;
      }
      store<f32>(cp, s);
    }
    return;
  }
  gemv_init(n, c, accumulate, ws);
  const n4 = <usize>(n & ~3) << 2;
  const g4 = bRow << 2;
  const tailRows = b + <usize>(n - 4) * bRow;
  // Strips of GEMV_T_ROWS rows of B, K-outer inside a strip: the strip's lines stay in L1 (a sweep down all
  // n rows at each p would map rows 512 B apart into a few L1 sets and thrash them), and each group of four
  // rows comes back every GEMV_T_ROWS / 4 iterations, enough to hide its add chain through memory. (Four
  // groups of accumulators held in registers over all k instead spill: no faster.)
  for (let j0: usize = 0; j0 < n4; j0 += GEMV_T_ROWS << 2) {
    const jEnd = min(n4, j0 + (GEMV_T_ROWS << 2));
    const last = jEnd == n4 && (n & 3) != 0;
    const rows = b + (j0 >> 2) * bRow;
    let xp = x;
    let col: usize = 0;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const a0 = v128.load32_splat(xp), a1 = v128.load32_splat(xp + xStep);
      const a2 = v128.load32_splat(xp + 2 * xStep), a3 = v128.load32_splat(xp + 3 * xStep);
      let rp = rows + col;
      for (let o = j0; o < jEnd; o += 16) {
        v128.store(c + o, gemv_t_block(rp, bRow, a0, a1, a2, a3, v128.load(c + o)));
        rp += g4;
      }
      if (last) v128.store(ws, gemv_t_block(tailRows + col, bRow, a0, a1, a2, a3, v128.load(ws)));
      xp += xStep << 2; col += 16;
    }
    for (; p < k; p++) {
      const a = v128.load32_splat(xp);
      let rp = rows + col;
      for (let o = j0; o < jEnd; o += 16) {
        v128.store(c + o, gemv_t_col(rp, bRow, a, v128.load(c + o)));
        rp += g4;
      }
      if (last) v128.store(ws, gemv_t_col(tailRows + col, bRow, a, v128.load(ws)));
      xp += xStep; col += 4;
    }
  }
  if (n & 3) v128.store(c + (<usize>(n - 4) << 2), v128.load(ws));
}

// C[0, :n] = (x[0, :k] · B[n, k]ᵀ) ⊙ [y > 0] (m = 1): an input gradient through the ReLU whose output is y.
// Only rows j with y[j] > 0 are computed, each exactly as gemv_t computes it; the others are 0, as
// relu_backward would leave them (a hidden layer's output is about half zeros). The workspace holds the
// active rows' addresses (padded to whole groups of four with the last one) and then their sums.
function gemv_t_relu(n: i32, k: i32, x: usize, xStep: usize, b: usize, bRow: usize, c: usize, y: usize, ws: usize): void {
  let active: usize = 0;
  for (let j = 0; j < n; j++) {
    store<u32>(ws + (active << 2), <u32>(b + <usize>j * bRow));
    active += <usize>(load<f32>(y + (<usize>j << 2)) > 0);
  }
  const padded = (active + 3) & ~(<usize>3);
  for (let q = active; q < padded; q++) store<u32>(ws + (q << 2), load<u32>(ws + ((active - 1) << 2)));
  const sums = ws + align64(padded << 2);
  memory.fill(sums, 0, padded << 2);
  const groups = padded >> 2;
  // Strips of GEMV_T_ROWS rows, K-outer inside a strip, as in gemv_t.
  for (let g0: usize = 0; g0 < groups; g0 += GEMV_T_ROWS >> 2) {
    const gEnd = min(groups, g0 + (GEMV_T_ROWS >> 2));
    let xp = x;
    let col: usize = 0;
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const a0 = v128.load32_splat(xp), a1 = v128.load32_splat(xp + xStep);
      const a2 = v128.load32_splat(xp + 2 * xStep), a3 = v128.load32_splat(xp + 3 * xStep);
      for (let g = g0; g < gEnd; g++) {
        const r = ws + (g << 4), sp = sums + (g << 4);
        const r0 = <usize>load<u32>(r) + col, r1 = <usize>load<u32>(r, 4) + col;
        const r2 = <usize>load<u32>(r, 8) + col, r3 = <usize>load<u32>(r, 12) + col;
        v128.store(sp, gemv_t_rows4(r0, r1, r2, r3, a0, a1, a2, a3, v128.load(sp)));
      }
      xp += xStep << 2; col += 16;
    }
    for (; p < k; p++) {
      const a = v128.load32_splat(xp);
      for (let g = g0; g < gEnd; g++) {
        const r = ws + (g << 4), sp = sums + (g << 4);
        const r0 = <usize>load<u32>(r) + col, r1 = <usize>load<u32>(r, 4) + col;
        const r2 = <usize>load<u32>(r, 8) + col, r3 = <usize>load<u32>(r, 12) + col;
        v128.store(sp, gemv_t_col4(r0, r1, r2, r3, a, v128.load(sp)));
      }
      xp += xStep; col += 4;
    }
  }
  // Rows in order: the q-th active row takes the q-th sum.
  let q: usize = 0;
  for (let j = 0; j < n; j++) {
    const on = load<f32>(y + (<usize>j << 2)) > 0;
    store<f32>(c + (<usize>j << 2), on ? load<f32>(sums + (q << 2)) : 0);
    q += <usize>on;
  }
}

// The fused SGD step of sgd_tn_sparse (`sgd` set): instead of storing a row of the weight gradient G at c,
// the parameters at c + pDelta (same layout) take the step p − lr·(g + wd·p) (sgd.ts), as sgd_step would.
// With wd = 0 a row with no terms (its gradient is 0) is left alone: its step would change nothing.
// (Plain arguments, not an object: the host owns the heap.)

// Stores the four gradient values g at cp as a step of the parameters they belong to.
@inline function sgdStore(cp: usize, g: v128, pDelta: usize, lr: f32, wd: f32): void {
  const pp = cp + pDelta;
  v128.store(pp, sgdVec(v128.load(pp), g, f32x4.splat(lr), f32x4.splat(wd), wd != 0));
}

// gemm_outer with skipZeros and the fused step: row i's gradient is a[i]·b (0 when a[i] = 0).
function sgd_outer(m: i32, n: i32, a: usize, aStep: usize, b: usize, c: usize, cRow: usize, pDelta: usize, lr: f32, wd: f32): void {
  if (wd == 0) sgd_outer_rows(false, m, n, a, aStep, b, c, cRow, pDelta, lr, wd);
  else sgd_outer_rows(true, m, n, a, aStep, b, c, cRow, pDelta, lr, wd);
}

// sgd_outer's loop, with the decay term or (compiled separately) without.
@inline function sgd_outer_rows(
  decay: bool, m: i32, n: i32, a: usize, aStep: usize, b: usize, c: usize, cRow: usize, pDelta: usize, lr: f32, wd: f32,
): void {
  const zero = f32x4.splat(0);
  const vlr = f32x4.splat(lr);
  const vwd = f32x4.splat(wd);
  const n4 = <usize>(n & ~3) << 2;
  const nBytes = <usize>n << 2;
  let ap = a, pp = c + pDelta;
  for (let i = 0; i < m; i++) {
    const x = load<f32>(ap);
    if (x != 0) {
      const xv = f32x4.splat(x);
      let o: usize = 0;
      for (; o + 32 <= n4; o += 32) {
        v128.store(pp + o, sgdVec(v128.load(pp + o), madd(xv, v128.load(b + o), zero), vlr, vwd, decay));
        v128.store(pp + o, sgdVec(v128.load(pp + o, 16), madd(xv, v128.load(b + o, 16), zero), vlr, vwd, decay), 16);
      }
      for (; o < n4; o += 16) v128.store(pp + o, sgdVec(v128.load(pp + o), madd(xv, v128.load(b + o), zero), vlr, vwd, decay));
      for (; o < nBytes; o += 4) store<f32>(pp + o, sgdScalar(load<f32>(pp + o), madd_s(x, load<f32>(b + o), 0), lr, wd));
    } else if (decay) {
      // a zero gradient: only the decay
      let o: usize = 0;
      for (; o < n4; o += 16) v128.store(pp + o, sgdVec(v128.load(pp + o), zero, vlr, vwd, true));
      for (; o < nBytes; o += 4) store<f32>(pp + o, sgdScalar(load<f32>(pp + o), 0, lr, wd));
    }
    ap += aStep; pp += cRow;
  }
}

// C[m, :n] (=|+=) a[m]·b[n] (k = 1: one madd per element). a[i] at a + i·aStep; b contiguous; C's rows
// cRow bytes apart. skipZeros (the sparse kernels): a row with a[i] = 0 gets no term, so C[i, :] = 0, or
// stays C0 when accumulating.
function gemm_outer(
  m: i32, n: i32, a: usize, aStep: usize, b: usize, c: usize, cRow: usize, accumulate: bool, skipZeros: bool,
  sgd: bool = false, pDelta: usize = 0, lr: f32 = 0, wd: f32 = 0,
): void {
  if (sgd) {
    sgd_outer(m, n, a, aStep, b, c, cRow, pDelta, lr, wd);
    return;
  }
  const zero = f32x4.splat(0);
  const n4 = <usize>(n & ~3) << 2;
  const tailOff = <usize>(n - 4) << 2;
  let ap = a, cp = c;
  for (let i = 0; i < m; i++) {
    if (skipZeros && load<f32>(ap) == 0) {
      if (!accumulate) {
        if (n < 4) {
          for (let j = 0; j < n; j++) store<f32>(cp + (<usize>j << 2), 0);
        } else {
          for (let o: usize = 0; o < n4; o += 16) v128.store(cp + o, zero);
          if (n & 3) v128.store(cp + tailOff, zero);
        }
      }
    } else if (n < 4) {
      const x = load<f32>(ap);
      for (let j = 0; j < n; j++) {
        const o = <usize>j << 2;
        store<f32>(cp + o, madd_s(x, load<f32>(b + o), accumulate ? load<f32>(cp + o) : 0));
      }
    } else {
      const x = v128.load32_splat(ap);
      let tail = zero;
      if (n & 3) tail = madd(x, v128.load(b + tailOff), accumulate ? v128.load(cp + tailOff) : zero);
      let o: usize = 0;
      if (accumulate) {
        for (; o + 32 <= n4; o += 32) {
          v128.store(cp + o, madd(x, v128.load(b + o), v128.load(cp + o)));
          v128.store(cp + o, madd(x, v128.load(b + o, 16), v128.load(cp + o, 16)), 16);
        }
        for (; o < n4; o += 16) v128.store(cp + o, madd(x, v128.load(b + o), v128.load(cp + o)));
      } else {
        for (; o + 32 <= n4; o += 32) {
          v128.store(cp + o, madd(x, v128.load(b + o), zero));
          v128.store(cp + o, madd(x, v128.load(b + o, 16), zero), 16);
        }
        for (; o < n4; o += 16) v128.store(cp + o, madd(x, v128.load(b + o), zero));
      }
      if (n & 3) v128.store(cp + tailOff, tail);
    }
    ap += aStep; cp += cRow;
  }
}

/** The unpacked paths: k = 1 (outer product) or m = 1 (one row); false for other shapes. */
function gemm_small(
  transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: bool, ws: usize,
): bool {
  if (k == 1) {
    // op(A)[i,0] = A[i·lda] (nn, nt) or A[i] (tn); op(B)[0,j] = B[j] (nn, tn) or B[j·ldb] (nt).
    const aStep: usize = transA ? 4 : <usize>lda << 2;
    if (!transB || ldb == 1) {
      gemm_outer(m, n, a, aStep, b, c, <usize>ldc << 2, accumulate, false);
    } else {
      // Gather B's column into the workspace, NC columns at a time (the workspace holds that many floats).
      for (let jc = 0; jc < n; jc += NC) {
        const nc = min(NC, n - jc);
        for (let j = 0; j < nc; j++) store<f32>(ws + (<usize>j << 2), load<f32>(b + (<usize>(jc + j) * <usize>ldb << 2)));
        gemm_outer(m, nc, a, aStep, ws, c + (<usize>jc << 2), <usize>ldc << 2, accumulate, false);
      }
    }
    return true;
  }
  if (m == 1) {
    // op(A)[0,p] = A[p] (nn, nt) or A[p·lda] (tn).
    const xStep: usize = transA ? <usize>lda << 2 : 4;
    if (transB) gemv_t(n, k, a, xStep, b, <usize>ldb << 2, c, accumulate, ws);
    else gemv_n(n, k, a, xStep, b, <usize>ldb << 2, c, accumulate, ws);
    return true;
  }
  return false;
}

// C[m,n] (=|+=) op(A)[m,k] · op(B)[k,n]: blocked loops over packed panels. lda, ldb, ldc: row strides.
function gemm_dense(
  transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: bool, ws: usize,
): void {
  checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, ws);
  if (gemm_small(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws)) return;
  const kcMax = min(k, KC);
  const bpBuf = ws;
  const apBuf = bpBuf + align64(<usize>kcMax * <usize>roundUp(min(n, NC), NR) << 2);
  const tile = apBuf + align64(<usize>aPanelRows(m) * <usize>kcMax << 2);
  // Equal K blocks (784 → 4 × 196 rather than 3 × 256 + 16).
  const kBlocks = (k + KC - 1) / KC;
  const kcStep = (k + kBlocks - 1) / kBlocks;
  const cRow = <usize>ldc << 2;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      const fromC = accumulate || pc > 0;
      pack_b(transB, b, ldb, jc, nc, pc, kc, bpBuf);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        pack_a(transA, a, lda, ic, mc, pc, kc, apBuf);
        // B micro-panel outer, A micro-panels inner: the B panel stays in L1 while A streams from L2.
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bPanel = bpBuf + (<usize>jr * <usize>kc << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const aPanel = apBuf + (<usize>ir * <usize>kc << 2);
            const cTile = c + <usize>(ic + ir) * cRow + (<usize>(jc + jr) << 2);
            if (mr == MR && nr == NR) gemm_ukernel(kc, aPanel, bPanel, cTile, cRow, fromC);
            else gemm_ukernel_edge(kc, aPanel, bPanel, cTile, cRow, fromC, mr, nr, tile);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sparse path. First every output row r gets the list of its nonzero terms, in increasing k, as 8-byte
// entries (i32 byte offset p·pitch of B's row p, f32 a) in a slot of k entries, with (start, end) bounds
// for each K block. Then, for each K block and each column strip of up to 24 floats, every row walks its
// terms in the block: C[r, strip] (=|+=) Σ a·B[p, strip], in registers. Later K blocks add to C in f32,
// which changes no bits.
// With enough rows (m ≥ SPARSE_PACK_ROWS), each K block × strip tile of B is first copied into a contiguous
// slab (rows SLAB_ROW bytes apart; pitch = SLAB_ROW): B's rows are usually a power of two apart (1 KB for
// 256 columns), so a strip read in place maps into a few L1 and L2 sets and thrashes them; the slab
// (≤ SPARSE_KC · 96 B = 18 KB) stays in L1 while all rows use it. With few rows the copy does not pay, and
// B is read in place (pitch = B's row stride, one K block).

/** Bytes per row of a packed slab: one 24-float strip. */
const SLAB_ROW: i32 = 96;
/** K block of the sparse path, in rows of B (a multiple of 4: the list builders test four at a time). */
const SPARSE_KC: i32 = 192;
/** Fewest rows of C for which the sparse path packs B (fewer rows read too little of it to pay the copy). */
const SPARSE_PACK_ROWS: i32 = 32;
/** Rows per block of the sparse path (an evaluation batch of 1000 MNIST rows has 1.2 MB of term lists). */
const SPARSE_ROWS: i32 = 128;

/** Rows of B per K block of the sparse path: equal blocks of at most SPARSE_KC, rounded up to 4. */
@inline function sparseKStep(k: i32): i32 {
  const blocks = (k + SPARSE_KC - 1) / SPARSE_KC;
  return roundUp((k + blocks - 1) / blocks, 4);
}

/** K blocks of the sparse path. */
@inline function sparseKBlocks(k: i32): i32 {
  const step = sparseKStep(k);
  return (k + step - 1) / step;
}

// Branch-free append of one term (the zero pattern is unpredictable): the entry is always written, the
// end pointer moves only past a nonzero. Returns the new end.
@inline function appendTerm(e: usize, x: f32, bOffset: usize): usize {
  store<i32>(e, <i32>bOffset);
  store<f32>(e, x, 4);
  return e + (<usize>(x != 0) << 3);
}

// slab[p - p0][0:w] ← B[p, j:j+w] for p in [p0, p1): rows SLAB_ROW bytes apart; w ≤ 24 floats.
@inline function sparse_pack(p0: i32, p1: i32, b: usize, bRow: usize, j: i32, w: i32, slab: usize): void {
  let src = b + <usize>p0 * bRow + (<usize>j << 2);
  let dst = slab;
  const w4 = <usize>(w & ~3) << 2;
  const wBytes = <usize>w << 2;
  for (let p = p0; p < p1; p++) {
    let o: usize = 0;
    if (w4 == 96) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      v128.store(dst, v128.load(src, 32), 32);
      v128.store(dst, v128.load(src, 48), 48);
      v128.store(dst, v128.load(src, 64), 64);
      v128.store(dst, v128.load(src, 80), 80);
      o = 96;
    } else {
      for (; o < w4; o += 16) v128.store(dst + o, v128.load(src + o));
    }
    for (; o < wBytes; o += 4) store<f32>(dst + o, load<f32>(src + o));
    src += bRow; dst += SLAB_ROW;
  }
}

// C[:, j:j+4·vecs] (=|+=) over K block kb of each row's list, term p's B vectors at base + its offset (base:
// the slab's virtual row 0, or B's column j); vecs ≤ 6 a compile-time constant (the unused accumulators fold
// away). At most 6: TurboFan issues all of an entry's B loads before its multiply-adds, so accumulators,
// loaded B vectors and the broadcast must fit in xmm0-14 together; with 8 it spills an accumulator and the
// store/reload lands on the add chain, halving throughput.
@inline function sparse_cols(
  vecs: i32, j: i32, m: i32, ldc: usize, bounds: usize, nkb: i32, kb: i32, entries: usize, base: usize,
  c: usize, fromC: bool, sgd: bool, pDelta: usize, lr: f32, wd: f32,
): void {
  const zero = f32x4.splat(0);
  let cp = c + (<usize>j << 2);
  let sp = bounds + (<usize>kb << 3);
  const spStep = <usize>nkb << 3;
  for (let r = 0; r < m; r++) {
    let e = entries + (<usize>load<i32>(sp) << 3);
    const end = entries + (<usize>load<i32>(sp, 4) << 3);
    let c0 = zero, c1 = zero, c2 = zero, c3 = zero, c4 = zero, c5 = zero;
    if (fromC) {
      c0 = v128.load(cp);
      if (vecs > 1) c1 = v128.load(cp, 16);
      if (vecs > 2) c2 = v128.load(cp, 32);
      if (vecs > 3) c3 = v128.load(cp, 48);
      if (vecs > 4) c4 = v128.load(cp, 64);
      if (vecs > 5) c5 = v128.load(cp, 80);
    }
    for (; e < end; e += 8) {
      const a = v128.load32_splat(e, 4);
      const bp = base + <usize>load<i32>(e);
      c0 = madd(a, v128.load(bp), c0);
      if (vecs > 1) c1 = madd(a, v128.load(bp, 16), c1);
      if (vecs > 2) c2 = madd(a, v128.load(bp, 32), c2);
      if (vecs > 3) c3 = madd(a, v128.load(bp, 48), c3);
      if (vecs > 4) c4 = madd(a, v128.load(bp, 64), c4);
      if (vecs > 5) c5 = madd(a, v128.load(bp, 80), c5);
    }
    if (!sgd) {
      v128.store(cp, c0);
      if (vecs > 1) v128.store(cp, c1, 16);
      if (vecs > 2) v128.store(cp, c2, 32);
      if (vecs > 3) v128.store(cp, c3, 48);
      if (vecs > 4) v128.store(cp, c4, 64);
      if (vecs > 5) v128.store(cp, c5, 80);
    } else if (wd != 0 || load<i32>(sp - (<usize>kb << 3)) != load<i32>(sp, 4)) {
      // (the row's terms, over all K blocks, run from its first block's start to this last block's end)
      sgdStore(cp, c0, pDelta, lr, wd);
      if (vecs > 1) sgdStore(cp + 16, c1, pDelta, lr, wd);
      if (vecs > 2) sgdStore(cp + 32, c2, pDelta, lr, wd);
      if (vecs > 3) sgdStore(cp + 48, c3, pDelta, lr, wd);
      if (vecs > 4) sgdStore(cp + 64, c4, pDelta, lr, wd);
      if (vecs > 5) sgdStore(cp + 80, c5, pDelta, lr, wd);
    }
    cp += ldc; sp += spStep;
  }
}

// C[:, j+jj] (=|+=) over K block kb, B's column at base + 4·jj, for the last n % 4 columns; madd_s rounds
// as a vector lane would.
@inline function sparse_col1(
  j: i32, jj: i32, m: i32, ldc: usize, bounds: usize, nkb: i32, kb: i32, entries: usize, base: usize, c: usize,
  fromC: bool, sgd: bool, pDelta: usize, lr: f32, wd: f32,
): void {
  const bj = base + (<usize>jj << 2);
  let cp = c + (<usize>(j + jj) << 2);
  let sp = bounds + (<usize>kb << 3);
  const spStep = <usize>nkb << 3;
  for (let r = 0; r < m; r++) {
    let e = entries + (<usize>load<i32>(sp) << 3);
    const end = entries + (<usize>load<i32>(sp, 4) << 3);
    let c0: f32 = fromC ? load<f32>(cp) : 0;
    for (; e < end; e += 8) c0 = madd_s(load<f32>(e, 4), load<f32>(bj + <usize>load<i32>(e)), c0);
    if (!sgd) store<f32>(cp, c0);
    else if (wd != 0 || load<i32>(sp - (<usize>kb << 3)) != load<i32>(sp, 4)) {
      const pp = cp + pDelta;
      store<f32>(pp, sgdScalar(load<f32>(pp), c0, lr, wd));
    }
    cp += ldc; sp += spStep;
  }
}

// C[m,n] (=|+=) Σ over each row's term list of a·B[p,:]; B's rows bRow bytes apart, C's ldc. The lists are
// split into nkb K blocks of kStep rows: row r's terms in block kb are entries[bounds[2(r·nkb + kb)] ..
// bounds[2(r·nkb + kb) + 1]), each holding p·pitch: p·SLAB_ROW when packing into the slab, else p·bRow
// (B read in place).
function sparse_rows(
  m: i32, n: i32, k: i32, kStep: i32, nkb: i32, bounds: usize, entries: usize, b: usize, bRow: usize, c: usize,
  ldc: usize, accumulate: bool, pack: bool, slab: usize, sgd: bool = false, pDelta: usize = 0, lr: f32 = 0, wd: f32 = 0,
): void {
  for (let kb = 0; kb < nkb; kb++) {
    const p0 = kb * kStep;
    const p1 = min(k, p0 + kStep);
    const fromC = accumulate || kb > 0;
    // A fused SGD step happens with the last K block; earlier ones leave partial sums in C.
    const step = sgd && kb == nkb - 1;
    // The slab's row 0 is row p0 (the wrap-around of usize arithmetic is exact).
    const slabBase = slab - <usize>p0 * <usize>SLAB_ROW;
    let j = 0;
    for (; j + 24 <= n; j += 24) {
      if (pack) sparse_pack(p0, p1, b, bRow, j, 24, slab);
      const base = pack ? slabBase : b + (<usize>j << 2);
      sparse_cols(6, j, m, ldc, bounds, nkb, kb, entries, base, c, fromC, step, pDelta, lr, wd);
    }
    if (j < n) {
      // The last n % 24 columns (one tile of the slab when packing): 16-, 8-, 4-wide, then single columns.
      const w = n - j;
      if (pack) sparse_pack(p0, p1, b, bRow, j, w, slab);
      const base = pack ? slabBase : b + (<usize>j << 2);
      let jj = 0;
      if (jj + 16 <= w) { sparse_cols(4, j + jj, m, ldc, bounds, nkb, kb, entries, base + (<usize>jj << 2), c, fromC, step, pDelta, lr, wd); jj += 16; }
      if (jj + 8 <= w) { sparse_cols(2, j + jj, m, ldc, bounds, nkb, kb, entries, base + (<usize>jj << 2), c, fromC, step, pDelta, lr, wd); jj += 8; }
      if (jj + 4 <= w) { sparse_cols(1, j + jj, m, ldc, bounds, nkb, kb, entries, base + (<usize>jj << 2), c, fromC, step, pDelta, lr, wd); jj += 4; }
      for (; jj < w; jj++) sparse_col1(j, jj, m, ldc, bounds, nkb, kb, entries, base, c, fromC, step, pDelta, lr, wd);
    }
  }
}

/** Bytes of the sparse path's workspace: the (start, end) bounds of every row's K blocks, the slab, then m
 *  slots of k entries. */
@inline function sparseWsBytes(m: i32, k: i32): usize {
  m = min(m, SPARSE_ROWS);
  return align64(<usize>(m * sparseKBlocks(k)) << 3) + align64(<usize>sparseKStep(k) * <usize>SLAB_ROW)
    + (<usize>m * <usize>k << 3);
}

// ---------------------------------------------------------------------------------------------------------
// Exports (the contract in src/wasm/kernels.ts).

// C[m,n] (=|+=) A[m,k] · B[k,n]
export function gemm_nn(m: i32, n: i32, k: i32, a: usize, b: usize, c: usize, accumulate: bool, ws: usize): void {
  gemm_dense(false, false, m, n, k, a, k, b, n, c, n, accumulate, ws);
}

// C[m,n] (=|+=) A[m,k] · B[n,k]ᵀ
export function gemm_nt(m: i32, n: i32, k: i32, a: usize, b: usize, c: usize, accumulate: bool, ws: usize): void {
  gemm_dense(false, true, m, n, k, a, k, b, k, c, n, accumulate, ws);
}

// C[m,n] (=|+=) A[k,m]ᵀ · B[k,n]
export function gemm_tn(m: i32, n: i32, k: i32, a: usize, b: usize, c: usize, accumulate: bool, ws: usize): void {
  gemm_dense(true, false, m, n, k, a, m, b, n, c, n, accumulate, ws);
}

// C[m,n] (=|+=) A[m,k] · B[k,n], skipping A[i,p] = 0: C[i,:] += A[i,p]·B[p,:] in increasing p.
export function gemm_nn_sparse(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize, accumulate: bool, ws: usize,
): void {
  gemm_nn_sparse_ld(m, n, k, a, k, b, n, c, n, accumulate, ws);
}

// C[m,n] (=|+=) A[k,m]ᵀ · B[k,n], skipping A[p,i] = 0: C[i,:] += A[p,i]·B[p,:] in increasing p.
export function gemm_tn_sparse(
  m: i32, n: i32, k: i32, a: usize, b: usize, c: usize, accumulate: bool, ws: usize,
): void {
  gemm_tn_sparse_ld(m, n, k, a, m, b, n, c, n, accumulate, ws);
}

// The same five with leading dimensions (row strides in floats: lda, ldb, ldc ≥ the row lengths), for
// blocks of C: a block's elements get exactly the bits the whole GEMM gives them.

// C[m,n] (=|+=) A[m,k] · B[k,n]
export function gemm_nn_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  gemm_dense(false, false, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws);
}

// C[m,n] (=|+=) A[m,k] · B[n,k]ᵀ
export function gemm_nt_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  gemm_dense(false, true, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws);
}

// C[m,n] = (A[m,k] · B[n,k]ᵀ) ⊙ [Y > 0], Y[m,n] laid out as C: the input gradient of a layer through the ReLU
// that produced its input Y; bit-identical to gemm_nt_ld then relu_backward. One row (and k large enough)
// skips the rows of B whose Y is 0 (gemv_t_relu).
export function gemm_nt_relu_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, y: usize, ws: usize,
): void {
  assert((y & 3) == 0 && inMemory(y, spanBytes(m, n, ldc)));
  if (m == 1 && k >= GEMV_T_RELU_MIN_K) {
    checkArgs(false, true, m, n, k, a, lda, b, ldb, c, ldc, ws);
    gemv_t_relu(n, k, a, 4, b, <usize>ldb << 2, c, y, ws);
    return;
  }
  gemm_dense(false, true, m, n, k, a, lda, b, ldb, c, ldc, false, ws);
  for (let i = 0; i < m; i++) {
    const o = (<usize>i * <usize>ldc) << 2;
    relu_backward(c + o, y + o, n);
  }
}

// C[m,n] (=|+=) A[k,m]ᵀ · B[k,n]
export function gemm_tn_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  gemm_dense(true, false, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws);
}

// C[m,n] (=|+=) A[m,k] · B[k,n], skipping A[i,p] = 0.
export function gemm_nn_sparse_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  checkArgs(false, false, m, n, k, a, lda, b, ldb, c, ldc, ws);
  sparse_product(false, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws, false, 0, 0, 0);
}

// C[m,n] (=|+=) A[k,m]ᵀ · B[k,n], skipping A[p,i] = 0.
export function gemm_tn_sparse_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  checkArgs(true, false, m, n, k, a, lda, b, ldb, c, ldc, ws);
  sparse_product(true, m, n, k, a, lda, b, ldb, c, ldc, accumulate, ws, false, 0, 0, 0);
}

// P[m,n] ← P − lr·(G + wd·P) for G = A[k,m]ᵀ · B[k,n] skipping A[p,i] = 0: gemm_tn_sparse into G, then
// sgd_step on P, in one pass, with the same bits. P, G and B have contiguous rows of n; G is scratch (it gets
// partial sums when k needs several K blocks). With wd = 0 rows of P whose column of A is all zero are not
// touched (their gradient is 0): per-sample SGD (k = 1) on MNIST then updates a fifth of the first layer.
export function sgd_tn_sparse(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, p: usize, g: usize, lr: f32, wd: f32, ws: usize,
): void {
  checkArgs(true, false, m, n, k, a, lda, b, n, g, n, ws);
  assert(inMemory(p, <usize>m * <usize>n << 2) && (p & 3) == 0);
  sparse_product(true, m, n, k, a, lda, b, n, g, n, false, ws, true, p - g, lr, wd);
}

// The sparse path for op(A) = A (nn) or Aᵀ (tn), with the fused SGD step when `sgd` is set.
function sparse_product(
  transA: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: bool, ws: usize, sgd: bool, pDelta: usize, lr: f32, wd: f32,
): void {
  if (k == 1) {
    // At most one term per row (a batch of one): the outer product, skipping rows with a = 0.
    gemm_outer(m, n, a, transA ? 4 : <usize>lda << 2, b, c, <usize>ldc << 2, accumulate, true, sgd, pDelta, lr, wd);
    return;
  }
  // Blocks of rows: a block's term lists stay in L2 while every column strip walks them.
  for (let r0 = 0; r0 < m; r0 += SPARSE_ROWS) {
    const mb = min(SPARSE_ROWS, m - r0);
    const ab = a + (transA ? <usize>r0 << 2 : (<usize>r0 * <usize>lda) << 2);
    const cb = c + ((<usize>r0 * <usize>ldc) << 2);
    // Packing B costs one copy of it: worth it when enough rows reuse B's rows.
    const pack = mb >= SPARSE_PACK_ROWS;
    const pitch: usize = pack ? <usize>SLAB_ROW : <usize>ldb << 2;
    const kStep = pack ? sparseKStep(k) : k;
    const nkb = pack ? sparseKBlocks(k) : 1;
    const bounds = ws;
    const slab = ws + align64(<usize>(mb * sparseKBlocks(k)) << 3);
    const entries = slab + align64(<usize>sparseKStep(k) * <usize>SLAB_ROW);
    if (transA) sparse_lists_tn(mb, k, ab, lda, pitch, kStep, nkb, bounds, entries);
    else sparse_lists_nn(mb, k, ab, lda, pitch, kStep, bounds, entries);
    sparse_rows(mb, n, k, kStep, nkb, bounds, entries, b, <usize>ldb << 2, cb, <usize>ldc << 2, accumulate, pack, slab, sgd, pDelta, lr, wd);
  }
}

// Term lists of op(A) = A[m,k]: row i's nonzeros A[i,p] in increasing p, in K blocks of kStep.
@inline function sparse_lists_nn(m: i32, k: i32, a: usize, lda: i32, pitch: usize, kStep: i32, bounds: usize, entries: usize): void {
  const slot = <usize>k << 3;
  let bp = bounds;
  let arow = a;
  for (let i = 0; i < m; i++) {
    let e = entries + <usize>i * slot;
    for (let p0 = 0; p0 < k; p0 += kStep) {
      store<i32>(bp, <i32>((e - entries) >> 3));
      const p1 = min(k, p0 + kStep);
      const p4 = p0 + ((p1 - p0) & ~3);
      let p = p0;
      for (; p < p4; p += 4) {
        // Runs of four zeros (image borders) are skipped with one vector test.
        const v = v128.load(arow + (<usize>p << 2));
        if (!v128.any_true(f32x4.ne(v, f32x4.splat(0)))) continue;
        const off = <usize>p * pitch;
        e = appendTerm(e, f32x4.extract_lane(v, 0), off);
        e = appendTerm(e, f32x4.extract_lane(v, 1), off + pitch);
        e = appendTerm(e, f32x4.extract_lane(v, 2), off + 2 * pitch);
        e = appendTerm(e, f32x4.extract_lane(v, 3), off + 3 * pitch);
      }
      for (; p < p1; p++) e = appendTerm(e, load<f32>(arow + (<usize>p << 2)), <usize>p * pitch);
      store<i32>(bp, <i32>((e - entries) >> 3), 4);
      bp += 8;
    }
    arow += <usize>lda << 2;
  }
}

// Term lists of op(A) = A[k,m]ᵀ: row i's nonzeros A[p,i] (column i of A) in increasing p, in K blocks.
@inline function sparse_lists_tn(
  m: i32, k: i32, a: usize, lda: i32, pitch: usize, kStep: i32, nkb: i32, bounds: usize, entries: usize,
): void {
  const slot = <usize>k << 3;
  const aRow = <usize>lda << 2;
  const bRowStep = <usize>nkb << 3;
  // Rows of C four at a time: A[p, i:i+4] is one vector (k is the batch: A is small and stays in cache), and
  // four zeros (a pixel block outside every image of the batch) are skipped with one test.
  const m4 = m & ~3;
  let i = 0;
  for (; i < m4; i += 4) {
    let e0 = entries + <usize>i * slot;
    let e1 = e0 + slot, e2 = e1 + slot, e3 = e2 + slot;
    let bp = bounds + <usize>i * bRowStep;
    let src = a + (<usize>i << 2);
    for (let p0 = 0; p0 < k; p0 += kStep) {
      store<i32>(bp, <i32>((e0 - entries) >> 3));
      store<i32>(bp + bRowStep, <i32>((e1 - entries) >> 3));
      store<i32>(bp + 2 * bRowStep, <i32>((e2 - entries) >> 3));
      store<i32>(bp + 3 * bRowStep, <i32>((e3 - entries) >> 3));
      const p1 = min(k, p0 + kStep);
      for (let p = p0; p < p1; p++) {
        const v = v128.load(src);
        src += aRow;
        if (!v128.any_true(f32x4.ne(v, f32x4.splat(0)))) continue;
        const off = <usize>p * pitch;
        e0 = appendTerm(e0, f32x4.extract_lane(v, 0), off);
        e1 = appendTerm(e1, f32x4.extract_lane(v, 1), off);
        e2 = appendTerm(e2, f32x4.extract_lane(v, 2), off);
        e3 = appendTerm(e3, f32x4.extract_lane(v, 3), off);
      }
      store<i32>(bp, <i32>((e0 - entries) >> 3), 4);
      store<i32>(bp + bRowStep, <i32>((e1 - entries) >> 3), 4);
      store<i32>(bp + 2 * bRowStep, <i32>((e2 - entries) >> 3), 4);
      store<i32>(bp + 3 * bRowStep, <i32>((e3 - entries) >> 3), 4);
      bp += 8;
    }
  }
  for (; i < m; i++) {
    let e = entries + <usize>i * slot;
    let bp = bounds + <usize>i * bRowStep;
    let src = a + (<usize>i << 2);
    for (let p0 = 0; p0 < k; p0 += kStep) {
      store<i32>(bp, <i32>((e - entries) >> 3));
      const p1 = min(k, p0 + kStep);
      for (let p = p0; p < p1; p++) {
        e = appendTerm(e, load<f32>(src), <usize>p * pitch);
        src += aRow;
      }
      store<i32>(bp, <i32>((e - entries) >> 3), 4);
      bp += 8;
    }
  }
}

/** Rows of this build's micro-tile (5 or 6): a row split at multiples of it leaves no edge tiles. */
export function gemm_tile_rows(): i32 {
  return MR;
}

// Workspace bytes for any of the GEMMs above at (m, n, k): the dense path's packed B block, packed A block
// and scratch tile, or the sparse path's term lists, whichever is larger.
export function gemm_ws_bytes(m: i32, n: i32, k: i32): i32 {
  const kcMax = <usize>min(max(k, 1), KC);
  const dense = align64(kcMax * <usize>roundUp(min(max(n, 1), NC), NR) << 2)
    + align64(<usize>aPanelRows(max(m, 1)) * kcMax << 2)
    + (<usize>(MR_MAX * NR) << 2);
  const sparse = sparseWsBytes(max(m, 1), max(k, 1));
  const masked = align64(<usize>roundUp(max(n, 1), 4) << 2) << 1; // gemv_t_relu: row addresses and sums
  return <i32>max(max(dense, sparse), masked);
}
