// The geometry of a convolution as the kernels read it, and what every pass of conv.ts asks of it: the sizes,
// the debug-build argument checks, the image a sample's micro-kernels read (a zero-bordered copy when padded) and
// where its rows hold anything (the zero-skipping hints).

/** Geometry words the host writes (i32): [H, W, C, CO, k, stride, pad, OH, OW]. */
@unmanaged export class ConvGeom {
  H: i32; W: i32; C: i32; CO: i32; k: i32; stride: i32; pad: i32; OH: i32; OW: i32;
}

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline export function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

/** Debug-build checks of the geometry at g: sizes as PyTorch computes them, pad < k, and `rows` ≥ 1. */
export function checkGeom(g: usize, rows: i32): ConvGeom {
  assert((g & 3) == 0 && inMemory(g, 36) && rows >= 1);
  const G = changetype<ConvGeom>(g);
  assert(G.H >= 1 && G.W >= 1 && G.C >= 1 && G.CO >= 1 && G.k >= 1 && G.stride >= 1);
  assert(G.pad >= 0 && G.pad < G.k && G.H + 2 * G.pad >= G.k && G.W + 2 * G.pad >= G.k);
  assert(G.OH == (G.H + 2 * G.pad - G.k) / G.stride + 1 && G.OW == (G.W + 2 * G.pad - G.k) / G.stride + 1);
  return G;
}

/** Debug-build check of an f32 array of `floats` at p. */
@inline export function checkF32(p: usize, floats: usize): void {
  assert((p & 3) == 0 && inMemory(p, floats << 2));
}

@inline export function align64(bytes: usize): usize {
  return (bytes + 63) & ~(<usize>63);
}

@inline export function sampleFloats(G: ConvGeom): usize {
  return <usize>G.H * <usize>G.W * <usize>G.C;
}

@inline export function positions(G: ConvGeom): i32 {
  return G.OH * G.OW;
}

@inline export function patchFloats(G: ConvGeom): i32 {
  return G.k * G.k * G.C;
}

/** 8-channel blocks of the output channels (the micro-tiles' columns). */
@inline export function colBlocks(G: ConvGeom): i32 {
  return (G.CO + 7) >> 3;
}

/** Rows and columns of the image the micro-kernels read: x itself, or its zero-bordered copy when padded. */
@inline export function paddedH(G: ConvGeom): i32 {
  return G.H + 2 * G.pad;
}
@inline export function paddedW(G: ConvGeom): i32 {
  return G.W + 2 * G.pad;
}

/** Bytes of the zero-bordered copy of one sample (0 without padding). */
@inline export function stagingBytes(G: ConvGeom): usize {
  return G.pad ? align64(<usize>paddedH(G) * <usize>paddedW(G) * <usize>G.C << 2) : 0;
}

// dst[0:n] = src[0:n] (f32).
@inline export function copyFloats(dst: usize, src: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= bytes; o += 16) v128.store(dst + o, v128.load(src + o));
  for (; o < bytes; o += 4) store<f32>(dst + o, load<f32>(src + o));
}

// dst[0:n] += src[0:n] (f32), elementwise: vector lanes round as scalars do (a pair of floats as two lanes).
@inline export function addFloats(dst: usize, src: usize, n: i32): void {
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
@inline export function stage(G: ConvGeom, xs: usize, buf: usize): usize {
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
export function row_spans(img: usize, rows: i32, rowFloats: i32, spans: usize): void {
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
export function ox_ranges(G: ConvGeom, spans: usize, rows: i32, ranges: usize): void {
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
