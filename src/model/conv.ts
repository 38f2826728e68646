// A 2-d convolution, then ReLU: Y[n, oy, ox, co] = max(0, Σ X[n, oy·s − p + ky, ox·s − p + kx, ci] · W[ky, kx, ci, co] + b[co]),
// the GEMM im2col(X)[rows·OH·OW, K] · W[K, CO] with K = k·k·C, computed without building im2col (assembly/conv.ts).
// W is stored [K, CO]; checkpoints hold PyTorch's [CO, C, k, k].
import { Layer, type Plan, type RowBlock, type Update } from './layer.js';
import type { Engine } from '../wasm/engine.js';
import type { Shape } from './spec.js';

export class Conv extends Layer {
  readonly relu = true;
  /** Kernel rows × cols × input channels: the weight matrix's rows. */
  readonly K: number;
  /** Output pixels per sample. */
  readonly P: number;
  /** Skip zero inputs (the first layer on sparse images); set by the network. */
  sparseInput = false;
  /** The input is a ReLU's output or a max pool of one (zeros anywhere): the forward skips them; set by the network. */
  scatteredInput = false;
  /** Skip zero output gradients (a max pool with windows apart follows: at least 3/4 are zero); set by the network. */
  sparseGrad = false;
  private g = 0; // i32[9] geometry: H, W, C, CO, k, stride, pad, OH, OW
  private lists = 0; // per sample and output channel, the pixels with a nonzero gradient (0: not used)
  private batch = 0; // samples the lists have room for

  constructor(inShape: Shape, outShape: Shape, readonly size: number, readonly stride: number, readonly pad: number, readonly first: boolean) {
    super(inShape, outShape);
    this.K = size * size * inShape.c;
    this.P = outShape.h * outShape.w;
  }

  override get weightCount(): number {
    return this.K * this.outShape.c;
  }
  override get biasCount(): number {
    return this.outShape.c;
  }
  override get weightRows(): number {
    return this.K;
  }

  override describe(eng: Engine): void {
    const { inShape: i, outShape: o } = this;
    this.g = eng.alloc(9 * 4);
    eng.i32(this.g, 9).set([i.h, i.w, i.c, o.c, this.size, this.stride, this.pad, o.h, o.w]);
  }

  override allocate(p: Plan): void {
    // Planned before the first layer knows whether its images are sparse: room for either.
    const k = p.eng.k;
    const bytes = this.sparseGrad ? Math.max(k.conv2d_dy_lists_bytes(this.g, p.batch, false), k.conv2d_dy_lists_bytes(this.g, p.batch, true)) : 0;
    this.lists = bytes ? p.alloc(bytes) : 0;
    this.batch = p.batch;
  }

  override workspaceBytes(p: Plan): number {
    return p.eng.k.conv2d_ws_bytes(this.g);
  }

  /** Whether the weight gradient sums from lists of the nonzero output gradients (else it reads them itself). */
  private usesLists(eng: Engine): boolean {
    return this.lists !== 0 && eng.k.conv2d_dy_lists_bytes(this.g, 1, this.sparseInput) > 0;
  }

  // out[rows·P, CO] = relu(im2col(in) · W + b)
  forward(blk: RowBlock): void {
    const { params } = blk;
    blk.ops.push(
      'conv2d_forward', this.g, blk.hi - blk.lo, Layer.rowAt(this.in, this.inSize, blk.lo), params + 4 * this.w, params + 4 * this.b,
      Layer.rowAt(this.out, this.outSize, blk.lo), 1, this.sparseInput ? 1 : this.scatteredInput ? 2 : 0, blk.ws,
    );
  }

  // The lists of nonzero output gradients of rows [lo, hi), for the weight gradient (built where dOut was written)
  override gradientRows(blk: RowBlock, eng: Engine): void {
    if (!this.usesLists(eng)) return;
    blk.ops.push(
      'conv2d_dy_lists', this.g, blk.hi - blk.lo, Layer.rowAt(this.in, this.inSize, blk.lo), Layer.rowAt(this.dOut, this.outSize, blk.lo),
      this.sparseInput ? 1 : 0, this.lists, this.batch, blk.lo, blk.ws,
    );
  }

  // dIn[rows, H, W, C] = col2im(dOut · Wᵀ), masked by the ReLU that produced the input
  backward(blk: RowBlock): void {
    const mask = this.inRelu ? Layer.rowAt(this.in, this.inSize, blk.lo) : 0;
    blk.ops.push(
      'conv2d_backward_input', this.g, blk.hi - blk.lo, Layer.rowAt(this.dOut, this.outSize, blk.lo), blk.params + 4 * this.w,
      Layer.rowAt(this.dIn, this.inSize, blk.lo), mask, this.sparseGrad ? 1 : 0, blk.ws,
    );
  }

  // Weight rows [a, b) (kernel taps × input channels): dW = im2col(in)ᵀ · dOut over the batch (from the lists when
  // there are), then the optimizer step.
  override weightUpdate(u: Update, a: number, b: number): void {
    const CO = this.outShape.c;
    const lists = this.usesLists(u.eng) ? this.lists : 0;
    u.ops.push('conv2d_backward_weight', this.g, u.rows, this.in, this.dOut, u.buf.grads + 4 * this.w, a, b, this.sparseInput ? 1 : 0, lists, u.ws);
    this.step(u, this.w + a * CO, (b - a) * CO);
  }

  override biasUpdate(u: Update): void {
    u.ops.push('bias_backward', u.buf.grads + 4 * this.b, this.dOut, u.rows * this.P, this.outShape.c, 0);
    this.step(u, this.b, this.outShape.c);
  }

  override torchShape(): number[] {
    return [this.outShape.c, this.inShape.c, this.size, this.size];
  }
  // PyTorch's W[co, ci, ky, kx]; ours is W[(ky·k + kx)·C + ci, co].
  override torchToInternal(i: number): number {
    const k = this.size;
    const C = this.inShape.c;
    const kx = i % k;
    const ky = Math.floor(i / k) % k;
    const ci = Math.floor(i / (k * k)) % C;
    const co = Math.floor(i / (k * k * C));
    return ((ky * k + kx) * C + ci) * this.outShape.c + co;
  }
  override fans(): [number, number] {
    const kk = this.size * this.size;
    return [this.inShape.c * kk, this.outShape.c * kk];
  }
}
