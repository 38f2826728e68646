// The module's exports: every kernel takes byte addresses (pointers) into linear memory.
// Matrices are row-major f32. A GEMM's C element is computed as ((C0 + a0·b0) + a1·b1) + … in increasing k,
// where C0 is 0, or C's old value when `accumulate` is set; so sparse and dense paths agree bit for bit.
export interface Kernels {
  memory: WebAssembly.Memory;
  /** First free byte above the module's static data. */
  heap_base(): number;

  // gemm.ts
  /** C[m,n] (=|+=) A[m,k] · B[k,n] */
  gemm_nn(m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean, ws: number): void;
  /** C[m,n] (=|+=) A[m,k] · B[n,k]ᵀ */
  gemm_nt(m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean, ws: number): void;
  /** C[m,n] (=|+=) A[k,m]ᵀ · B[k,n] */
  gemm_tn(m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean, ws: number): void;
  /** As gemm_nn, skipping zero elements of A (sparse inputs); bit-identical to gemm_nn. */
  gemm_nn_sparse(m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean, ws: number): void;
  /** As gemm_tn, skipping zero elements of A; bit-identical to gemm_tn. */
  gemm_tn_sparse(m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean, ws: number): void;
  // The same five with leading dimensions (row strides in floats) for A, B and C, to compute a block of
  // rows or columns of C in place: each element gets exactly the bits the whole GEMM gives it.
  gemm_nn_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, ws: number): void;
  gemm_nt_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, ws: number): void;
  gemm_tn_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, ws: number): void;
  gemm_nn_sparse_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, ws: number): void;
  gemm_tn_sparse_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, ws: number): void;
  /**
   * P[m,n] ← P − lr·(G + wd·P) for G = A[k,m]ᵀ · B[k,n] skipping A's zeros: gemm_tn_sparse into G then sgd_step
   * on P, in one pass and bit-identical to them. P, G, B have contiguous rows of n floats; G is scratch. With
   * wd = 0, rows whose column of A is all zero (gradient 0) are not touched.
   */
  sgd_tn_sparse(m: number, n: number, k: number, a: number, lda: number, b: number, p: number, g: number, lr: number, wd: number, ws: number): void;
  /**
   * C[m,n] = (A[m,k] · B[n,k]ᵀ) ⊙ [Y > 0], Y laid out as C (row stride ldc): a layer's input gradient through
   * the ReLU whose output is Y; bit-identical to gemm_nt_ld then relu_backward. With one row, only the rows
   * of B where Y > 0 are read.
   */
  gemm_nt_relu_ld(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, y: number, ws: number): void;
  /** Rows of the build's micro-tile (5, or 6 in the relaxed builds). */
  gemm_tile_rows(): number;
  /** Bytes of workspace any of the GEMMs above needs for these sizes (a block needs no more than the whole). */
  gemm_ws_bytes(m: number, n: number, k: number): number;

  // activations.ts
  /** y[r,c] = (y[r,c] + z[r,c]) + bias[c] (z: a second partial product, or 0 for none), then max(0, ·) when relu; in place. */
  bias_relu_forward(y: number, z: number, bias: number, rows: number, cols: number, relu: boolean): void;
  /** dy[i] = y[i] > 0 ? dy[i] : 0, in place (y is the ReLU output). */
  relu_backward(dy: number, y: number, n: number): void;
  /** dbias[c] (=|+=) Σ_r dy[r,c], summed in increasing r. */
  bias_backward(dbias: number, dy: number, rows: number, cols: number, accumulate: boolean): void;

  // loss.ts
  /**
   * Stable softmax + cross-entropy over rows of logits[rows,cols] with u8 labels.
   * Returns the summed loss (f64). Where the pointer is not 0, writes (softmax − onehot)/norm to dlogits,
   * each row's argmax (i32) to preds and each row's loss (f64) to losses.
   */
  softmax_xent(logits: number, labels: number, rows: number, cols: number, dlogits: number, preds: number, losses: number, norm: number): number;
  /** probs[r,:] = softmax(logits[r,:]) */
  softmax_forward(probs: number, logits: number, rows: number, cols: number): void;

  // optim.ts — one pass over the whole parameter buffer; wd is L2 weight decay added to the gradient.
  sgd_step(p: number, g: number, n: number, lr: number, wd: number): void;
  momentum_step(p: number, g: number, vel: number, n: number, lr: number, mu: number, wd: number, nesterov: boolean): void;
  /** Adam with bias correction; t is the 1-based step count. */
  adam_step(p: number, g: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number, eps: number, wd: number, t: number): void;

  // data.ts
  /** x[i, from:to] = images[idx[i]*dim + from:to] / 255 as f32, y[i] = labels[idx[i]] unless y is 0; idx is i32[count]. */
  gather_batch(x: number, y: number, images: number, labels: number, idx: number, count: number, dim: number, from: number, to: number): void;

  // conv.ts — activations are NHWC f32: x[n, y, x, c] at ((n·H + y)·W + x)·C + c. `g` is the address of the
  // geometry, 9 i32 words [H, W, C, CO, k, stride, pad, OH, OW] with OH = floor((H + 2·pad − k)/stride) + 1
  // (OW likewise) and pad < k. A weight is w[K, CO], K = k·k·C, row (ky·k + kx)·C + ci. The im2col matrix of a
  // batch has row (n·OH + oy)·OW + ox and column (ky·k + kx)·C + ci, holding x[n, oy·s − p + ky, ox·s − p + kx, ci]
  // (0 outside the image); the kernels never build it, but their sums are its GEMMs'. No result's bits depend on
  // `sparse` or on how rows are split over calls. Each works one sample at a time in `ws` (conv2d_ws_bytes).
  /**
   * y[rows·OH·OW, CO] = im2col(x[rows, H, W, C]) · w[K, CO] + b[CO], then max(0, ·) when relu: bit for bit
   * im2col, gemm_nn_ld and bias_relu_forward (a NaN stays a NaN, not necessarily the same one). `zeros`: how x's
   * zeros are skipped: 0 not at all, 1 patch rows of zeros (x mostly zeros in whole rows: images), 2 each tap where
   * x is zero when at least half of x is (x a ReLU's output or a max pool of one: zeros anywhere). The same bits whatever the hint.
   */
  conv2d_forward(g: number, rows: number, x: number, w: number, b: number, y: number, relu: boolean, zeros: number, ws: number): void;
  /**
   * dx[rows, H, W, C] = col2im(dy[rows·OH·OW, CO] · w[K, CO]ᵀ) (gemm_nt_ld, then each input element sums its terms
   * in increasing output position), then ⊙ [mask > 0] when mask ≠ 0 (mask laid out as dx: the previous layer's ReLU
   * output). `sparseDy`: dy is mostly zeros (a max pool's gradient): zero terms are skipped (the same bits).
   */
  conv2d_backward_input(g: number, rows: number, dy: number, w: number, dx: number, mask: number, sparseDy: boolean, ws: number): void;
  /**
   * dw[k0:k1, :] = im2col(x)[:, k0:k1]ᵀ · dy[rows·OH·OW, CO], bit for bit gemm_tn_ld over the im2col matrix, whatever
   * the split of [0, K) over calls (k0 = k1 does nothing); `sparse`: x is mostly zeros in whole rows (conv2d_forward's
   * zeros = 1); lists: 0, or dy's nonzeros listed by conv2d_dy_lists for these rows (the same bits). The bias gradient is bias_backward(db, dy, rows·OH·OW, CO, false).
   */
  conv2d_backward_weight(g: number, rows: number, x: number, dy: number, dw: number, k0: number, k1: number, sparse: boolean, lists: number, ws: number): void;
  /**
   * Bytes of the lists of a batch of `rows` samples (conv2d_dy_lists), or 0 when skipping dy's zeros does not pay
   * for this geometry (padded, or under two vectors per patch row unless the images are sparse).
   */
  conv2d_dy_lists_bytes(g: number, rows: number, sparse: boolean): number;
  /**
   * The lists of samples first … first+rows−1 of a batch of `batch`: per sample and output channel, the pixels with
   * dy ≠ 0 (`sparse`: and a patch that is not all zero) in increasing position, as (patch address in x, dy); x and dy
   * point at sample `first`'s rows. Run on the rows of dy where they were written (any split of the batch), then
   * passed to conv2d_backward_weight, which sums from them the same bits it sums from x and dy.
   */
  conv2d_dy_lists(g: number, rows: number, x: number, dy: number, sparse: boolean, lists: number, batch: number, first: number, ws: number): void;
  /** Bytes of `ws` any of the three conv kernels needs (for any batch). */
  conv2d_ws_bytes(g: number): number;

  // pool.ts — `g`: 7 i32 words [H, W, C, k, stride, OH, OW], OH = floor((H − k)/stride) + 1 (OW likewise).
  /**
   * y[rows, OH, OW, C] = max of x[rows, H, W, C] over the k×k window at (oy·stride, ox·stride); arg (i32, laid out
   * as y) = the max's index (yy·W + xx)·C + c within its sample, the first in (ky, kx) order on ties.
   */
  maxpool2d_forward(g: number, rows: number, x: number, y: number, arg: number): void;
  /**
   * dx[rows, H, W, C] = 0, then for each output element in increasing order dx[arg] += dy where y = 0 or y > 0
   * (y: the pool's output, laid out as dy, when a ReLU produced its input: that ReLU's backward, fused).
   */
  maxpool2d_backward(g: number, rows: number, dy: number, arg: number, dx: number, y: number): void;

  // dropout.ts
  /**
   * Training (scale ≠ 0): scale[r, j] = hash(seed, step, idx[r], j) ≥ threshold (as u32) ? keepScale : 0 and
   * y = x · scale, over [rows, cols]; evaluation (scale = 0): y = x. idx: i32[rows], the samples' dataset
   * indices; threshold = min(round(p·2³²), 2³²−1); keepScale = fround(1/(1−p)); the hash is src/reference/dropout.ts's.
   */
  dropout_forward(y: number, scale: number, x: number, idx: number, rows: number, cols: number, threshold: number, keepScale: number, seed: number, step: number): void;
  /** dx[n] = dy · scale, then ⊙ [mask > 0] when mask ≠ 0 (mask: the dropout's input, when a ReLU produced it). */
  dropout_backward(dx: number, dy: number, scale: number, n: number, mask: number): void;
}
