// Max pooling over k×k windows (stride s): Y[n, oy, ox, c] = max X[n, oy·s + ky, ox·s + kx, c]. The forward pass
// records each maximum's position (ties: the first in row-major order, as PyTorch), where backward sends the gradient.
import { Layer, type Plan, type RowBlock } from './layer.js';
import type { Engine } from '../wasm/engine.js';
import type { Shape } from './spec.js';

export class MaxPool extends Layer {
  readonly relu = false;
  private g = 0; // i32[7] geometry: H, W, C, k, stride, OH, OW
  private arg = 0; // i32 [maxRows, outSize]: where each maximum came from, within its sample

  constructor(inShape: Shape, outShape: Shape, readonly size: number, readonly stride: number) {
    super(inShape, outShape);
  }

  override describe(eng: Engine): void {
    const { inShape: i, outShape: o } = this;
    this.g = eng.alloc(7 * 4);
    eng.i32(this.g, 7).set([i.h, i.w, i.c, this.size, this.stride, o.h, o.w]);
  }

  override allocate(p: Plan): void {
    this.arg = p.alloc(p.maxRows * this.outSize * 4);
  }

  // out[rows, OH, OW, C] = window maxima of in; arg = their positions
  forward(blk: RowBlock): void {
    const { lo } = blk;
    blk.ops.push('maxpool2d_forward', this.g, blk.hi - lo, Layer.rowAt(this.in, this.inSize, lo), Layer.rowAt(this.out, this.outSize, lo), Layer.rowAt(this.arg, this.outSize, lo));
  }

  // dIn = dOut routed to the maxima (summed where windows overlap), masked by the ReLU that produced the input
  // (through the output: a maximum is positive exactly when the ReLU passed it)
  backward(blk: RowBlock): void {
    const { lo } = blk;
    const mask = this.inRelu ? Layer.rowAt(this.out, this.outSize, lo) : 0;
    blk.ops.push(
      'maxpool2d_backward', this.g, blk.hi - lo, Layer.rowAt(this.dOut, this.outSize, lo), Layer.rowAt(this.arg, this.outSize, lo),
      Layer.rowAt(this.dIn, this.inSize, lo), mask,
    );
  }
}
