// A 2-d convolution, then ReLU: Y[n, oy, ox, co] = max(0, Σ X[n, oy·s − p + ky, ox·s − p + kx, ci] · W[ky, kx, ci, co] + b[co]),
// computed as im2col(X)[rows·OH·OW, K] · W[K, CO] with K = k·k·C (assembly/conv.ts). W is stored [K, CO];
// checkpoints hold PyTorch's [CO, C, k, k]. In training the batch's im2col stays in `col` for the weight gradient.
import { Layer, type Plan, type RowBlock, type Update } from './layer.js';
import type { Engine } from '../wasm/engine.js';
import type { Shape } from './spec.js';

/** The im2col scratch of one chunk of samples in evaluation and in the input gradient: about L2's size. */
const CHUNK_BYTES = 2 << 20;

export class Conv extends Layer {
  readonly relu = true;
  /** Kernel rows × cols × input channels: the weight matrix's rows. */
  readonly K: number;
  /** Output pixels per sample. */
  readonly P: number;
  /** Skip zero inputs (the first layer on sparse images); set by the network. */
  sparseInput = false;
  private g = 0; // i32[9] geometry: H, W, C, CO, k, stride, pad, OH, OW
  private col = 0; // f32 [colRows·P, K]: the batch's im2col in training; chunks' workspaces in evaluation
  private chunkRows = 1; // samples in a chunk's share of `col` in evaluation, and of the input-gradient scratch
  private dcol = 0; // f32 [chunks·chunkRows·P, K]: the input gradient's im2col-shaped scratch (0 for the first layer)

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
    const rowBytes = this.P * this.K * 4;
    this.chunkRows = Math.max(1, Math.min(Math.ceil(p.maxRows / p.chunks), Math.floor(CHUNK_BYTES / rowBytes)));
    this.col = p.alloc(Math.max(p.batch, p.chunks * this.chunkRows) * rowBytes);
    if (!this.first) this.dcol = p.alloc(p.chunks * this.chunkRows * rowBytes);
  }

  override workspaceBytes(p: Plan): number {
    return p.eng.k.conv2d_ws_bytes(this.g, p.batch);
  }

  // out[rows·P, CO] = relu(im2col(in) · W + b)
  forward(blk: RowBlock): void {
    const rows = blk.hi - blk.lo;
    // Training keeps its rows' im2col in place; evaluation works through its chunk's share of `col`.
    const [col, colRows] = blk.training
      ? [Layer.rowAt(this.col, this.P * this.K, blk.lo), rows]
      : [Layer.rowAt(this.col, this.P * this.K, blk.chunk * this.chunkRows), this.chunkRows];
    const { params } = blk;
    blk.ops.push(
      'conv2d_forward', this.g, rows, Layer.rowAt(this.in, this.inSize, blk.lo), params + 4 * this.w, params + 4 * this.b,
      Layer.rowAt(this.out, this.outSize, blk.lo), col, colRows, 1, this.sparseInput ? 1 : 0, blk.ws,
    );
  }

  // dIn[rows, H, W, C] = col2im(dOut · Wᵀ), masked by the ReLU that produced the input
  backward(blk: RowBlock): void {
    const dcol = Layer.rowAt(this.dcol, this.P * this.K, blk.chunk * this.chunkRows);
    const mask = this.inRelu ? Layer.rowAt(this.in, this.inSize, blk.lo) : 0;
    blk.ops.push(
      'conv2d_backward_input', this.g, blk.hi - blk.lo, Layer.rowAt(this.dOut, this.outSize, blk.lo), blk.params + 4 * this.w,
      Layer.rowAt(this.dIn, this.inSize, blk.lo), dcol, this.chunkRows, mask, blk.ws,
    );
  }

  // Weight rows [a, b) (kernel taps × input channels): dW = im2colᵀ · dOut over the batch, then the optimizer step.
  override weightUpdate(u: Update, a: number, b: number): void {
    const CO = this.outShape.c;
    u.ops.push('conv2d_backward_weight', this.g, u.rows, this.col, this.dOut, u.buf.grads + 4 * this.w, a, b, this.sparseInput ? 1 : 0, u.ws);
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
