// The network: a stack of dense layers with ReLU between them, softmax + cross-entropy on top.
// All parameters live in one contiguous f32 buffer in WASM memory and all gradients in another of the
// same layout (as llm.c does), so an optimizer step is one kernel call. Weights are stored [in, out]
// (Y = X·W + b): the sparse first layer then reads and writes whole contiguous rows of W.
// Memory is planned once, in the constructor, for the largest batch the model will see.
//
// In training, the first layer's product is computed as two halves, X[:, :h]·W0[:h] + X[:, h:]·W0[h:], summed
// (then the bias): a thread can then own one half of W0, the layer's rows it both reads in the forward pass
// and updates, so that half stays in its core's cache. (Split by batch rows instead, every thread read all of
// W0 and packed it again, and W0 moved between the cores each step: up to 1.2× slower on two threads.)
// Evaluation and prediction, which update nothing, compute the one product by rows (the halves cost them
// up to 1.2× at 1000 rows); their results differ from a training step's forward pass in the last bits only.
// A training step is three phases, each a list of kernel calls per thread (one list on one thread), so the
// threads meet three times per step, not once per kernel:
//   1. by halves of the input features: gather those columns of the batch, and that half's product.
//   2. by rows of the batch: the halves' sum, the rest of the forward pass, the loss, and the input gradients
//      back to the first hidden layer; every row's values depend on that row alone.
//   3. by rows of each weight matrix (input features): its weight gradient, then the optimizer step on those
//      rows; the bias gradients and steps go to one thread per layer.
// Every element is computed by the same code in the same order whatever the split (the halves are fixed by
// the layer's size, not by the threads), so the parameters are bit-identical for any thread count.
import type { Engine } from '../wasm/engine.js';
import { splitPoints } from '../wasm/gemm.js';
import { OpList, type KernelName } from '../wasm/pool.js';
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

/** Fewest batch rows worth a thread of their own. */
const MIN_ROWS = 8;
/** Parts the first layer's inputs are split into (see the top); their products are summed in order. */
const INPUT_PARTS = 2;

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
  private readonly acts: number[]; // per layer [maxRows, fanOut]; the last one holds logits, then probabilities
  private readonly inputCuts: number[]; // the first layer's input parts in training: columns [inputCuts[s], inputCuts[s + 1])
  private readonly partial: number; // [batch, fanOut of layer 0]: the second part's product, before the sum
  private readonly dOuts: number[]; // per layer [batch, fanOut] gradients of its output, kept for phase 3
  private readonly losses: number; // f64 [maxRows] per-row losses
  private readonly ws: number[]; // a GEMM workspace per thread
  private readonly parts: OpList[]; // a list of kernel calls per thread
  private readonly seq: number; // i32 [maxRows] scratch indices for sequential chunks
  private readonly stage: DeviceSplit; // u8 [maxRows, input] images handed to predict()

  constructor(readonly eng: Engine, readonly arch: Architecture, opts: ModelOptions) {
    const sizes = layerSizes(arch);
    for (const s of sizes) {
      if (!Number.isInteger(s) || s < 1) throw new RangeError(`layer sizes must be positive integers: ${sizes.join('-')}`);
    }
    this.optimizer = { ...defaultOptimizer, ...opts.optimizer };
    this.sparse = opts.sparse ?? 'auto';
    this.maxRows = Math.max(opts.batch, opts.evalBatch ?? 256);
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
    this.x = eng.alloc(rows * arch.input * 4);
    this.y = eng.alloc(rows);
    this.preds = eng.alloc(rows * 4);
    this.acts = this.layers.map((L) => eng.alloc(rows * L.fanOut * 4));
    // (Batches too small for two threads (partsFor) keep the one product: the halves would only cost.)
    this.inputCuts = opts.batch >= 2 * MIN_ROWS ? splitPoints(arch.input, INPUT_PARTS, 4) : [0, arch.input];
    this.partial = this.inputCuts.length > 2 ? eng.alloc(opts.batch * this.layers[0].fanOut * 4) : 0;
    this.dOuts = this.layers.map((L) => eng.alloc(opts.batch * L.fanOut * 4));
    this.losses = eng.alloc(rows * 8);
    // A thread's forward block has at most ceil(rows / threads) rows, or fewer than 2·MIN_ROWS (partsFor).
    const block = Math.min(rows, Math.max(Math.ceil(rows / eng.threads), 2 * MIN_ROWS));
    let wsBytes = k.gemm_ws_bytes(opts.batch, this.layers[0].fanOut, Math.max(...this.inputCuts.slice(1).map((c, s) => c - this.inputCuts[s])));
    for (const L of this.layers) {
      wsBytes = Math.max(
        wsBytes,
        k.gemm_ws_bytes(block, L.fanOut, L.fanIn), // forward
        k.gemm_ws_bytes(L.fanIn, L.fanOut, opts.batch), // weight gradient
        k.gemm_ws_bytes(opts.batch, L.fanIn, L.fanOut), // input gradient
      );
    }
    this.ws = Array.from({ length: eng.threads }, () => eng.alloc(wsBytes));
    this.parts = this.ws.map(() => new OpList());
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
  /** The last step's gradients; with plain SGD, not the weight gradients of layers that skip zero inputs
   *  (see skipsZeros): those are applied as they are computed, without being stored. */
  gradView(): Float32Array {
    return this.eng.f32(this.grads, this.paramCount);
  }
  /** Optimizer state buffers: [] (sgd), [velocity] (momentum), [m, v] (adam). */
  stateViews(): Float32Array[] {
    return [this.state1, this.state2].filter((p) => p !== 0).map((p) => this.eng.f32(p, this.paramCount));
  }

  /**
   * Copies a split's images and labels into linear memory once. Bytes already in this engine's memory
   * (read there by loadDataset with the engine as its store) are used where they are, not copied.
   */
  upload(images: Uint8Array, labels: Uint8Array, count: number): DeviceSplit {
    if (images.length !== count * this.arch.input) {
      throw new RangeError(`expected ${count}×${this.arch.input} pixels, got ${images.length}`);
    }
    // Addresses and the zero count first: an alloc below can grow memory, detaching views of it.
    const mem = this.eng.memory.buffer;
    const [imagesAt, labelsAt] = [images, labels].map((bytes) => (bytes.buffer === mem ? bytes.byteOffset : -1));
    if (this.sparse === 'auto') this.sparse = zeroFraction(images) > 0.5;
    const place = (bytes: Uint8Array, at: number, length: number): number => {
      if (at >= 0) return at;
      const ptr = this.eng.alloc(length, 16);
      this.eng.u8(ptr, length).set(bytes);
      return ptr;
    };
    return { images: place(images, imagesAt, images.length), labels: place(labels, labelsAt, count), count };
  }

  /** An i32 index buffer in linear memory (e.g. the epoch's shuffled order). */
  allocIndices(count: number): Int32Array {
    return this.eng.i32(this.eng.alloc(count * 4, 16), count);
  }

  /** One optimizer step on the samples data[idx[0..rows)]; returns the batch's mean loss. */
  trainStep(data: DeviceSplit, idx: Int32Array, lr: number): number {
    const rows = idx.length;
    const parts = this.forward(data, idx, rows, true, (ops, lo, hi, ws) => {
      this.lossOps(ops, lo, hi, rows, true);
      this.backwardOps(ops, lo, hi, ws);
    });
    this.step++;
    for (let t = 0; t < parts; t++) this.updateOps(this.parts[t].clear(), t, parts, rows, lr);
    this.eng.run(this.parts, parts);
    return this.sumLosses(rows) / rows;
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
      this.forward(data, this.sequence(start, rows), rows, false, (ops, lo, hi) => this.lossOps(ops, lo, hi, rows, false));
      loss += this.sumLosses(rows);
      const preds = this.eng.i32(this.preds, rows);
      for (let r = 0; r < rows; r++) {
        const label = labels[start + r];
        confusion[label * C + preds[r]]++;
        if (preds[r] === label) correct++;
      }
    }
    return { loss: loss / data.count, accuracy: correct / data.count, correct, count: data.count, confusion };
  }

  /** Class probabilities [count, classes] for u8 images [count, input]. */
  predict(images: Uint8Array): Float32Array {
    const n = images.length / this.arch.input;
    const C = this.arch.classes;
    const D = this.arch.input;
    const out = new Float32Array(n * C);
    const probs = this.acts[this.acts.length - 1];
    for (let start = 0; start < n; start += this.maxRows) {
      const rows = Math.min(this.maxRows, n - start);
      this.eng.u8(this.stage.images, rows * D).set(images.subarray(start * D, (start + rows) * D));
      this.forward(this.stage, this.sequence(0, rows), rows, false, (ops, lo, hi) => {
        ops.push('softmax_forward', probs + 4 * lo * C, probs + 4 * lo * C, hi - lo, C);
      });
      out.set(this.eng.f32(probs, rows * C), start * C);
    }
    return out;
  }

  /** Threads to split `rows` rows over: blocks of at least MIN_ROWS rows, one thread below that. */
  private partsFor(rows: number): number {
    return Math.max(1, Math.min(this.parts.length, Math.floor(rows / MIN_ROWS)));
  }

  /**
   * The forward pass over data[idx[0..rows)], then `then`'s calls for each block of rows. Returns the threads
   * it split the rows over. In training the first layer is two input parts (see the top), on several
   * threads a phase of their own (phase 1): part s × row block r on its own thread (row blocks only with
   * threads to spare: each thread still owns a block of W0's rows, as in phase 3). Otherwise each block of
   * rows computes its first-layer part(s) itself, in one phase.
   */
  private forward(
    data: DeviceSplit, idx: Int32Array, rows: number, training: boolean, then: (ops: OpList, lo: number, hi: number, ws: number) => void,
  ): number {
    const parts = this.partsFor(rows);
    const inputCuts = training ? this.inputCuts : [0, this.arch.input];
    const inputParts = inputCuts.length - 1;
    const byInputs = inputParts > 1 && parts > 1;
    if (byInputs) {
      const rowBlocks = Math.max(1, Math.floor(parts / inputParts));
      const lists = Math.min(parts, inputParts * rowBlocks);
      const cuts = splitPoints(rows, rowBlocks, 1);
      for (let t = 0; t < lists; t++) this.parts[t].clear();
      for (let s = 0, c = 0; s < inputParts; s++) {
        for (let r = 0; r < rowBlocks; r++, c++) {
          const [ops, lo, hi, ws] = [this.parts[c % lists], cuts[r], cuts[r + 1], this.ws[c % lists]];
          this.gatherOps(ops, data, idx, lo, hi, inputCuts[s], inputCuts[s + 1]);
          this.inputPartOps(ops, inputCuts, s, lo, hi, ws);
        }
      }
      this.eng.run(this.parts, lists);
    }
    this.runByRows(rows, parts, (ops, lo, hi, ws) => {
      if (!byInputs) {
        this.gatherOps(ops, data, idx, lo, hi, 0, this.arch.input);
        for (let s = 0; s < inputParts; s++) this.inputPartOps(ops, inputCuts, s, lo, hi, ws);
      }
      this.forwardOps(ops, lo, hi, inputParts > 1, ws);
      then(ops, lo, hi, ws);
    });
    return parts;
  }

  /** Runs `fill`'s calls for blocks [lo, hi) of `rows` rows, block t on thread t (with its GEMM workspace). */
  private runByRows(rows: number, parts: number, fill: (ops: OpList, lo: number, hi: number, ws: number) => void): void {
    const cuts = splitPoints(rows, parts, 1);
    for (let t = 0; t < parts; t++) fill(this.parts[t].clear(), cuts[t], cuts[t + 1], this.ws[t]);
    this.eng.run(this.parts, parts);
  }

  private sequence(start: number, rows: number): Int32Array {
    const idx = this.eng.i32(this.seq, rows);
    for (let r = 0; r < rows; r++) idx[r] = start + r;
    return idx;
  }

  /** Σ of the last pass's per-row losses, in row order (the same sum whatever the split). */
  private sumLosses(rows: number): number {
    const losses = this.eng.f64(this.losses, rows);
    let sum = 0;
    for (let r = 0; r < rows; r++) sum += losses[r];
    return sum;
  }

  // Rows [lo, hi) of the batch, columns [k0, k1): x ← data[idx[lo..hi)] (and y, with the first columns).
  private gatherOps(ops: OpList, data: DeviceSplit, idx: Int32Array, lo: number, hi: number, k0: number, k1: number): void {
    const D = this.arch.input;
    ops.push('gather_batch', this.x + 4 * lo * D, k0 === 0 ? this.y + lo : 0, data.images, data.labels, idx.byteOffset + 4 * lo, hi - lo, D, k0, k1);
  }

  // Rows [lo, hi) of the batch: input part s's product X[:, k0:k1]·W0[k0:k1] (k0, k1 = cuts[s], cuts[s + 1])
  // into the first layer's output (part 0) or `partial` (part 1).
  private inputPartOps(ops: OpList, cuts: number[], s: number, lo: number, hi: number, ws: number): void {
    const L = this.layers[0];
    const [k0, k1] = [cuts[s], cuts[s + 1]];
    const out = (s === 0 ? this.acts[0] : this.partial) + 4 * lo * L.fanOut;
    const gemm: KernelName = this.skipsZeros(0, hi - lo) ? 'gemm_nn_sparse_ld' : 'gemm_nn_ld';
    const D = this.arch.input;
    ops.push(gemm, hi - lo, L.fanOut, k1 - k0, this.x + 4 * (lo * D + k0), D, this.params + 4 * (L.w + k0 * L.fanOut), L.fanOut, out, L.fanOut, 0, ws);
  }

  // Rows [lo, hi): the first layer's parts summed (`partial`: there are two) → logits [rows, classes] (in the last acts).
  private forwardOps(ops: OpList, lo: number, hi: number, partial: boolean, ws: number): void {
    const p = this.params;
    const last = this.layers.length - 1;
    this.layers.forEach((L, l) => {
      const out = this.acts[l] + 4 * lo * L.fanOut;
      if (l > 0) {
        const gemm: KernelName = this.skipsZeros(l, hi - lo) ? 'gemm_nn_sparse_ld' : 'gemm_nn_ld';
        // out[rows, fanOut] = input[rows, fanIn] · W[fanIn, fanOut]
        ops.push(gemm, hi - lo, L.fanOut, L.fanIn, this.acts[l - 1] + 4 * lo * L.fanIn, L.fanIn, p + 4 * L.w, L.fanOut, out, L.fanOut, 0, ws);
      }
      // + the second input part (first layer), + b, then ReLU (not after the last layer)
      const part = l === 0 && partial ? this.partial + 4 * lo * L.fanOut : 0;
      ops.push('bias_relu_forward', out, part, p + 4 * L.b, hi - lo, L.fanOut, l < last ? 1 : 0);
    });
  }

  // Rows [lo, hi) of a `rows`-row batch: per-row losses and predictions, and dlogits when training.
  private lossOps(ops: OpList, lo: number, hi: number, rows: number, training: boolean): void {
    const C = this.arch.classes;
    const logits = this.acts[this.acts.length - 1];
    const dlogits = training ? this.dOuts[this.dOuts.length - 1] + 4 * lo * C : 0;
    const preds = training ? 0 : this.preds + 4 * lo;
    ops.push('softmax_xent', logits + 4 * lo * C, this.y + lo, hi - lo, C, dlogits, preds, this.losses + 8 * lo, rows);
  }

  // Rows [lo, hi): from dlogits back to the gradient of the first layer's output.
  private backwardOps(ops: OpList, lo: number, hi: number, ws: number): void {
    for (let l = this.layers.length - 1; l > 0; l--) {
      const L = this.layers[l];
      const dOut = this.dOuts[l] + 4 * lo * L.fanOut;
      const dIn = this.dOuts[l - 1] + 4 * lo * L.fanIn;
      // dIn[rows, fanIn] = dOut[rows, fanOut] · Wᵀ, masked by the ReLU that produced the input
      ops.push('gemm_nt_relu_ld', hi - lo, L.fanIn, L.fanOut, dOut, L.fanOut, this.params + 4 * L.w, L.fanOut, dIn, L.fanIn, this.acts[l - 1] + 4 * lo * L.fanIn, ws);
    }
  }

  // Part t of `parts`: each layer's weight rows [a, b) (its block of input features): dW = inputᵀ · dOut
  // over the batch, then the optimizer step on them; layer l's bias on part l mod parts.
  private updateOps(ops: OpList, t: number, parts: number, rows: number, lr: number): void {
    const ws = this.ws[t];
    this.layers.forEach((L, l) => {
      const cuts = splitPoints(L.fanIn, parts, 1);
      if (t + 1 < cuts.length) {
        const [a, b] = [cuts[t], cuts[t + 1]];
        const input = l === 0 ? this.x : this.acts[l - 1];
        const sparse = this.skipsZeros(l, rows);
        const w = L.w + a * L.fanOut;
        if (sparse && this.optimizer.kind === 'sgd') {
          // the gradient rows applied as they are computed (rows of zero inputs skipped), not stored
          ops.push('sgd_tn_sparse', b - a, L.fanOut, rows, input + 4 * a, L.fanIn, this.dOuts[l], this.params + 4 * w, this.grads + 4 * w, lr, this.optimizer.weightDecay, ws);
        } else {
          const gemm: KernelName = sparse ? 'gemm_tn_sparse_ld' : 'gemm_tn_ld';
          ops.push(gemm, b - a, L.fanOut, rows, input + 4 * a, L.fanIn, this.dOuts[l], L.fanOut, this.grads + 4 * w, L.fanOut, 0, ws);
          this.optimizerOps(ops, w, (b - a) * L.fanOut, lr);
        }
      }
      if (l % parts === t) {
        ops.push('bias_backward', this.grads + 4 * L.b, this.dOuts[l], rows, L.fanOut, 0);
        this.optimizerOps(ops, L.b, L.fanOut, lr);
      }
    });
  }

  /** Whether layer l's products skip zero inputs at `rows` rows (the same bits either way): the first layer on
   *  sparse data (images), and at batch 1 the hidden layers too, whose ReLU outputs are about half zeros. */
  private skipsZeros(l: number, rows: number): boolean {
    return l === 0 ? this.sparse === true : rows === 1;
  }

  // The optimizer step on parameters [offset, offset + n).
  private optimizerOps(ops: OpList, offset: number, n: number, lr: number): void {
    const o = this.optimizer;
    const [p, g, s1, s2] = [this.params, this.grads, this.state1, this.state2].map((ptr) => ptr + 4 * offset);
    if (o.kind === 'sgd') ops.push('sgd_step', p, g, n, lr, o.weightDecay);
    else if (o.kind === 'momentum') ops.push('momentum_step', p, g, s1, n, lr, o.momentum, o.weightDecay, o.nesterov ? 1 : 0);
    else ops.push('adam_step', p, g, s1, s2, n, lr, o.momentum, o.beta2, o.eps, o.weightDecay, this.step);
  }
}

function zeroFraction(images: Uint8Array): number {
  let zeros = 0;
  const stride = Math.max(1, Math.floor(images.length / 100_000)); // a sample is plenty
  let seen = 0;
  for (let i = 0; i < images.length; i += stride, seen++) if (images[i] === 0) zeros++;
  return seen ? zeros / seen : 0;
}
