// GEMM kernels: C[m,n] (=|+=) op(A)·op(B), row-major f32 at byte addresses.
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
// Every kernel has a `_ld` twin taking leading dimensions (row strides, in floats) for A, B and C, so a
// block of rows or columns of C can be computed in place: that is how threads split a GEMM. The K blocks
// depend on k alone, so an element's bits do not depend on which block of C it was computed in.

/** Columns of a micro-tile: two f32x4 per row. */
const NR: i32 = 8;
/** Rows of a micro-tile: 6x8 needs 12 accumulators + 2 B + 1 broadcast = 15 xmm, which only fits when
 *  the multiply-add is one instruction; mul+add needs a temporary, so the standard build uses 5x8. */
const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 5;
/** Largest MR of any build: gemm_ws_bytes answers the same in every build. */
const MR_MAX: i32 = 6;
/** K block: an A micro-panel (6·256·4 = 6 KB) and a B micro-panel (8 KB) stay in L1. */
const KC: i32 = 256;
/** M block (a multiple of 5 and 6): the packed A block, 120·256·4 = 120 KB, stays in L2. */
const MC: i32 = 120;
/** N block: the packed B block, 256·512·4 = 512 KB, stays in L2/L3. */
const NC: i32 = 512;

/** One step of every C element's sum: c + a·b, rounded as the build's vector path rounds. */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(c, f32x4.mul(a, b));
}

/** Scalar twin of madd for column tails: in the relaxed build it runs the same fused vector op on lane 0,
 *  so a tail column gets exactly the bits it would get inside a vector. */
@inline function madd_s(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  } else return c + a * b;
}

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

// Rows x0..x3 (4 floats each) stored as columns: dst + q·stride gets (x0[q], x1[q], x2[q], x3[q]).
@inline function transpose4_store(x0: v128, x1: v128, x2: v128, x3: v128, dst: usize, stride: usize): void {
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

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

// C[m,n] (=|+=) op(A)[m,k] · op(B)[k,n]: blocked loops over packed panels. lda, ldb, ldc: row strides.
function gemm_dense(
  transA: bool, transB: bool, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32,
  accumulate: bool, ws: usize,
): void {
  checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, ws);
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
// entries (byte offset of the B row: i32, a: f32) — CSR with row starts in `starts`. Then, for each column
// chunk, every row walks its list: C[r, chunk] (=|+=) Σ a·B[row, chunk]. Chunk-outer order keeps the B
// column slab (k·24 floats: 75 KB for k = 784) in L2 while all rows use it.

// Branch-free append of one term (the zero pattern is unpredictable): the entry is always written, the
// end pointer moves only past a nonzero. Returns the new end.
@inline function appendTerm(e: usize, x: f32, bOffset: usize): usize {
  store<i32>(e, <i32>bOffset);
  store<f32>(e, x, 4);
  return e + (<usize>(x != 0) << 3);
}

// C[:, j:j+4·vecs] (=|+=) over m rows, vecs ≤ 6 a compile-time constant (the unused accumulators fold
// away). At most 6: TurboFan issues all of an entry's B loads before its multiply-adds, so accumulators,
// loaded B vectors and the broadcast must fit in xmm0-14 together; with 8 it spills an accumulator and the
// store/reload lands on the add chain, halving throughput.
@inline function sparse_cols(
  vecs: i32, j: i32, m: i32, ldc: usize, starts: usize, entries: usize, b: usize, c: usize, accumulate: bool,
): void {
  const zero = f32x4.splat(0);
  const bj = b + (<usize>j << 2);
  let cp = c + (<usize>j << 2);
  for (let r = 0; r < m; r++) {
    let e = entries + (<usize>load<i32>(starts + (<usize>r << 2)) << 3);
    const end = entries + (<usize>load<i32>(starts + (<usize>r << 2), 4) << 3);
    let c0 = zero, c1 = zero, c2 = zero, c3 = zero, c4 = zero, c5 = zero;
    if (accumulate) {
      c0 = v128.load(cp);
      if (vecs > 1) c1 = v128.load(cp, 16);
      if (vecs > 2) c2 = v128.load(cp, 32);
      if (vecs > 3) c3 = v128.load(cp, 48);
      if (vecs > 4) c4 = v128.load(cp, 64);
      if (vecs > 5) c5 = v128.load(cp, 80);
    }
    for (; e < end; e += 8) {
      const a = v128.load32_splat(e, 4);
      const bp = bj + <usize>load<i32>(e);
      c0 = madd(a, v128.load(bp), c0);
      if (vecs > 1) c1 = madd(a, v128.load(bp, 16), c1);
      if (vecs > 2) c2 = madd(a, v128.load(bp, 32), c2);
      if (vecs > 3) c3 = madd(a, v128.load(bp, 48), c3);
      if (vecs > 4) c4 = madd(a, v128.load(bp, 64), c4);
      if (vecs > 5) c5 = madd(a, v128.load(bp, 80), c5);
    }
    v128.store(cp, c0);
    if (vecs > 1) v128.store(cp, c1, 16);
    if (vecs > 2) v128.store(cp, c2, 32);
    if (vecs > 3) v128.store(cp, c3, 48);
    if (vecs > 4) v128.store(cp, c4, 64);
    if (vecs > 5) v128.store(cp, c5, 80);
    cp += ldc;
  }
}

// C[:, j] (=|+=) over m rows, for the last n % 4 columns; madd_s rounds as a vector lane would.
@inline function sparse_col1(
  j: i32, m: i32, ldc: usize, starts: usize, entries: usize, b: usize, c: usize, accumulate: bool,
): void {
  const bj = b + (<usize>j << 2);
  let cp = c + (<usize>j << 2);
  for (let r = 0; r < m; r++) {
    let e = entries + (<usize>load<i32>(starts + (<usize>r << 2)) << 3);
    const end = entries + (<usize>load<i32>(starts + (<usize>r << 2), 4) << 3);
    let c0: f32 = accumulate ? load<f32>(cp) : 0;
    for (; e < end; e += 8) c0 = madd_s(load<f32>(e, 4), load<f32>(bj + <usize>load<i32>(e)), c0);
    store<f32>(cp, c0);
    cp += ldc;
  }
}

// C[m,n] (=|+=) Σ over each row's term list (CSR: starts[m+1] entry indices, entries[]) of a·B[row,:];
// C has row stride ldc bytes.
function sparse_rows(
  m: i32, n: i32, starts: usize, entries: usize, b: usize, c: usize, ldc: usize, accumulate: bool,
): void {
  let j = 0;
  for (; j + 24 <= n; j += 24) sparse_cols(6, j, m, ldc, starts, entries, b, c, accumulate);
  if (j + 16 <= n) { sparse_cols(4, j, m, ldc, starts, entries, b, c, accumulate); j += 16; }
  if (j + 8 <= n) { sparse_cols(2, j, m, ldc, starts, entries, b, c, accumulate); j += 8; }
  if (j + 4 <= n) { sparse_cols(1, j, m, ldc, starts, entries, b, c, accumulate); j += 4; }
  for (; j < n; j++) sparse_col1(j, m, ldc, starts, entries, b, c, accumulate);
}

/** Bytes of the sparse path's workspace: row starts, then up to m·k entries. */
@inline function sparseWsBytes(m: i32, k: i32): usize {
  return align64(<usize>(m + 1) << 2) + (<usize>m * <usize>k << 3);
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
  const starts = ws;
  const entries = ws + align64(<usize>(m + 1) << 2);
  const bRow = <usize>ldb << 2;
  const k4 = k & ~3;
  let e = entries;
  let arow = a;
  for (let i = 0; i < m; i++) {
    store<i32>(starts + (<usize>i << 2), <i32>((e - entries) >> 3));
    let p = 0;
    for (; p < k4; p += 4) {
      // Runs of four zeros (image borders) are skipped with one vector test.
      const v = v128.load(arow + (<usize>p << 2));
      if (!v128.any_true(f32x4.ne(v, f32x4.splat(0)))) continue;
      const off = <usize>p * bRow;
      e = appendTerm(e, f32x4.extract_lane(v, 0), off);
      e = appendTerm(e, f32x4.extract_lane(v, 1), off + bRow);
      e = appendTerm(e, f32x4.extract_lane(v, 2), off + 2 * bRow);
      e = appendTerm(e, f32x4.extract_lane(v, 3), off + 3 * bRow);
    }
    for (; p < k; p++) e = appendTerm(e, load<f32>(arow + (<usize>p << 2)), <usize>p * bRow);
    arow += <usize>lda << 2;
  }
  store<i32>(starts + (<usize>m << 2), <i32>((e - entries) >> 3));
  sparse_rows(m, n, starts, entries, b, c, <usize>ldc << 2, accumulate);
}

// C[m,n] (=|+=) A[k,m]ᵀ · B[k,n], skipping A[p,i] = 0.
export function gemm_tn_sparse_ld(
  m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, ws: usize,
): void {
  checkArgs(true, false, m, n, k, a, lda, b, ldb, c, ldc, ws);
  const starts = ws;
  const entries = ws + align64(<usize>(m + 1) << 2);
  const bRow = <usize>ldb << 2;
  const aRow = <usize>lda << 2;
  let e = entries;
  for (let i = 0; i < m; i++) {
    store<i32>(starts + (<usize>i << 2), <i32>((e - entries) >> 3));
    // Column i of A, down its k rows (k is the batch: A is small and stays in cache).
    let src = a + (<usize>i << 2);
    for (let p = 0; p < k; p++) {
      e = appendTerm(e, load<f32>(src), <usize>p * bRow);
      src += aRow;
    }
  }
  store<i32>(starts + (<usize>m << 2), <i32>((e - entries) >> 3));
  sparse_rows(m, n, starts, entries, b, c, <usize>ldc << 2, accumulate);
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
  return <i32>max(dense, sparse);
}
