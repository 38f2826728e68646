// The network: a stack of dense layers with ReLU between them, softmax + cross-entropy on top.
// All parameters live in one contiguous f32 buffer in WASM memory and all gradients in another of the
// same layout (as llm.c does), so an optimizer step is one kernel call. Weights are stored [in, out]
// (Y = X·W + b): the sparse first layer then reads and writes whole contiguous rows of W.
// Memory is planned once, in the constructor, for the largest batch the model will see.
import type { Engine } from '../wasm/engine.js';
import type { Gemm } from '../wasm/gemm.js';
import type { Kernels } from '../wasm/kernels.js';
import { Rng } from '../rng.js';

export interface Architecture {
  /** Input features (rows × cols of an image). */
  input: number;
  /** Hidden layer widths, e.g. [256, 128]. */
  hidden: number[];
  /** Output classes. */
  classes: number;
}

export type OptimizerKind = 'sgd' | 'momentum' | 'adam';

export interface OptimizerConfig {
  kind: OptimizerKind;
  lr: number;
  /** Momentum coefficient (momentum) or beta1 (adam). */
  momentum: number;
  nesterov: boolean;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const defaultOptimizer: OptimizerConfig = {
  kind: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  nesterov: false,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
};

/** A split of a dataset, uploaded once into linear memory: u8 images, u8 labels. */
export interface DeviceSplit {
  images: number;
  labels: number;
  count: number;
}

export interface Layer {
  fanIn: number;
  fanOut: number;
  /** Float offsets into the parameter (and gradient) buffer. */
  w: number;
  b: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  correct: number;
  count: number;
  /** confusion[label * classes + predicted] */
  confusion: Int32Array;
}

export interface ModelOptions {
  /** Largest training batch. */
  batch: number;
  /** Rows per chunk when evaluating or predicting. */
  evalBatch?: number;
  optimizer?: Partial<OptimizerConfig>;
  /** Skip zero inputs in the first layer: true, false, or 'auto' (per dataset, when most pixels are 0). */
  sparse?: boolean | 'auto';
}

export function layerSizes(arch: Architecture): number[] {
  return [arch.input, ...arch.hidden, arch.classes];
}

export class Mlp {
  readonly layers: Layer[];
  readonly paramCount: number;
  readonly maxRows: number;
  readonly optimizer: OptimizerConfig;
  /** Optimizer steps taken (Adam's t). */
  step = 0;
  sparse: boolean | 'auto';

  // Addresses in linear memory.
  private readonly params: number;
  private readonly grads: number;
  private readonly state1: number; // momentum velocity, or Adam's first moment
  private readonly state2: number; // Adam's second moment
  private readonly x: number; // [maxRows, input] gathered batch
  private readonly y: number; // [maxRows] u8 labels
  private readonly preds: number; // [maxRows] i32 predicted classes
  private readonly acts: number[]; // per layer [maxRows, fanOut]
  private readonly dA: number; // [maxRows, maxWidth] ping
  private readonly dB: number; // [maxRows, maxWidth] pong
  /** The GEMMs, on one thread or split over the engine's threads (each with its own workspace). */
  private readonly gemm: Gemm;
  /** The other kernels of a step, the row-wise and elementwise ones likewise split over the threads. */
  private readonly k: Kernels;
  private readonly seq: number; // i32 [maxRows] scratch indices for sequential chunks
  private readonly stage: DeviceSplit; // u8 [maxRows, input] images handed to predict()

  constructor(readonly eng: Engine, readonly arch: Architecture, opts: ModelOptions) {
    const sizes = layerSizes(arch);
    for (const s of sizes) {
      if (!Number.isInteger(s) || s < 1) throw new RangeError(`layer sizes must be positive integers: ${sizes.join('-')}`);
    }
    this.optimizer = { ...defaultOptimizer, ...opts.optimizer };
    this.sparse = opts.sparse ?? 'auto';
    this.maxRows = Math.max(opts.batch, opts.evalBatch ?? 1000);
    const rows = this.maxRows;

    let offset = 0;
    this.layers = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const fanIn = sizes[l];
      const fanOut = sizes[l + 1];
      const w = offset;
      const b = w + fanIn * fanOut;
      offset = b + fanOut;
      this.layers.push({ fanIn, fanOut, w, b });
    }
    this.paramCount = offset;
    const bytes = offset * 4;
    const k = eng.k;
    this.params = eng.alloc(bytes);
    this.grads = eng.alloc(bytes);
    const kind = this.optimizer.kind;
    this.state1 = kind === 'sgd' ? 0 : eng.alloc(bytes);
    this.state2 = kind === 'adam' ? eng.alloc(bytes) : 0;
    const maxWidth = Math.max(...sizes);
    this.x = eng.alloc(rows * arch.input * 4);
    this.y = eng.alloc(rows);
    this.preds = eng.alloc(rows * 4);
    this.acts = this.layers.map((L) => eng.alloc(rows * L.fanOut * 4));
    this.dA = eng.alloc(rows * maxWidth * 4);
    this.dB = eng.alloc(rows * maxWidth * 4);
    let wsBytes = 0;
    for (const L of this.layers) {
      wsBytes = Math.max(
        wsBytes,
        k.gemm_ws_bytes(rows, L.fanOut, L.fanIn), // forward
        k.gemm_ws_bytes(L.fanIn, L.fanOut, rows), // weight gradient
        k.gemm_ws_bytes(rows, L.fanIn, L.fanOut), // input gradient
      );
    }
    this.gemm = eng.gemm(wsBytes);
    this.k = eng.kernels();
    this.seq = eng.alloc(rows * 4);
    this.stage = { images: eng.alloc(rows * arch.input, 16), labels: eng.alloc(rows, 16), count: rows };
  }

  /** Glorot-uniform weights, bound sqrt(6/(fan_in+fan_out)), zero biases; optimizer state cleared. */
  init(rng: Rng): void {
    const p = this.paramView();
    for (const L of this.layers) {
      const bound = Math.sqrt(6 / (L.fanIn + L.fanOut));
      // Drawn in PyTorch's [out, in] order, so a seed means the same network whatever the layout.
      for (let o = 0; o < L.fanOut; o++) {
        for (let i = 0; i < L.fanIn; i++) p[L.w + i * L.fanOut + o] = (2 * rng.nextFloat() - 1) * bound;
      }
      p.fill(0, L.b, L.b + L.fanOut);
    }
    this.resetOptimizer();
  }

  resetOptimizer(): void {
    this.step = 0;
    const n = this.paramCount;
    if (this.state1) this.eng.f32(this.state1, n).fill(0);
    if (this.state2) this.eng.f32(this.state2, n).fill(0);
  }

  /** The parameters, as a view over linear memory (layout: see `layers`). */
  paramView(): Float32Array {
    return this.eng.f32(this.params, this.paramCount);
  }
  gradView(): Float32Array {
    return this.eng.f32(this.grads, this.paramCount);
  }
  /** Optimizer state buffers: [] (sgd), [velocity] (momentum), [m, v] (adam). */
  stateViews(): Float32Array[] {
    return [this.state1, this.state2].filter((p) => p !== 0).map((p) => this.eng.f32(p, this.paramCount));
  }

  /** Copies a split's images and labels into linear memory once. */
  upload(images: Uint8Array, labels: Uint8Array, count: number): DeviceSplit {
    if (images.length !== count * this.arch.input) {
      throw new RangeError(`expected ${count}×${this.arch.input} pixels, got ${images.length}`);
    }
    const split = { images: this.eng.alloc(images.length, 16), labels: this.eng.alloc(count, 16), count };
    this.eng.u8(split.images, images.length).set(images);
    this.eng.u8(split.labels, count).set(labels);
    if (this.sparse === 'auto') this.sparse = zeroFraction(images) > 0.5;
    return split;
  }

  /** An i32 index buffer in linear memory (e.g. the epoch's shuffled order). */
  allocIndices(count: number): Int32Array {
    return this.eng.i32(this.eng.alloc(count * 4, 16), count);
  }

  /** One SGD step on the samples data[idx[0..rows)]; returns the batch's mean loss. */
  trainStep(data: DeviceSplit, idx: Int32Array, lr: number): number {
    const rows = idx.length;
    this.gather(data, idx);
    const loss = this.forward(rows, this.dA) / rows;
    this.backward(rows);
    this.update(lr);
    return loss;
  }

  /** Loss, accuracy and confusion matrix over a whole split. */
  evaluate(data: DeviceSplit): Evaluation {
    const C = this.arch.classes;
    const confusion = new Int32Array(C * C);
    const labels = this.eng.u8(data.labels, data.count);
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += this.maxRows) {
      const rows = Math.min(this.maxRows, data.count - start);
      this.gather(data, this.sequence(start, rows));
      loss += this.forward(rows, 0, this.preds);
      correct += this.eng.k.softmax_xent_correct();
      const preds = this.eng.i32(this.preds, rows);
      for (let r = 0; r < rows; r++) confusion[labels[start + r] * C + preds[r]]++;
    }
    return { loss: loss / data.count, accuracy: correct / data.count, correct, count: data.count, confusion };
  }

  /** Class probabilities [count, classes] for u8 images [count, input]. */
  predict(images: Uint8Array): Float32Array {
    const n = images.length / this.arch.input;
    const C = this.arch.classes;
    const D = this.arch.input;
    const out = new Float32Array(n * C);
    for (let start = 0; start < n; start += this.maxRows) {
      const rows = Math.min(this.maxRows, n - start);
      this.eng.u8(this.stage.images, rows * D).set(images.subarray(start * D, (start + rows) * D));
      this.gather(this.stage, this.sequence(0, rows));
      this.logits(rows);
      const logits = this.acts[this.acts.length - 1];
      this.eng.k.softmax_forward(this.dA, logits, rows, C);
      out.set(this.eng.f32(this.dA, rows * C), start * C);
    }
    return out;
  }

  private sequence(start: number, rows: number): Int32Array {
    const idx = this.eng.i32(this.seq, rows);
    for (let r = 0; r < rows; r++) idx[r] = start + r;
    return idx;
  }

  private gather(data: DeviceSplit, idx: Int32Array): void {
    this.k.gather_batch(this.x, this.y, data.images, data.labels, idx.byteOffset, idx.length, this.arch.input);
  }

  /** Forward pass over the gathered rows: x [rows, input] → logits [rows, classes]. */
  private logits(rows: number): void {
    const k = this.k;
    const p = this.params;
    let input = this.x;
    this.layers.forEach((L, l) => {
      const out = this.acts[l];
      const gemm = l === 0 && this.sparse === true ? this.gemm.nnSparse : this.gemm.nn;
      gemm(rows, L.fanOut, L.fanIn, input, p + L.w * 4, out, false);
      k.bias_relu_forward(out, p + L.b * 4, rows, L.fanOut, l + 1 < this.layers.length);
      input = out;
    });
  }

  /** Forward + loss; returns the summed loss. dlogits/preds: addresses to fill, or 0. */
  private forward(rows: number, dlogits: number, preds = 0): number {
    this.logits(rows);
    const logits = this.acts[this.acts.length - 1];
    return this.eng.k.softmax_xent(logits, this.y, rows, this.arch.classes, dlogits, preds);
  }

  /** Backward pass from dlogits (in dA) to every parameter gradient. */
  private backward(rows: number): void {
    const k = this.k;
    const p = this.params;
    const g = this.grads;
    let dOut = this.dA;
    let dIn = this.dB;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l];
      const input = l === 0 ? this.x : this.acts[l - 1];
      // dW[in,out] = inputᵀ · dOut ; db = column sums of dOut
      const gemmTn = l === 0 && this.sparse === true ? this.gemm.tnSparse : this.gemm.tn;
      gemmTn(L.fanIn, L.fanOut, rows, input, dOut, g + L.w * 4, false);
      k.bias_backward(g + L.b * 4, dOut, rows, L.fanOut, false);
      if (l > 0) {
        // dInput[rows,in] = dOut · Wᵀ, masked by the ReLU that produced the input
        this.gemm.nt(rows, L.fanIn, L.fanOut, dOut, p + L.w * 4, dIn, false);
        k.relu_backward(dIn, input, rows * L.fanIn);
        [dOut, dIn] = [dIn, dOut];
      }
    }
  }

  private update(lr: number): void {
    const k = this.k;
    const o = this.optimizer;
    const n = this.paramCount;
    this.step++;
    if (o.kind === 'sgd') k.sgd_step(this.params, this.grads, n, lr, o.weightDecay);
    else if (o.kind === 'momentum') k.momentum_step(this.params, this.grads, this.state1, n, lr, o.momentum, o.weightDecay, o.nesterov);
    else k.adam_step(this.params, this.grads, this.state1, this.state2, n, lr, o.momentum, o.beta2, o.eps, o.weightDecay, this.step);
  }
}

function zeroFraction(images: Uint8Array): number {
  let zeros = 0;
  const stride = Math.max(1, Math.floor(images.length / 100_000)); // a sample is plenty
  let seen = 0;
  for (let i = 0; i < images.length; i += stride, seen++) if (images[i] === 0) zeros++;
  return seen ? zeros / seen : 0;
}
