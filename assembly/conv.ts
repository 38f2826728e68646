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
// Zeros are skipped where they are many: the forward's `zeros` hint ZEROS_ROWS (x mostly zeros in whole rows: the
// first layer on images; `sparse` of the weight gradient) skips patch rows and output pixels whose x is all zero,
// ZEROS_SCATTERED (a ReLU or max pool's output: zeros anywhere), when at least half of x is zero, each tap whose x
// is zero for both pixels of a pair; `sparseDy` / dy's lists (a max pool's gradient, at least 3/4 zeros) skip
// dy = 0. A skipped term 0·w adds ±0 to its sum, which leaves the sum's bits as they are unless the sum is −0; the
// sums start at +0, and x + y is −0 in round-to-nearest only when both are −0, so the bits are the same either way
// (for finite w, x and dy; a fused multiply-add whose product underflows to −0 is the one way a sum could start −0).
import { gemm_nn_sparse_ld, gemm_nt_ld, gemm_ws_bytes } from './gemm';
import { bias_relu_forward, relu_backward } from './activations';
import { MR } from './simd';
import {
  ConvGeom, addFloats, align64, checkF32, checkGeom, colBlocks, copyFloats, inMemory, ox_ranges, paddedH, paddedW,
  patchFloats, positions, row_spans, sampleFloats, stage, stagingBytes,
} from './conv-geom';
import {
  FWD_PAIR_ROW, FwdUkernel, WgradUkernel, conv_fwd_pair, conv_fwd_store, conv_fwd_store_c1, conv_fwd_ukernel_6x8,
  conv_fwd_ukernel_8x6_c1, conv_wgrad_ukernel_6x8_contiguous, conv_wgrad_ukernel_6x8_gather,
} from './conv-ukernels';
import { MAX_LIST_RUNS, listsPay, listsWsBytes, stripsBytes, wgrad_lists } from './conv-lists';
export { conv2d_dy_lists, conv2d_dy_lists_bytes } from './conv-lists';

/** Largest MR of any build: conv2d_ws_bytes answers the same in every build. */
const MR_MAX: i32 = 6;
/** Bytes of the input gradient's im2col-shaped scratch: samples are chunked to about this much per GEMM. */
const IGRAD_CHUNK_BYTES: i32 = 128 << 10;
/** conv2d_forward's `zeros` hint: none, whole rows of zeros (images: patch rows skipped), zeros anywhere (each skipped). */
const ZEROS_ROWS: i32 = 1;
const ZEROS_SCATTERED: i32 = 2;
/** Output pixels of the one-channel forward micro-tile (conv_fwd_ukernel_8x6_c1). */
const C1_PIXELS: i32 = 8;

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

/** Forward skipping scattered zeros: w packed (CO not a multiple of 4), a pair's sums, the sample's listed
 *  positions (4 slack: stored a vector at a time), every pixel's first of them, a pair's list (3 slack), staging. */
@inline function scatteredWsBytes(G: ConvGeom): usize {
  const co4 = <usize>(G.CO + 3) & ~3;
  const packed = G.CO & 3 ? align64(<usize>patchFloats(G) * co4 << 2) : 0;
  const Hp = <usize>paddedH(G), Wp = <usize>paddedW(G);
  return packed + 2 * FWD_PAIR_ROW + align64((Hp * Wp * <usize>G.C + 4) << 2) + align64(Hp * (Wp + 1) << 2)
    + align64(<usize>(patchFloats(G) + 3) << 3) + stagingBytes(G);
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

/** Input gradient: a chunk's [P, K] gradient matrices, wᵀ, and the GEMM's workspace. */
@inline function igradWsBytes(G: ConvGeom): usize {
  const M = igradChunk(G) * positions(G), K = patchFloats(G);
  return align64(<usize>M * <usize>K << 2) + align64(<usize>K * <usize>G.CO << 2) + <usize>gemm_ws_bytes(M, K, G.CO);
}

// ---------------------------------------------------------------------------------------------------------
// The passes.

// y[rows·OH·OW, CO] = max(0, im2col(x[rows, H, W, C]) · w[K, CO] + b[CO]) (relu), or without the max
export function conv2d_forward(
  g: usize, rows: i32, x: usize, w: usize, b: usize, y: usize, relu: bool, zeros: i32, ws: usize,
): void {
  const G = checkGeom(g, rows);
  const P = positions(G), K = patchFloats(G), CO = G.CO, OW = G.OW, k = G.k;
  checkF32(x, <usize>rows * sampleFloats(G));
  checkF32(w, <usize>K * <usize>CO);
  checkF32(b, <usize>CO);
  checkF32(y, <usize>rows * <usize>P * <usize>CO);
  assert(zeros >= 0 && zeros <= ZEROS_SCATTERED);
  const xFloats = <usize>rows * sampleFloats(G);
  if (zeros == ZEROS_SCATTERED && zero_count(x, xFloats) * 2 >= xFloats) {
    forward_scattered(G, rows, x, w, b, y, relu, ws);
    return;
  }
  const sparse = zeros == ZEROS_ROWS;
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

// The forward skipping zeros scattered over x (a ReLU or max pool's output: zeros anywhere, few whole rows). Output
// pixels go in pairs along a row (ox, ox + 1; a row of odd width ends with a pair overlapping the one before, the
// same bits again), and a pair walks the taps where either pixel's x is nonzero: its other terms are 0·w, which
// change no sum. Per sample, each image row's positions j (floats) where x[j] or x[j + s·C] is nonzero, in order,
// and the first of them at or after every pixel; a pair's patch row ky is then the run from pixel ox·s to ox·s + k
// of image row oy·s + ky, taps t = ky·kC + j − ox·sC. The pair's list is its k runs as (x byte offset, w row
// offset) entries in increasing t, walked against strips of w's columns (up to MR vectors: 2·MR sums).
function forward_scattered(G: ConvGeom, rows: i32, x: usize, w: usize, b: usize, y: usize, relu: bool, ws: usize): void {
  assert(inMemory(ws, scatteredWsBytes(G)));
  const K = patchFloats(G), CO = G.CO, C = G.C, k = G.k, s = G.stride, OW = G.OW;
  const co4 = (CO + 3) & ~3;
  const vecs = co4 >> 2;
  const Hp = paddedH(G), Wp = paddedW(G);
  let wq = w, p = ws;
  if (CO & 3) {
    // w with rows of whole vectors (zero past CO).
    wq = p;
    p = wq + align64(<usize>K * <usize>co4 << 2);
    memory.fill(wq, 0, p - wq);
    for (let t = 0; t < K; t++) copyFloats(wq + (<usize>t * <usize>co4 << 2), w + (<usize>t * <usize>CO << 2), CO);
  }
  const acc = p;
  const pos = acc + 2 * FWD_PAIR_ROW;
  const firsts = pos + align64((<usize>Hp * <usize>Wp * <usize>C + 4) << 2); // [Hp][Wp + 1] indices into pos
  const list = firsts + align64(<usize>Hp * <usize>(Wp + 1) << 2);
  const staging = list + align64(<usize>(K + 3) << 3);
  if (G.pad) memory.fill(staging, 0, stagingBytes(G));
  const rowFloats = Wp * C;
  const rowBytes = <usize>rowFloats << 2;
  const wRow = co4 << 2;
  const kC = k * C, sC = s * C;
  const strips = (vecs + MR - 1) / MR;
  const stripVecs = (vecs + strips - 1) / strips;
  const yPix = <usize>CO << 2;
  const scale = i32x4(4, wRow, 4, wRow);
  for (let n = 0; n < rows; n++) {
    const img = stage(G, x + (<usize>n * sampleFloats(G) << 2), staging);
    let e = pos, f = firsts, row = img;
    for (let iy = 0; iy < Hp; iy++) {
      e = pair_positions(row, rowFloats, C, sC, pos, e, f);
      f += <usize>(Wp + 1) << 2;
      row += rowBytes;
    }
    const yn = y + <usize>n * <usize>positions(G) * yPix;
    for (let oy = 0; oy < G.OH; oy++) {
      for (let ox = 0; ox < OW; ox += 2) {
        const ox0 = max(0, min(ox, OW - 2)), ox1 = min(ox0 + 1, OW - 1);
        // The pair's list: its patch rows' runs, positions to (x, w row) byte offsets.
        let d = list;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky;
          const fr = firsts + (<usize>(iy * (Wp + 1) + ox0 * s) << 2);
          const a = load<i32>(fr), z = load<i32>(fr + (<usize>k << 2));
          const xs = iy * <i32>rowBytes, wsft = wRow * (ky * kC - ox0 * sC);
          const move = i32x4(xs, wsft, xs, wsft);
          const from = pos + (<usize>a << 2);
          for (let j: usize = 0; j < <usize>(z - a) << 2; j += 16) {
            const v = v128.load(from + j);
            v128.store(d + (j << 1), i32x4.add(i32x4.mul(i32x4.shuffle(v, v, 0, 0, 1, 1), scale), move));
            v128.store(d + (j << 1), i32x4.add(i32x4.mul(i32x4.shuffle(v, v, 2, 2, 3, 3), scale), move), 16);
          }
          d += <usize>(z - a) << 3;
        }
        const nl = <i32>((d - list) >> 3);
        const a1 = img + (<usize>((ox1 - ox0) * sC) << 2); // (the list's x offsets are pixel ox0's from img)
        const y0 = yn + <usize>(oy * OW + ox0) * yPix, y1 = yn + <usize>(oy * OW + ox1) * yPix;
        for (let v = 0; v < vecs; v += stripVecs) {
          const sv = min(stripVecs, vecs - v);
          const cols = min(sv << 2, CO - (v << 2));
          const yo = <usize>v << 4;
          if (cols == sv << 2) conv_fwd_pair(sv, img, a1, list, nl, wq + yo, y0 + yo, y1 + yo);
          else {
            // (the strip ends inside a vector: through acc)
            conv_fwd_pair(sv, img, a1, list, nl, wq + yo, acc, acc + FWD_PAIR_ROW);
            copyFloats(y0 + yo, acc, cols);
            copyFloats(y1 + yo, acc + FWD_PAIR_ROW, cols);
          }
        }
      }
    }
    // The sample's sums + bias, then the ReLU, in place.
    bias_relu_forward(yn, 0, b, positions(G), CO, relu);
  }
}

// Zeros among x[0:n] (the scattered path pays from about half zeros: below, the tiled path runs; the bits are the same).
function zero_count(x: usize, n: usize): usize {
  const zero = f32x4.splat(0);
  let acc = i32x4.splat(0);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) acc = i32x4.sub(acc, f32x4.eq(v128.load(x + (i << 2)), zero));
  let count = <usize>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  for (; i < n; i++) count += <usize>(load<f32>(x + (i << 2)) == 0);
  return count;
}

/** Lanes of a 4-bit mask in order, as i8x16.swizzle byte indices (the rest 0): 16 entries of 16 bytes. */
const COMPACT = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0,
  8, 9, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 8, 9, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0,
  12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0,
  4, 5, 6, 7, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 0, 0, 0, 0,
  8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0,
  4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
]);

// One image row row[0:rowFloats): appends at e (u32, into the sample's list from pos) the positions j with
// row[j] ≠ 0 or row[j + sC] ≠ 0 (within the row), in order, and stores at firsts[ix] (i32, ix = 0 … rowFloats/C)
// the index of the first one at or after pixel ix; returns the new end.
function pair_positions(row: usize, rowFloats: i32, C: i32, sC: i32, pos: usize, e: usize, firsts: usize): usize {
  const zero = f32x4.splat(0);
  let ix = 0;
  let j = 0;
  // Four positions at a time, compacted by their mask; a pixel's first is stored when a group reaches it.
  for (; j + sC + 4 <= rowFloats; j += 4) {
    const m = groupMask(row, j, sC, zero);
    for (; ix * C < j + 4; ix++) {
      store<i32>(firsts + (<usize>ix << 2), <i32>((e - pos) >> 2) + popcnt<i32>(m & ((1 << (ix * C - j)) - 1)));
    }
    v128.store(e, i8x16.swizzle(i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3)), v128.load(COMPACT + (<usize>m << 4))));
    e += <usize>popcnt<i32>(m) << 2;
  }
  for (; j < rowFloats; j++) {
    if (j % C == 0) store<i32>(firsts + (<usize>(j / C) << 2), <i32>((e - pos) >> 2));
    const nz = load<f32>(row + (<usize>j << 2)) != 0 || (j + sC < rowFloats && load<f32>(row + (<usize>(j + sC) << 2)) != 0);
    store<u32>(e, j);
    e += <usize>nz << 2;
  }
  store<i32>(firsts + (<usize>(rowFloats / C) << 2), <i32>((e - pos) >> 2));
  return e;
}

// Bit i set when row[j + i] or row[j + sC + i] is nonzero (i < 4).
@inline function groupMask(row: usize, j: i32, sC: i32, zero: v128): i32 {
  const r = row + (<usize>j << 2);
  return i32x4.bitmask(v128.or(f32x4.ne(v128.load(r), zero), f32x4.ne(v128.load(r + (<usize>sC << 2)), zero)));
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

// Workspace bytes any of the kernels above needs (whatever the batch: they work one sample at a time).
export function conv2d_ws_bytes(g: usize): i32 {
  const G = checkGeom(g, 1);
  return <i32>max(max(max(fwdWsBytes(G), scatteredWsBytes(G)), listsWsBytes(G)), max(wgradWsBytes(G), igradWsBytes(G)));
}
