// Activation kernels: bias add + ReLU forward, and their backward passes, side by side.
// Matrices are row-major f32 at byte addresses. Every op is elementwise (or a per-column sum in a fixed
// order), so the f32x4 main loops and the scalar tails give bit-identical results.
import { relu4 } from './simd';

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

// y[rows,cols] (in place), bias[cols]: y = (y + z) + bias (broadcast over rows), then max(0, y) when relu.
// z[rows,cols] is a second partial product of the layer (the first layer's is computed in two halves of its
// inputs), or 0 for none.
export function bias_relu_forward(y: usize, z: usize, bias: usize, rows: i32, cols: i32, relu: bool): void {
  assert(rows >= 0 && cols >= 0 && (y & 3) == 0 && (z & 3) == 0 && (bias & 3) == 0);
  assert(inMemory(y, <usize>rows * <usize>cols << 2) && inMemory(z, <usize>rows * <usize>cols << 2) && inMemory(bias, <usize>cols << 2));
  if (z) {
    if (relu) bias_rows(y, z, bias, rows, cols, true, true);
    else bias_rows(y, z, bias, rows, cols, true, false);
  } else if (relu) bias_rows(y, z, bias, rows, cols, false, true);
  else bias_rows(y, z, bias, rows, cols, false, false);
}

// bias_relu_forward's loop, compiled once per (sum, relu).
@inline function bias_rows(y: usize, z: usize, bias: usize, rows: i32, cols: i32, sum: bool, relu: bool): void {
  const cols4 = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols << 2;
    const row = y + o;
    const zrow = z + o;
    let c = 0;
    for (; c < cols4; c += 4) {
      const q = <usize>c << 2;
      let v = v128.load(row + q);
      if (sum) v = f32x4.add(v, v128.load(zrow + q));
      v = f32x4.add(v, v128.load(bias + q));
      v128.store(row + q, relu ? relu4(v) : v);
    }
    for (; c < cols; c++) {
      const q = <usize>c << 2;
      let v = load<f32>(row + q);
      if (sum) v += load<f32>(zrow + q);
      v += load<f32>(bias + q);
      store<f32>(row + q, relu ? max<f32>(v, 0) : v);
    }
  }
}

// dy[n] (in place), y[n] = the ReLU's output: dy = y > 0 ? dy : 0.
export function relu_backward(dy: usize, y: usize, n: i32): void {
  assert(n >= 0 && (dy & 3) == 0 && (y & 3) == 0);
  assert(inMemory(dy, <usize>n << 2) && inMemory(y, <usize>n << 2));
  const zero = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(dy + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dy + o, load<f32>(y + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

// dbias[cols], dy[rows,cols]: dbias[c] = ((d0 + dy[0,c]) + dy[1,c]) + … in increasing r, where d0 is 0,
// or dbias[c]'s old value when accumulate is set (the same convention as the GEMMs' C0).
export function bias_backward(dbias: usize, dy: usize, rows: i32, cols: i32, accumulate: bool): void {
  assert(rows >= 0 && cols >= 0 && (dbias & 3) == 0 && (dy & 3) == 0);
  assert(inMemory(dy, <usize>rows * <usize>cols << 2) && inMemory(dbias, <usize>cols << 2));
  if (!accumulate) memory.fill(dbias, 0, <usize>cols << 2);
  if (cols < 4) {
    for (let c = 0; c < cols; c++) bias_strip(dbias, dy, rows, cols, c, 0);
    return;
  }
  // Vectors v = 0 … V−1 at column min(4v, cols − 4): with cols % 4 ≠ 0 the last one overlaps the one before it,
  // whose lanes it sums again with the same bits. Strips of up to four, counted from the end so that those two
  // share a strip (both loaded before either is stored), their sums in registers down all rows.
  for (let v1 = (cols + 3) >> 2; v1 > 0; v1 -= 4) bias_strip(dbias, dy, rows, cols, max(0, v1 - 4), min(4, v1));
}

// dbias[vectors v0 … v0+vecs−1] += Σ_r dy[r, same columns], r increasing (vecs ≤ 4; vecs = 0: the one float
// dbias[v0]).
function bias_strip(dbias: usize, dy: usize, rows: i32, cols: i32, v0: i32, vecs: i32): void {
  const rowBytes = <usize>cols << 2;
  if (vecs == 0) {
    const o = <usize>v0 << 2;
    let s = load<f32>(dbias + o);
    let p = dy + o;
    for (let r = 0; r < rows; r++) { s += load<f32>(p); p += rowBytes; }
    store<f32>(dbias + o, s);
    return;
  }
  const last = cols - 4;
  const o0 = <usize>min(4 * v0, last) << 2, o1 = <usize>min(4 * v0 + 4, last) << 2;
  const o2 = <usize>min(4 * v0 + 8, last) << 2, o3 = <usize>min(4 * v0 + 12, last) << 2;
  let s0 = v128.load(dbias + o0), s1 = v128.load(dbias + o1), s2 = v128.load(dbias + o2), s3 = v128.load(dbias + o3);
  let p = dy;
  for (let r = 0; r < rows; r++) {
    s0 = f32x4.add(s0, v128.load(p + o0));
    if (vecs > 1) s1 = f32x4.add(s1, v128.load(p + o1));
    if (vecs > 2) s2 = f32x4.add(s2, v128.load(p + o2));
    if (vecs > 3) s3 = f32x4.add(s3, v128.load(p + o3));
    p += rowBytes;
  }
  v128.store(dbias + o0, s0);
  if (vecs > 1) v128.store(dbias + o1, s1);
  if (vecs > 2) v128.store(dbias + o2, s2);
  if (vecs > 3) v128.store(dbias + o3, s3);
}
