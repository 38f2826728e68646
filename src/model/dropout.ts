// Inverted dropout: in training each element is kept with probability 1 − p and scaled by 1/(1 − p), in evaluation
// it passes unchanged. The mask is a hash of (seed, optimizer step, the sample's dataset index, the element), so a
// step draws the same mask on any number of threads, and a resumed run draws the masks it would have drawn.
import { Layer, type Plan, type RowBlock } from './layer.js';
import type { Shape } from './spec.js';

export class Dropout extends Layer {
  readonly relu = false;
  /** Elements whose hash is below this are dropped: round(p·2³²), as an unsigned 32-bit threshold. */
  private readonly threshold: number;
  /** 1/(1 − p) in float32: what kept elements are multiplied by. */
  private readonly keepScale: number;
  private scale = 0; // f32 [batch, size]: the step's mask, 0 or keepScale per element

  constructor(shape: Shape, readonly p: number) {
    super(shape, shape);
    this.threshold = Math.min(2 ** 32 - 1, Math.round(p * 2 ** 32));
    this.keepScale = Math.fround(1 / Math.fround(1 - Math.fround(p)));
  }

  override allocate(p: Plan): void {
    this.scale = p.alloc(p.batch * this.outSize * 4);
  }

  // out = in · mask (training), out = in (evaluation)
  forward(blk: RowBlock): void {
    const { lo, hi } = blk;
    const [out, input] = [Layer.rowAt(this.out, this.outSize, lo), Layer.rowAt(this.in, this.inSize, lo)];
    if (blk.training) {
      const scale = Layer.rowAt(this.scale, this.outSize, lo);
      blk.ops.push('dropout_forward', out, scale, input, blk.idx + 4 * lo, hi - lo, this.outSize, this.threshold, this.keepScale, blk.seed, blk.step);
    } else {
      blk.ops.push('dropout_forward', out, 0, input, 0, hi - lo, this.outSize, 0, 0, 0, 0);
    }
  }

  // dIn = dOut · mask, masked by the ReLU that produced the input
  backward(blk: RowBlock): void {
    const { lo, hi } = blk;
    const mask = this.inRelu ? Layer.rowAt(this.in, this.inSize, lo) : 0;
    blk.ops.push(
      'dropout_backward', Layer.rowAt(this.dIn, this.inSize, lo), Layer.rowAt(this.dOut, this.outSize, lo), Layer.rowAt(this.scale, this.outSize, lo),
      (hi - lo) * this.outSize, mask,
    );
  }
}
