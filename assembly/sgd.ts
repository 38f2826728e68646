// The SGD update of one parameter (or four), p − lr·(g + wd·p), in one place: sgd_step applies it to a
// gradient buffer, sgd_tn_sparse as each weight-gradient row is computed, and both give the same bits.
// Without decay (wd = 0) it is p − lr·g, two operations fewer and the same bits for every finite p:
// g + 0·p differs from g only for g = −0 and p ≥ +0, where p − lr·(±0) is p either way.

@inline export function sgdVec(p: v128, g: v128, lr: v128, wd: v128, decay: bool): v128 {
  if (!decay) return f32x4.sub(p, f32x4.mul(lr, g));
  return f32x4.sub(p, f32x4.mul(lr, f32x4.add(g, f32x4.mul(wd, p))));
}

@inline export function sgdScalar(p: f32, g: f32, lr: f32, wd: f32): f32 {
  return p - lr * (g + wd * p);
}
