// Inverted dropout, forward and backward side by side. The mask is a hash, not a generator's stream: element
// (r, j) is kept when hash(seed, step, idx[r], j) ≥ threshold, so it depends on the sample's dataset index and
// the step, not on the row's position in the batch, how rows are split over threads, or what ran before.
// hash(seed, step, sample, j) = fmix(fmix(fmix(fmix(seed) ^ step) ^ sample) ^ j), fmix the MurmurHash3
// finalizer; u32 throughout (i32x4.mul is the low 32 bits of the product, as u32 multiplication is).

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

/** Debug-build check of an f32 array of `floats` at p. */
@inline function checkF32(p: usize, floats: usize): void {
  assert((p & 3) == 0 && inMemory(p, floats << 2));
}

@inline function fmix(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >>> 16);
}

@inline function fmix4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(<i32>0x85ebca6b));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(<i32>0xc2b2ae35));
  return v128.xor(h, i32x4.shr_u(h, 16));
}

// y[rows, cols] = x ⊙ scale with scale[r, j] = hash(seed, step, idx[r], j) ≥ threshold (u32) ? keepScale : 0
// (training); y = x when scale = 0 (evaluation). idx[rows] (i32): the samples' dataset indices.
export function dropout_forward(
  y: usize, scale: usize, x: usize, idx: usize, rows: i32, cols: i32, threshold: u32, keepScale: f32, seed: u32,
  step: u32,
): void {
  assert(rows >= 1 && cols >= 1);
  const n = <usize>rows * <usize>cols;
  checkF32(y, n);
  checkF32(x, n);
  if (!scale) {
    memory.copy(y, x, n << 2);
    return;
  }
  checkF32(scale, n);
  checkF32(idx, <usize>rows);
  const seeded = fmix(fmix(seed) ^ step);
  const cols4 = cols & ~3;
  const vt = i32x4.splat(threshold);
  const vk = f32x4.splat(keepScale);
  const lanes = i32x4(0, 1, 2, 3);
  let o: usize = 0;
  for (let r = 0; r < rows; r++) {
    const h = fmix(seeded ^ load<u32>(idx + (<usize>r << 2)));
    const vh = i32x4.splat(h);
    let j = 0;
    for (; j < cols4; j += 4) {
      const bits = fmix4(v128.xor(vh, i32x4.add(i32x4.splat(j), lanes)));
      const s = v128.and(i32x4.ge_u(bits, vt), vk);
      v128.store(scale + o, s);
      v128.store(y + o, f32x4.mul(v128.load(x + o), s));
      o += 16;
    }
    for (; j < cols; j++) {
      const s: f32 = fmix(h ^ <u32>j) >= threshold ? keepScale : 0;
      store<f32>(scale + o, s);
      store<f32>(y + o, load<f32>(x + o) * s);
      o += 4;
    }
  }
}

// dx[n] = dy ⊙ scale, then ⊙ [mask > 0] when mask ≠ 0 (mask: the dropout's input when it is a ReLU's output).
export function dropout_backward(dx: usize, dy: usize, scale: usize, n: i32, mask: usize): void {
  assert(n >= 0);
  checkF32(dx, <usize>n);
  checkF32(dy, <usize>n);
  checkF32(scale, <usize>n);
  if (mask) checkF32(mask, <usize>n);
  const bytes = <usize>n << 2;
  const bytes4 = <usize>(n & ~3) << 2;
  const zero = f32x4.splat(0);
  let o: usize = 0;
  if (mask) {
    for (; o < bytes4; o += 16) {
      const d = f32x4.mul(v128.load(dy + o), v128.load(scale + o));
      v128.store(dx + o, v128.and(d, f32x4.gt(v128.load(mask + o), zero)));
    }
    for (; o < bytes; o += 4) store<f32>(dx + o, load<f32>(mask + o) > 0 ? load<f32>(dy + o) * load<f32>(scale + o) : 0);
  } else {
    for (; o < bytes4; o += 16) v128.store(dx + o, f32x4.mul(v128.load(dy + o), v128.load(scale + o)));
    for (; o < bytes; o += 4) store<f32>(dx + o, load<f32>(dy + o) * load<f32>(scale + o));
  }
}
