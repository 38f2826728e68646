// Loss kernels: softmax forward, and softmax + cross-entropy fused with its backward.
// exp is Mathf.exp (AssemblyScript's own expf, not the host's Math), so results are the same on every
// engine. Each row's exponentials are summed in f64 in increasing column order.

/** True when [ptr, ptr + bytes) lies inside linear memory (debug-build argument checks). */
@inline function inMemory(ptr: usize, bytes: usize): bool {
  return ptr + bytes <= (<usize>memory.size() << 16);
}

// probs[rows,cols], logits[rows,cols]: probs[r,:] = softmax(logits[r,:]); probs may alias logits.
export function softmax_forward(probs: usize, logits: usize, rows: i32, cols: i32): void {
  assert(rows >= 0 && cols >= 1 && (probs & 3) == 0 && (logits & 3) == 0);
  assert(inMemory(probs, <usize>rows * <usize>cols << 2) && inMemory(logits, <usize>rows * <usize>cols << 2));
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const x = logits + off;
    const p = probs + off;
    let mx = load<f32>(x);
    for (let c = 1; c < cols; c++) mx = max<f32>(mx, load<f32>(x + (<usize>c << 2)));
    let sum: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const e = Mathf.exp(load<f32>(x + (<usize>c << 2)) - mx);
      store<f32>(p + (<usize>c << 2), e);
      sum += <f64>e;
    }
    for (let c = 0; c < cols; c++) {
      const o = <usize>c << 2;
      store<f32>(p + o, <f32>(<f64>load<f32>(p + o) / sum));
    }
  }
}

// logits[rows,cols], labels[rows] (u8) -> Σ_r loss_r (f64, in increasing r); where the pointer is not 0:
// dlogits[rows,cols] = (softmax − onehot)/norm (it may alias logits; norm is the whole batch's row count, so
// a block of a batch's rows gets the same values), preds[rows] (i32) = argmax, losses[rows] (f64) = loss_r.
// loss_r = log Σ_c exp(x_c − max) − (x_label − max).
export function softmax_xent(
  logits: usize, labels: usize, rows: i32, cols: i32, dlogits: usize, preds: usize, losses: usize, norm: f32,
): f64 {
  assert(rows >= 0 && cols >= 1 && (logits & 3) == 0 && (dlogits & 3) == 0 && (preds & 3) == 0 && (losses & 7) == 0);
  assert(inMemory(logits, <usize>rows * <usize>cols << 2) && inMemory(labels, <usize>rows));
  assert(dlogits == 0 || inMemory(dlogits, <usize>rows * <usize>cols << 2));
  assert(preds == 0 || inMemory(preds, <usize>rows << 2));
  assert(losses == 0 || inMemory(losses, <usize>rows << 3));
  let total: f64 = 0;
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>cols << 2;
    const x = logits + off;
    const label = <i32>load<u8>(labels + <usize>r);
    assert(label < cols);
    // max and argmax (the first index holding the max)
    let mx = load<f32>(x);
    let arg = 0;
    for (let c = 1; c < cols; c++) {
      const v = load<f32>(x + (<usize>c << 2));
      if (v > mx) {
        mx = v;
        arg = c;
      }
    }
    let sum: f64 = 0;
    for (let c = 0; c < cols; c++) sum += <f64>Mathf.exp(load<f32>(x + (<usize>c << 2)) - mx);
    const loss = Math.log(sum) - (<f64>load<f32>(x + (<usize>label << 2)) - <f64>mx);
    total += loss;
    if (losses != 0) store<f64>(losses + (<usize>r << 3), loss);
    if (preds != 0) store<i32>(preds + (<usize>r << 2), arg);
    if (dlogits != 0) {
      const d = dlogits + off;
      for (let c = 0; c < cols; c++) {
        const o = <usize>c << 2;
        const p = <f32>(<f64>Mathf.exp(load<f32>(x + o) - mx) / sum);
        store<f32>(d + o, (p - (c == label ? <f32>1 : <f32>0)) / norm);
      }
    }
  }
  return total;
}
