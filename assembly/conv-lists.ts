// Dy's lists: the weight gradient of a convolution followed by a max pool, from the nonzeros of its output gradient
// (conv2d_dy_lists, in the backward phase) instead of all of it (conv.ts's conv2d_backward_weight takes them).
import { ConvGeom, align64, checkF32, checkGeom, inMemory, ox_ranges, patchFloats, positions, row_spans, sampleFloats } from './conv-geom';
import { STRIP_BYTES, STRIP_VECTORS, dy_strip } from './conv-ukernels';

/** Most runs of contiguous list entries one output channel's samples make (one per block of rows that listed them). */
export const MAX_LIST_RUNS: i32 = 64;

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
@inline export function listsPay(G: ConvGeom, sparse: bool): bool {
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
export function wgrad_lists(G: ConvGeom, rows: i32, lists: usize, dw: usize, k0: i32, k1: i32, ws: usize): void {
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
@inline export function stripsBytes(G: ConvGeom): usize {
  return <usize>(G.k + (patchFloats(G) + 3) / 4 / STRIP_VECTORS + 1) * STRIP_BYTES;
}

/** dy's lists: ox ranges, row spans, the channels' cursors. */
@inline export function listsWsBytes(G: ConvGeom): usize {
  return align64(<usize>G.OH << 3) + align64(<usize>G.H << 3) + align64(<usize>G.CO << 2);
}
