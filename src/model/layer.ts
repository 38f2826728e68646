// What every layer kind (dense.ts, conv.ts, pool.ts, dropout.ts) gives the network (network.ts): its shapes,
// its parameters' place and PyTorch layout, and the kernel calls of its forward pass, its input gradient and its
// weight update, for one block of the batch's rows at a time. Activations are per sample, row after row, in
// (rows, cols, channels) order (NHWC); the network lays out every buffer before the first step.
import type { Engine } from '../wasm/engine.js';
import type { OpList } from '../wasm/pool.js';
import { flat, type Shape } from './spec.js';
import { optimizerOps, type OptimizerConfig, type ParamBuffers } from './optimizer.js';

/** Fixed at planning time. */
export interface Plan {
  eng: Engine;
  /** Reserves zeroed bytes (aligned to 64), returning the address; the network first runs the plan with a
   *  counting `alloc` to measure it. */
  alloc(bytes: number): number;
  /** Largest training batch: rows of every gradient buffer. */
  batch: number;
  /** Largest forward batch (training or evaluation): rows of every activation buffer. */
  maxRows: number;
  /** Lists of kernel calls a phase is split into (one per thread). */
  chunks: number;
}

/** One block of rows [lo, hi) of a batch, as one thread's list of kernel calls sees it. */
export interface RowBlock {
  ops: OpList;
  lo: number;
  hi: number;
  /** The list's chunk number (its scratch space) and GEMM workspace. */
  chunk: number;
  ws: number;
  training: boolean;
  /** Address of the parameter buffer. */
  params: number;
  /** Address of the batch's i32 sample indices (row 0). */
  idx: number;
  /** Seed and optimizer steps taken: what dropout masks are drawn from. */
  seed: number;
  step: number;
}

/** One thread's share of the update: the optimizer, the buffers, and the batch it was computed on. */
export interface Update {
  eng: Engine;
  ops: OpList;
  ws: number;
  rows: number;
  lr: number;
  opt: OptimizerConfig;
  buf: ParamBuffers;
  step: number;
}

export abstract class Layer {
  readonly inSize: number;
  readonly outSize: number;
  /** Its output went through a ReLU: the layer after it masks its input gradient by that output. */
  abstract readonly relu: boolean;
  /** Addresses, set by the network: input [maxRows, inSize], output [maxRows, outSize], output gradient
   *  [batch, outSize], input gradient (the previous layer's output gradient; 0 for the first layer). */
  in = 0;
  out = 0;
  dOut = 0;
  dIn = 0;
  /** The input went through a ReLU (the previous layer's). */
  inRelu = false;
  /** Offsets of the weights and biases in the parameter buffer (floats), set by the network. */
  w = 0;
  b = 0;

  constructor(readonly inShape: Shape, readonly outShape: Shape) {
    this.inSize = flat(inShape);
    this.outSize = flat(outShape);
  }

  /** Weights and biases (floats); 0 for a layer without parameters. */
  get weightCount(): number {
    return 0;
  }
  get biasCount(): number {
    return 0;
  }
  /** The weights' rows, which the update splits over threads (weightCount / weightRows floats each). */
  get weightRows(): number {
    return 0;
  }

  /** Writes the layer's constants (its geometry) into memory: before planning, which may ask the kernels about them. */
  describe(_eng: Engine): void {}
  /** Allocates the layer's own buffers (after the network's). */
  allocate(_p: Plan): void {}
  /** Bytes of GEMM workspace a chunk needs for this layer. */
  workspaceBytes(_p: Plan): number {
    return 0;
  }

  /** out[lo..hi) from in[lo..hi). */
  abstract forward(blk: RowBlock): void;
  /** dIn[lo..hi) from dOut[lo..hi), masked by the input's ReLU (inRelu); only called when dIn ≠ 0. */
  abstract backward(blk: RowBlock): void;
  /** Work on rows [lo, hi) of dOut that the weight gradient needs, done in the backward phase where those rows were
   *  written (every layer, the first too; after backward). */
  gradientRows(_blk: RowBlock, _eng: Engine): void {}
  /** Rows [a, b) of the weight gradient over the batch, then the optimizer step on them. */
  weightUpdate(_u: Update, _a: number, _b: number): void {}
  /** The bias gradient over the batch, then the optimizer step on it. */
  biasUpdate(_u: Update): void {}

  /** PyTorch's shape of the weight tensor. */
  torchShape(): number[] {
    return [];
  }
  /** The offset in this layer's weights (from `w`) of element i of the weight in PyTorch's layout. */
  torchToInternal(_i: number): number {
    return 0;
  }
  /** Fan-in and fan-out for Glorot-uniform initialisation. */
  fans(): [number, number] {
    return [0, 0];
  }

  /** Rows [lo, hi) of a [rows, size] buffer at `base`: the address of row lo. */
  protected static rowAt(base: number, size: number, lo: number): number {
    return base + 4 * lo * size;
  }

  protected step(u: Update, offset: number, n: number): void {
    optimizerOps(u.ops, u.opt, u.buf, offset, n, u.lr, u.step);
  }
}
