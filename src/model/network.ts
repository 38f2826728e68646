// The network: its layers in order, as the spec reads (spec.ts), softmax + cross-entropy on top.
//
//   input [n, rows, cols, channels] u8 ─ gather, /255 ─▶ layers[0] ─▶ layers[1] ─▶ … ─▶ logits ─▶ softmax, loss
//
// All parameters live in one contiguous f32 buffer in WASM memory and all gradients in another of the same
// layout (as llm.c does), so the optimizer reads flat ranges. Memory is planned once, in the constructor, for the
// largest batch the network will see.
// A training step is three phases, each a list of kernel calls per thread (one list on one thread), so the
// threads meet at most three times per step, not once per kernel:
//   1. (a dense first layer on several threads) by halves of the input features: gather those columns of the
//      batch, and that half's product (see dense.ts).
//   2. by rows of the batch: the gather (else), every layer's forward pass, the loss, and the input gradients back
//      to the first layer; every row's values depend on that row alone.
//   3. by rows of each weight matrix: its weight gradient over the whole batch, then the optimizer step on those
//      rows; each layer's bias gradient and step go to one thread.
// Every element is computed by the same code in the same order whatever the split (the input halves are fixed
// by the layer's size, not by the threads), so the parameters are bit-identical for any thread count.
import { MAX_MEMORY, type Engine } from '../wasm/engine.js';
import { splitPoints } from '../wasm/gemm.js';
import { OpList } from '../wasm/pool.js';
import { Rng } from '../rng.js';
import { MemoryError, UsageError } from '../errors.js';
import { formatSpec, parseSpec, planShapes, flat, type LayerSpec, type Shape } from './spec.js';
import { defaultOptimizer, type OptimizerConfig, type ParamBuffers } from './optimizer.js';
import { Layer, type Plan, type RowBlock, type Update } from './layer.js';
import { Dense } from './dense.js';
import { Conv } from './conv.js';
import { MaxPool } from './pool.js';
import { Dropout } from './dropout.js';

/** What a network is: its hidden layers (a spec string, or parsed), its input's shape, and the classes. */
export interface Architecture {
  /** A preset name or layers, e.g. 'lenet5' or 'conv5x5:6,maxpool2,dense:64' (spec.ts); '' is no hidden layer. */
  spec: string | LayerSpec[];
  input: Shape;
  classes: number;
}

/** A split of a dataset, uploaded once into linear memory: u8 images, u8 labels. */
export interface DeviceSplit {
  images: number;
  labels: number;
  count: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  correct: number;
  count: number;
  /** confusion[label * classes + predicted] */
  confusion: Int32Array;
}

export interface NetworkOptions {
  /** Largest training batch. */
  batch: number;
  /** Rows per chunk when evaluating or predicting (default 256). */
  evalBatch?: number;
  optimizer?: Partial<OptimizerConfig>;
  /** Skip zero inputs in the first layer: true, false, or 'auto' (per dataset, when most pixels are 0). */
  sparse?: boolean | 'auto';
  /** Seed of the dropout masks (the training seed). */
  seed?: number;
}

/** Fewest batch rows worth a thread of their own. */
const MIN_ROWS = 8;

/** The layer objects for a spec on an input, with the output layer (dense to the classes) at the end. */
export function buildLayers(specs: LayerSpec[], input: Shape, classes: number): Layer[] {
  const shapes = planShapes(specs, input, classes);
  const all: (LayerSpec | null)[] = [...specs, null]; // null: the output layer
  let inShape = input;
  return all.map((L, i) => {
    const outShape = shapes[i];
    const first = i === 0;
    const layer =
      L === null ? new Dense(inShape, outShape, false, first)
      : L.kind === 'dense' ? new Dense(inShape, outShape, true, first)
      : L.kind === 'conv' ? new Conv(inShape, outShape, L.size, L.stride, L.pad, first)
      : L.kind === 'maxpool' ? new MaxPool(inShape, outShape, L.size, L.stride)
      : new Dropout(inShape, L.p);
    inShape = outShape;
    return layer;
  });
}

/** Places each layer's weights, then its biases, one layer after another in the flat parameter buffer; returns its length. */
export function layoutParams(paramLayers: Layer[]): number {
  let offset = 0;
  for (const L of paramLayers) {
    L.w = offset;
    L.b = offset + L.weightCount;
    offset = L.b + L.biasCount;
  }
  return offset;
}

export class Network {
  readonly layers: Layer[];
  /** The layers with parameters, in order: checkpoints name them layers.0, layers.1, … */
  readonly paramLayers: Layer[];
  /** The canonical spec of the hidden layers. */
  readonly spec: string;
  readonly input: Shape;
  readonly classes: number;
  readonly paramCount: number;
  readonly maxRows: number;
  readonly optimizer: OptimizerConfig;
  /** Optimizer steps taken (Adam's t; dropout masks depend on it). */
  step = 0;
  /** Seed of the dropout masks. */
  seed: number;

  private buf!: ParamBuffers;
  private x!: number; // [maxRows, input] gathered batch
  private y!: number; // [maxRows] u8 labels
  private preds!: number; // [maxRows] i32 predicted classes
  private losses!: number; // f64 [maxRows] per-row losses
  private ws!: number[]; // a GEMM workspace per chunk
  private parts!: OpList[]; // a list of kernel calls per chunk (thread)
  private seq!: number; // i32 [maxRows] scratch indices for sequential chunks
  private stage!: DeviceSplit; // u8 [maxRows, input] images handed to predict()
  private readonly first: Layer;
  private readonly last: Layer;

  constructor(readonly eng: Engine, arch: Architecture, opts: NetworkOptions) {
    const specs = typeof arch.spec === 'string' ? parseSpec(arch.spec) : arch.spec;
    for (const [what, v] of [['input channels', arch.input.c], ['input rows', arch.input.h], ['input cols', arch.input.w], ['classes', arch.classes], ['batch', opts.batch]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new UsageError(`${what} must be a positive integer, got ${v}`);
    }
    this.spec = formatSpec(specs);
    this.input = { ...arch.input };
    this.classes = arch.classes;
    this.layers = buildLayers(specs, this.input, this.classes);
    this.paramLayers = this.layers.filter((L) => L.weightCount > 0);
    this.first = this.layers[0];
    this.last = this.layers[this.layers.length - 1];
    this.optimizer = { ...defaultOptimizer, ...opts.optimizer };
    this.seed = opts.seed ?? 0;
    this.maxRows = Math.max(opts.batch, opts.evalBatch ?? 256);
    const rows = this.maxRows;

    this.paramCount = layoutParams(this.paramLayers);
    // (Batches too small for two threads (partsFor) keep the first layer's one product: the halves would only cost.)
    if (this.first instanceof Dense) this.first.splitInputs(opts.batch >= 2 * MIN_ROWS);
    for (const L of this.layers) L.describe(eng);
    // A max pool with windows apart passes back a gradient at most a quarter nonzero: the conv before it skips zeros.
    // A conv after a ReLU (or a max pool of one) gets mostly zeros in training (B5, B6: 70-80%): its forward skips them.
    this.layers.forEach((L, i) => {
      const [next, prev] = [this.layers[i + 1], this.layers[i - 1]];
      if (!(L instanceof Conv)) return;
      L.sparseGrad = next instanceof MaxPool && next.size >= 2 && next.stride >= next.size;
      L.scatteredInput = prev !== undefined && (prev.relu || (prev instanceof MaxPool && this.layers[i - 2]?.relu === true));
    });
    // The plan runs twice: counting bytes, then (when they fit) for real, so memory never fills halfway.
    let counted = 0;
    const count = (bytes: number) => ((counted = Math.ceil(counted / 64) * 64 + bytes), 64);
    const real = (bytes: number) => eng.alloc(bytes);
    const plan = (alloc: (bytes: number) => number): Plan => ({ eng, alloc, batch: opts.batch, maxRows: rows, chunks: eng.threads });
    this.lay(plan(count), opts.batch);
    const needed = eng.used + counted;
    if (needed > eng.maxBytes) throw memoryError(this, opts.batch, counted, needed, eng);
    this.lay(plan(real), opts.batch);
    this.parts = this.ws.map(() => new OpList());
    this.sparse = opts.sparse ?? 'auto';
  }

  /** Every buffer of the network, from `p.alloc`. */
  private lay(p: Plan, batch: number): void {
    const rows = p.maxRows;
    const bytes = this.paramCount * 4;
    const kind = this.optimizer.kind;
    this.buf = {
      params: p.alloc(bytes),
      grads: p.alloc(bytes),
      state1: kind === 'sgd' ? 0 : p.alloc(bytes),
      state2: kind === 'adam' ? p.alloc(bytes) : 0,
    };
    const D = this.inputSize;
    this.x = p.alloc(rows * D * 4);
    this.y = p.alloc(rows);
    this.preds = p.alloc(rows * 4);
    let input = this.x;
    let inRelu = false;
    let dIn = 0;
    for (const L of this.layers) {
      L.in = input;
      L.inRelu = inRelu;
      L.dIn = dIn;
      L.out = p.alloc(rows * L.outSize * 4);
      L.dOut = p.alloc(batch * L.outSize * 4);
      L.allocate(p);
      [input, inRelu, dIn] = [L.out, L.relu, L.dOut];
    }
    this.losses = p.alloc(rows * 8);
    const wsBytes = Math.max(...this.layers.map((L) => L.workspaceBytes(p)));
    this.ws = Array.from({ length: p.chunks }, () => p.alloc(wsBytes));
    this.seq = p.alloc(rows * 4);
    this.stage = { images: p.alloc(rows * D), labels: p.alloc(rows), count: rows };
  }

  /** Whether the first layer skips zero inputs: true, false, or 'auto' (decided by the first upload). */
  get sparse(): boolean | 'auto' {
    return this.sparseChoice;
  }
  set sparse(v: boolean | 'auto') {
    this.sparseChoice = v;
    if (this.first instanceof Dense || this.first instanceof Conv) this.first.sparseInput = v === true;
  }
  private sparseChoice: boolean | 'auto' = 'auto';

  /** Glorot-uniform weights, bound sqrt(6/(fan_in+fan_out)), zero biases; optimizer state cleared. */
  init(rng: Rng): void {
    const p = this.paramView();
    for (const L of this.paramLayers) {
      const [fanIn, fanOut] = L.fans();
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      // Drawn in PyTorch's layout, so a seed means the same network whatever the layout here.
      for (let i = 0, n = L.weightCount; i < n; i++) p[L.w + L.torchToInternal(i)] = (2 * rng.nextFloat() - 1) * bound;
      p.fill(0, L.b, L.b + L.biasCount);
    }
    this.resetOptimizer();
  }

  resetOptimizer(): void {
    this.step = 0;
    for (const v of this.stateViews()) v.fill(0);
  }

  /** The parameters, as a view over linear memory (layout: each of `paramLayers` at its `w` and `b`). */
  paramView(): Float32Array {
    return this.eng.f32(this.buf.params, this.paramCount);
  }
  /** The last step's gradients; with plain SGD, not the weight gradients of dense layers that skip zero inputs:
   *  those are applied as they are computed, without being stored. */
  gradView(): Float32Array {
    return this.eng.f32(this.buf.grads, this.paramCount);
  }
  /** Optimizer state buffers the optimizer keeps: 0 (sgd), 1 (momentum), 2 (adam). */
  get optimizerStates(): number {
    return { sgd: 0, momentum: 1, adam: 2 }[this.optimizer.kind];
  }
  /** Optimizer state buffers: [] (sgd), [velocity] (momentum), [m, v] (adam). */
  stateViews(): Float32Array[] {
    return [this.buf.state1, this.buf.state2].filter((p) => p !== 0).map((p) => this.eng.f32(p, this.paramCount));
  }

  /** Input features per sample. */
  get inputSize(): number {
    return flat(this.input);
  }

  /**
   * Copies a split's images and labels into linear memory once. Bytes already in this engine's memory
   * (read there by loadDataset with the engine as its store) are used where they are, not copied.
   */
  upload(images: Uint8Array, labels: Uint8Array, count: number): DeviceSplit {
    if (images.length !== count * this.inputSize) {
      throw new RangeError(`expected ${count}×${this.inputSize} pixels, got ${images.length}`);
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
    const parts = this.forward(data, idx, rows, true, (blk) => {
      this.lossOps(blk, rows, true);
      for (let l = this.layers.length - 1; l >= 0; l--) {
        if (l > 0) this.layers[l].backward(blk);
        this.layers[l].gradientRows(blk, this.eng);
      }
    });
    this.step++;
    for (let t = 0; t < parts; t++) this.updateOps(this.parts[t].clear(), t, parts, rows, lr);
    this.eng.run(this.parts, parts);
    return this.sumLosses(rows) / rows;
  }

  /** Loss, accuracy and confusion matrix over a whole split. */
  evaluate(data: DeviceSplit): Evaluation {
    const C = this.classes;
    const confusion = new Int32Array(C * C);
    const labels = this.eng.u8(data.labels, data.count);
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += this.maxRows) {
      const rows = Math.min(this.maxRows, data.count - start);
      this.forward(data, this.sequence(start, rows), rows, false, (blk) => this.lossOps(blk, rows, false));
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
    const D = this.inputSize;
    if (images.length % D !== 0) {
      throw new UsageError(`predict: ${images.length} bytes is not a whole number of ${this.input.h}×${this.input.w}×${this.input.c} images (${D} bytes each)`);
    }
    const n = images.length / D;
    const C = this.classes;
    const out = new Float32Array(n * C);
    const probs = this.last.out;
    for (let start = 0; start < n; start += this.maxRows) {
      const rows = Math.min(this.maxRows, n - start);
      this.eng.u8(this.stage.images, rows * D).set(images.subarray(start * D, (start + rows) * D));
      this.forward(this.stage, this.sequence(0, rows), rows, false, (blk) => {
        blk.ops.push('softmax_forward', probs + 4 * blk.lo * C, probs + 4 * blk.lo * C, blk.hi - blk.lo, C);
      });
      out.set(this.eng.f32(probs, rows * C), start * C);
    }
    return out;
  }

  /** Threads to split `rows` rows over: blocks of at least MIN_ROWS rows, one thread below that. */
  private partsFor(rows: number): number {
    return Math.max(1, Math.min(this.parts.length, Math.floor(rows / MIN_ROWS)));
  }

  private block(t: number, lo: number, hi: number, training: boolean, idx: Int32Array): RowBlock {
    return {
      ops: this.parts[t], lo, hi, chunk: t, ws: this.ws[t], training, params: this.buf.params,
      idx: idx.byteOffset, seed: this.seed, step: this.step,
    };
  }

  /**
   * The forward pass over data[idx[0..rows)], then `then`'s calls for each block of rows. Returns the threads
   * it split the rows over. A dense first layer in training is two input parts (dense.ts), on several threads a
   * phase of their own (phase 1): part s × row block r on its own thread (row blocks only with threads to spare:
   * each thread still owns a block of the layer's weight rows, as in phase 3). Otherwise each block of rows
   * computes its first-layer part(s) itself, in one phase.
   */
  private forward(data: DeviceSplit, idx: Int32Array, rows: number, training: boolean, then: (blk: RowBlock) => void): number {
    const parts = this.partsFor(rows);
    const first = this.first instanceof Dense ? this.first : null;
    const inputCuts = first ? first.cutsFor(training) : [0, this.inputSize];
    const inputParts = inputCuts.length - 1;
    const byInputs = first !== null && inputParts > 1 && parts > 1;
    if (byInputs) {
      const rowBlocks = Math.max(1, Math.floor(parts / inputParts));
      const lists = Math.min(parts, inputParts * rowBlocks);
      const cuts = splitPoints(rows, rowBlocks, 1);
      for (let t = 0; t < lists; t++) this.parts[t].clear();
      for (let s = 0, c = 0; s < inputParts; s++) {
        for (let r = 0; r < rowBlocks; r++, c++) {
          const blk = this.block(c % lists, cuts[r], cuts[r + 1], training, idx);
          this.gatherOps(blk, data, idx, inputCuts[s], inputCuts[s + 1]);
          first.partForward(blk, inputCuts, s);
        }
      }
      this.eng.run(this.parts, lists);
    }
    const cuts = splitPoints(rows, parts, 1);
    for (let t = 0; t < parts; t++) {
      this.parts[t].clear();
      const blk = this.block(t, cuts[t], cuts[t + 1], training, idx);
      if (!byInputs) {
        this.gatherOps(blk, data, idx, 0, this.inputSize);
        if (first) for (let s = 0; s < inputParts; s++) first.partForward(blk, inputCuts, s);
      }
      for (const L of this.layers) L.forward(blk);
      then(blk);
    }
    this.eng.run(this.parts, parts);
    return parts;
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
  private gatherOps(blk: RowBlock, data: DeviceSplit, idx: Int32Array, k0: number, k1: number): void {
    const D = this.inputSize;
    const { lo, hi } = blk;
    blk.ops.push('gather_batch', this.x + 4 * lo * D, k0 === 0 ? this.y + lo : 0, data.images, data.labels, idx.byteOffset + 4 * lo, hi - lo, D, k0, k1);
  }

  // Rows [lo, hi) of a `rows`-row batch: per-row losses and predictions, and dlogits when training.
  private lossOps(blk: RowBlock, rows: number, training: boolean): void {
    const C = this.classes;
    const { lo, hi } = blk;
    const dlogits = training ? this.last.dOut + 4 * lo * C : 0;
    const preds = training ? 0 : this.preds + 4 * lo;
    blk.ops.push('softmax_xent', this.last.out + 4 * lo * C, this.y + lo, hi - lo, C, dlogits, preds, this.losses + 8 * lo, rows);
  }

  // Part t of `parts`: each layer's weight rows [a, b) (e.g. a dense layer's block of input features), its
  // gradient over the batch and optimizer step; layer l's bias on part l mod parts.
  private updateOps(ops: OpList, t: number, parts: number, rows: number, lr: number): void {
    const u: Update = { eng: this.eng, ops, ws: this.ws[t], rows, lr, opt: this.optimizer, buf: this.buf, step: this.step };
    this.paramLayers.forEach((L, l) => {
      const cuts = splitPoints(L.weightRows, parts, 1);
      if (t + 1 < cuts.length) L.weightUpdate(u, cuts[t], cuts[t + 1]);
      if (l % parts === t) L.biasUpdate(u);
    });
  }
}

const mb = (bytes: number) => `${Math.ceil(bytes / 2 ** 20).toLocaleString('en')} MB`;

/** The one line a network too large for memory gets: what it needs, the limit, and what to change. */
function memoryError(net: Network, batch: number, planned: number, needed: number, eng: Engine): MemoryError {
  const params = net.paramCount * 4 * (2 + net.optimizerStates);
  const threads = eng.threads > 1 ? ` for ${eng.threads} threads, which share their memory (${mb(MAX_MEMORY)} on one thread)` : '';
  return new MemoryError(
    `the network needs ${mb(needed)} of WebAssembly memory at batch ${batch} (parameters, gradients and optimizer state ${mb(params)}, ` +
      `activations and workspaces ${mb(planned - params)}, data ${mb(eng.used)}); the limit is ${mb(eng.maxBytes)}${threads}: ` +
      `use a smaller --batch or smaller layers`,
    needed,
    eng.maxBytes,
  );
}

function zeroFraction(images: Uint8Array): number {
  let zeros = 0;
  const stride = Math.max(1, Math.floor(images.length / 100_000)); // a sample is plenty
  let seen = 0;
  for (let i = 0; i < images.length; i += stride, seen++) if (images[i] === 0) zeros++;
  return seen ? zeros / seen : 0;
}
