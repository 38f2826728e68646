// A dense layer: Y[rows, out] = X[rows, in] · W[in, out] + b, then ReLU unless it is the output layer.
// W is stored [in, out] (the sparse kernels then read and write whole contiguous rows of it); checkpoints hold
// PyTorch's [out, in], with `in` in (channels, rows, cols) order when the input is an image or feature map.
//
// As the first layer, in training, its product is two halves of its inputs, X[:, :h]·W[:h] + X[:, h:]·W[h:],
// summed (then the bias): a thread can then own one half of W, the rows it both reads in the forward pass and
// updates, so that half stays in its core's cache (split by batch rows instead, every thread read all of W and
// W moved between the cores each step: up to 1.2× slower on two threads). The network runs the halves as a phase
// of their own on several threads (network.ts). Evaluation computes the one product by rows (the halves cost it
// up to 1.2× at 1000 rows); its results differ from a training step's forward pass in the last bits only.
import type { KernelName } from '../wasm/pool.js';
import { Layer, type Plan, type RowBlock, type Update } from './layer.js';
import type { Shape } from './spec.js';
import { splitPoints } from '../wasm/gemm.js';

/** Parts the first layer's inputs are split into in training; their products are summed in order. */
const INPUT_PARTS = 2;

export class Dense extends Layer {
  readonly fanIn: number;
  readonly fanOut: number;
  /** Training's input parts, as the first layer of a batch that can split (else [0, fanIn]): columns [cuts[s], cuts[s + 1]). */
  inputCuts: number[];
  /** [batch, fanOut]: the second part's product, before the sum (0 with one part). */
  private partial = 0;
  /** Skip zero inputs: the first layer on sparse data (images); set by the network. */
  sparseInput = false;

  constructor(inShape: Shape, outShape: Shape, readonly relu: boolean, readonly first: boolean) {
    super(inShape, outShape);
    this.fanIn = this.inSize;
    this.fanOut = this.outSize;
    this.inputCuts = [0, this.fanIn];
  }

  override get weightCount(): number {
    return this.fanIn * this.fanOut;
  }
  override get biasCount(): number {
    return this.fanOut;
  }
  override get weightRows(): number {
    return this.fanIn;
  }

  /** The input parts training uses: two when the batch can be split over threads (`splits`), else one. */
  splitInputs(splits: boolean): void {
    this.inputCuts = this.first && splits ? splitPoints(this.fanIn, INPUT_PARTS, 4) : [0, this.fanIn];
  }

  override allocate(p: Plan): void {
    if (this.inputCuts.length > 2) this.partial = p.alloc(p.batch * this.fanOut * 4);
  }

  override workspaceBytes(p: Plan): number {
    const k = p.eng.k;
    // A forward block has at most ceil(rows / chunks) rows, or all of them below two blocks' worth (network.ts).
    const block = Math.min(p.maxRows, Math.max(Math.ceil(p.maxRows / p.chunks), 16));
    const part = Math.max(...this.inputCuts.slice(1).map((c, s) => c - this.inputCuts[s]));
    return Math.max(
      k.gemm_ws_bytes(p.batch, this.fanOut, part), // a training input part
      k.gemm_ws_bytes(block, this.fanOut, this.fanIn), // forward
      k.gemm_ws_bytes(this.fanIn, this.fanOut, p.batch), // weight gradient
      k.gemm_ws_bytes(p.batch, this.fanIn, this.fanOut), // input gradient
    );
  }

  /** Whether the products skip zero inputs at `rows` rows (the same bits either way): the first layer on sparse
   *  data, and at batch 1 the hidden layers too, whose ReLU outputs are about half zeros. */
  private skipsZeros(rows: number): boolean {
    return this.first ? this.sparseInput : rows === 1;
  }

  /** The cuts of this pass: training's parts, or one product. */
  cutsFor(training: boolean): number[] {
    return training ? this.inputCuts : [0, this.fanIn];
  }

  // Rows [lo, hi): input part s's product X[:, k0:k1]·W[k0:k1] into the output (part 0) or `partial` (part 1).
  partForward(blk: RowBlock, cuts: number[], s: number): void {
    const [k0, k1] = [cuts[s], cuts[s + 1]];
    const out = Layer.rowAt(s === 0 ? this.out : this.partial, this.fanOut, blk.lo);
    const gemm: KernelName = this.skipsZeros(blk.hi - blk.lo) ? 'gemm_nn_sparse_ld' : 'gemm_nn_ld';
    const x = this.in + 4 * (blk.lo * this.fanIn + k0);
    blk.ops.push(gemm, blk.hi - blk.lo, this.fanOut, k1 - k0, x, this.fanIn, blk.params + 4 * (this.w + k0 * this.fanOut), this.fanOut, out, this.fanOut, 0, blk.ws);
  }

  // out[rows, fanOut] = in[rows, fanIn] · W + b (the first layer's product is its parts, already computed), ReLU
  forward(blk: RowBlock): void {
    const rows = blk.hi - blk.lo;
    const out = Layer.rowAt(this.out, this.fanOut, blk.lo);
    if (!this.first) {
      const gemm: KernelName = this.skipsZeros(rows) ? 'gemm_nn_sparse_ld' : 'gemm_nn_ld';
      blk.ops.push(gemm, rows, this.fanOut, this.fanIn, Layer.rowAt(this.in, this.fanIn, blk.lo), this.fanIn, blk.params + 4 * this.w, this.fanOut, out, this.fanOut, 0, blk.ws);
    }
    // + the second input part (first layer, training), + b, then ReLU (not after the output layer)
    const part = this.first && this.cutsFor(blk.training).length > 2 ? Layer.rowAt(this.partial, this.fanOut, blk.lo) : 0;
    blk.ops.push('bias_relu_forward', out, part, blk.params + 4 * this.b, rows, this.fanOut, this.relu ? 1 : 0);
  }

  // dIn[rows, fanIn] = dOut[rows, fanOut] · Wᵀ, masked by the ReLU that produced the input
  backward(blk: RowBlock): void {
    const rows = blk.hi - blk.lo;
    const [dOut, dIn] = [Layer.rowAt(this.dOut, this.fanOut, blk.lo), Layer.rowAt(this.dIn, this.fanIn, blk.lo)];
    const w = blk.params + 4 * this.w;
    if (this.inRelu) {
      blk.ops.push('gemm_nt_relu_ld', rows, this.fanIn, this.fanOut, dOut, this.fanOut, w, this.fanOut, dIn, this.fanIn, Layer.rowAt(this.in, this.fanIn, blk.lo), blk.ws);
    } else {
      blk.ops.push('gemm_nt_ld', rows, this.fanIn, this.fanOut, dOut, this.fanOut, w, this.fanOut, dIn, this.fanIn, 0, blk.ws);
    }
  }

  // Weight rows [a, b) (a block of input features): dW = inᵀ · dOut over the batch, then the optimizer step.
  override weightUpdate(u: Update, a: number, b: number): void {
    const sparse = this.skipsZeros(u.rows);
    const w = this.w + a * this.fanOut;
    const input = this.in + 4 * a;
    const { params, grads } = u.buf;
    if (sparse && u.opt.kind === 'sgd') {
      // the gradient rows applied as they are computed (rows of zero inputs skipped), not stored
      u.ops.push('sgd_tn_sparse', b - a, this.fanOut, u.rows, input, this.fanIn, this.dOut, params + 4 * w, grads + 4 * w, u.lr, u.opt.weightDecay, u.ws);
    } else {
      const gemm: KernelName = sparse ? 'gemm_tn_sparse_ld' : 'gemm_tn_ld';
      u.ops.push(gemm, b - a, this.fanOut, u.rows, input, this.fanIn, this.dOut, this.fanOut, grads + 4 * w, this.fanOut, 0, u.ws);
      this.step(u, w, (b - a) * this.fanOut);
    }
  }

  override biasUpdate(u: Update): void {
    u.ops.push('bias_backward', u.buf.grads + 4 * this.b, this.dOut, u.rows, this.fanOut, 0);
    this.step(u, this.b, this.fanOut);
  }

  override torchShape(): number[] {
    return [this.fanOut, this.fanIn];
  }
  // PyTorch's W[o, i] with i in (c, y, x) order; ours is W[j, o] with j in (y, x, c) order.
  override torchToInternal(i: number): number {
    const o = Math.floor(i / this.fanIn);
    const chw = i - o * this.fanIn;
    const { c, h, w } = this.inShape;
    if (c === 1 || h * w === 1) return chw * this.fanOut + o;
    const ch = Math.floor(chw / (h * w));
    const yx = chw - ch * h * w;
    return (yx * c + ch) * this.fanOut + o;
  }
  override fans(): [number, number] {
    return [this.fanIn, this.fanOut];
  }
}
