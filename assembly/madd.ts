// The multiply-add every product kernel (gemm.ts, conv.ts) sums with, in one place: the same rounding in every
// kernel of a build is what lets a convolution's sums equal the GEMM's bit for bit.

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
