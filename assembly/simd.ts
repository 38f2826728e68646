// What the product kernels (gemm.ts, conv.ts) share: the multiply-add every sum is made of (the same rounding in
// every kernel of a build is what lets a convolution's sums equal the GEMM's bit for bit), the micro-tile's rows,
// a 4x4 transpose, and the ReLU of their epilogues.

/** One step of every sum: c + a·b, rounded as the build's vector path rounds (one fused op in the relaxed build). */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(c, f32x4.mul(a, b));
}

/** Scalar twin of madd for column tails: in the relaxed build it runs the same fused vector op on lane 0,
 *  so a tail column gets exactly the bits it would get inside a vector. */
@inline export function madd_s(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  } else return c + a * b;
}

/** Rows of a micro-tile (gemm.ts, conv.ts): 6x8 needs 12 accumulators + 2 B + 1 broadcast = 15 xmm, which only
 *  fits when the multiply-add is one instruction; mul+add needs a temporary, so the standard build uses 5. */
export const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 5;

// Rows x0..x3 (4 floats each) stored as columns: dst + q·stride gets (x0[q], x1[q], x2[q], x3[q]).
@inline export function transpose4_store(x0: v128, x1: v128, x2: v128, x3: v128, dst: usize, stride: usize): void {
  const t0 = i32x4.shuffle(x0, x1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(x2, x3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(x0, x1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(x2, x3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

/** max(0, v) lane by lane, as f32x4.max(v, 0) gives it for every v but NaN, which it passes on unchanged (max may
 *  return another NaN); two instructions instead of V8's seven for max. */
@inline export function relu4(v: v128): v128 {
  return v128.andnot(v, f32x4.le(v, f32x4.splat(0)));
}
