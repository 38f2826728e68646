// Data kernels: gather a minibatch out of the u8 dataset. Images stay u8 in memory; a batch is widened
// to f32 in [0, 1] as it is gathered. x = f32(byte) / 255 is a correctly rounded f32 division, the same in
// the f32x4 main loop and the scalar tail (255 → exactly 1.0). The widened bytes are 0..255, so the signed
// conversion is exact, and it is one instruction on x64 (the unsigned one is a sequence of several).

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

// x[count,dim] (f32), y[count] (u8), images[N,dim] (u8), labels[N] (u8), idx[count] (i32):
// x[i, from:to] = images[idx[i], from:to] / 255, and y[i] = labels[idx[i]] unless y is 0. A column range lets
// each thread gather the inputs of its own block of the first layer's weight rows.
export function gather_batch(
  x: usize, y: usize, images: usize, labels: usize, idx: usize, count: i32, dim: i32, from: i32, to: i32,
): void {
  assert(count >= 0 && 0 <= from && from <= to && to <= dim && (x & 3) == 0 && (idx & 3) == 0);
  assert(inMemory(x, <usize>count * <usize>dim << 2) && inMemory(y, <usize>count) && inMemory(idx, <usize>count << 2));
  const v255 = f32x4.splat(255);
  const to16 = from + ((to - from) & ~15);
  // First one load per cache line of every row: the loads are independent, so the rows' cache (and TLB)
  // misses overlap instead of coming one row at a time; a dataset is larger than the cache.
  let touched: u32 = 0;
  for (let i = 0; i < count; i++) {
    const src = images + <usize>load<i32>(idx + (<usize>i << 2)) * <usize>dim;
    for (let d = from; d < to; d += 64) touched |= load<u8>(src + <usize>d);
    if (to > from) touched |= load<u8>(src + <usize>to - 1);
  }
  if (touched > 255) unreachable(); // (never: it only keeps the loads from being dropped as unused)
  for (let i = 0; i < count; i++) {
    const j = load<i32>(idx + (<usize>i << 2));
    assert(j >= 0 && inMemory(images + <usize>j * <usize>dim, <usize>dim) && inMemory(labels + <usize>j, 1));
    const src = images + <usize>j * <usize>dim;
    const dst = x + (<usize>i * <usize>dim << 2);
    let d = from;
    for (; d < to16; d += 16) {
      const b = v128.load(src + <usize>d);
      const lo = i16x8.extend_low_i8x16_u(b);
      const hi = i16x8.extend_high_i8x16_u(b);
      const o = dst + (<usize>d << 2);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), v255));
      v128.store(o, f32x4.div(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), v255), 16);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), v255), 32);
      v128.store(o, f32x4.div(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), v255), 48);
    }
    for (; d < to; d++) {
      store<f32>(dst + (<usize>d << 2), <f32>load<u8>(src + <usize>d) / <f32>255);
    }
    if (y) store<u8>(y + <usize>i, load<u8>(labels + <usize>j));
  }
}
