// A model as safetensors: `layers.{i}.weight` [out, in] (PyTorch nn.Linear layout) and `layers.{i}.bias` [out],
// with the architecture and training state as `__metadata__` strings. A resume checkpoint adds the optimizer
// state (`optimizer.{buffer}.layers.{i}.…`) and the best weights so far (`best.layers.{i}.…`).
import { CheckpointError } from '../errors.js';
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from './safetensors.js';
import { layerSizes, Mlp, type Architecture, type Layer, type OptimizerConfig } from '../model/mlp.js';
import type { Engine } from '../wasm/engine.js';
import type { Background } from '../data/background.js';

export const FORMAT_VERSION = 1;

/** What a checkpoint says about itself, beside the tensors. */
export interface CheckpointInfo {
  arch: Architecture;
  rows: number;
  cols: number;
  epoch: number;
  seed: number;
  optimizer: OptimizerConfig;
  step: number;
  dataFingerprint: string;
  /** The training images' background ('dark' as MNIST's; absent in older checkpoints, which mean that). */
  background?: Background;
  /** Resume state (only in last.safetensors). */
  train?: TrainState;
}

export interface TrainState {
  /** RNG state at the start of the epoch under way (its shuffle is redrawn from it). */
  rngState: number[];
  /** Batches already done in that epoch, and their summed loss. */
  batchInEpoch: number;
  partialLoss: number;
  bestValLoss: number | null;
  bestEpoch: number;
  badEpochs: number;
  history: unknown[];
  /** The training configuration (a TrainConfig), so a resume needs no flags. */
  config: unknown;
  /** Training images held out for validation (--val); absent in older checkpoints. */
  val?: number;
}

export interface Checkpoint {
  info: CheckpointInfo;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** The names optimizer state buffers are saved under, in the order Mlp.stateViews() returns them. */
function stateNames(o: OptimizerConfig): string[] {
  return o.kind === 'momentum' ? ['velocity'] : o.kind === 'adam' ? ['m', 'v'] : [];
}

/** A flat buffer in the model's [in, out] layout → PyTorch-layout tensors named prefix + layers.i.… */
export function bufferTensors(layers: Layer[], buf: Float32Array, prefix = ''): NamedTensor[] {
  const out: NamedTensor[] = [];
  layers.forEach((L, i) => {
    // Written transposed straight into the file's bytes when it is encoded (no copy of the model).
    const weight = (w: Float32Array) => {
      for (let r = 0; r < L.fanIn; r++) {
        for (let c = 0; c < L.fanOut; c++) w[c * L.fanIn + r] = buf[L.w + r * L.fanOut + c];
      }
    };
    out.push({ name: `${prefix}layers.${i}.weight`, shape: [L.fanOut, L.fanIn], data: weight });
    out.push({ name: `${prefix}layers.${i}.bias`, shape: [L.fanOut], data: buf.subarray(L.b, L.b + L.fanOut) });
  });
  return out;
}

/** The inverse of bufferTensors: fills buf from the tensors, checking every shape. */
export function fillBuffer(layers: Layer[], buf: Float32Array, ck: Checkpoint, prefix: string, file: string): void {
  layers.forEach((L, i) => {
    const w = tensor(ck, `${prefix}layers.${i}.weight`, [L.fanOut, L.fanIn], file);
    const b = tensor(ck, `${prefix}layers.${i}.bias`, [L.fanOut], file);
    for (let r = 0; r < L.fanIn; r++) {
      for (let c = 0; c < L.fanOut; c++) buf[L.w + r * L.fanOut + c] = w[c * L.fanIn + r];
    }
    buf.set(b, L.b);
  });
}

function tensor(ck: Checkpoint, name: string, shape: number[], file: string): Float32Array {
  const t = ck.tensors.get(name);
  if (!t) throw new CheckpointError(`${file}: missing tensor ${name}`);
  if (t.shape.join(',') !== shape.join(',')) {
    throw new CheckpointError(`${file}: tensor ${name} has shape [${t.shape}], the architecture needs [${shape}]`);
  }
  return t.data;
}

export interface SaveOptions {
  info: CheckpointInfo;
  /** Include optimizer state and these best weights: a resume checkpoint. */
  resume?: { best: Float32Array };
}

export function encodeCheckpoint(model: Mlp, opts: SaveOptions): Uint8Array {
  const { info } = opts;
  const tensors = bufferTensors(model.layers, model.paramView());
  if (opts.resume) {
    const names = stateNames(model.optimizer);
    model.stateViews().forEach((v, i) => tensors.push(...bufferTensors(model.layers, v, `optimizer.${names[i]}.`)));
    tensors.push(...bufferTensors(model.layers, opts.resume.best, 'best.'));
  }
  const metadata: Record<string, string> = {
    format: 'barenet',
    format_version: String(FORMAT_VERSION),
    architecture: layerSizes(info.arch).join('-'),
    image_rows: String(info.rows),
    image_cols: String(info.cols),
    epoch: String(info.epoch),
    seed: String(info.seed),
    optimizer: JSON.stringify(info.optimizer),
    step: String(info.step),
    data_fingerprint: info.dataFingerprint,
  };
  if (info.background) metadata.image_background = info.background;
  if (info.train) metadata.train_state = JSON.stringify(info.train);
  return encodeSafetensors(tensors, metadata);
}

export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { tensors, metadata: m } = decodeSafetensors(bytes, file);
  if (m.format !== 'barenet') throw new CheckpointError(`${file}: not a barenet checkpoint (no format: barenet in its metadata)`);
  const version = Number(m.format_version);
  if (!Number.isInteger(version) || version < 1) throw new CheckpointError(`${file}: bad format_version "${m.format_version}"`);
  if (version > FORMAT_VERSION) {
    throw new CheckpointError(`${file}: written by a newer barenet (format version ${version}); this one reads version ${FORMAT_VERSION}`);
  }
  const sizes = (m.architecture ?? '').split('-').map(Number);
  if (sizes.length < 2 || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
    throw new CheckpointError(`${file}: bad architecture "${m.architecture}" in metadata`);
  }
  const arch: Architecture = { input: sizes[0], hidden: sizes.slice(1, -1), classes: sizes[sizes.length - 1] };
  if (m.image_background !== undefined && m.image_background !== 'light' && m.image_background !== 'dark') {
    throw new CheckpointError(`${file}: bad image_background "${m.image_background}" in metadata (dark or light)`);
  }
  const info: CheckpointInfo = {
    arch,
    rows: int(m.image_rows, 'image_rows', file),
    cols: int(m.image_cols, 'image_cols', file),
    epoch: int(m.epoch, 'epoch', file),
    seed: int(m.seed, 'seed', file),
    optimizer: json(m.optimizer, 'optimizer', file) as OptimizerConfig,
    step: int(m.step, 'step', file),
    dataFingerprint: m.data_fingerprint ?? '',
    background: m.image_background === 'light' ? 'light' : 'dark',
  };
  if (info.rows * info.cols !== arch.input) {
    throw new CheckpointError(`${file}: image size ${info.rows}×${info.cols} does not match the input layer (${arch.input})`);
  }
  if (m.train_state !== undefined) info.train = json(m.train_state, 'train_state', file) as TrainState;
  const ck = { info, tensors };
  // Every weight must be there with the right shape before anything uses it.
  const layers = sizes.slice(0, -1).map((fanIn, i) => ({ fanIn, fanOut: sizes[i + 1], w: 0, b: 0 }));
  layers.forEach((L, i) => {
    tensor(ck, `layers.${i}.weight`, [L.fanOut, L.fanIn], file);
    tensor(ck, `layers.${i}.bias`, [L.fanOut], file);
  });
  return ck;
}

/** Loads weights (and, for a resume checkpoint, optimizer state) into a model of the same architecture. */
export function loadIntoModel(model: Mlp, ck: Checkpoint, file: string, withOptimizer = false): void {
  const want = layerSizes(model.arch).join('-');
  const have = layerSizes(ck.info.arch).join('-');
  if (want !== have) throw new CheckpointError(`${file}: checkpoint architecture ${have} does not match the model's ${want}`);
  fillBuffer(model.layers, model.paramView(), ck, '', file);
  if (withOptimizer) {
    const names = stateNames(model.optimizer);
    model.stateViews().forEach((v, i) => fillBuffer(model.layers, v, ck, `optimizer.${names[i]}.`, file));
    model.step = ck.info.step;
  }
}

/** The best weights stored in a resume checkpoint, in the model's buffer layout. */
export function bestWeights(model: Mlp, ck: Checkpoint, file: string): Float32Array {
  const buf = new Float32Array(model.paramCount);
  fillBuffer(model.layers, buf, ck, 'best.', file);
  return buf;
}

/** Refuses a checkpoint made for data of another shape, naming both. */
export function checkFitsData(info: CheckpointInfo, data: { rows: number; cols: number; classes: number }, file: string): void {
  if (info.rows !== data.rows || info.cols !== data.cols || info.arch.classes !== data.classes) {
    throw new CheckpointError(
      `${file}: checkpoint is for ${info.rows}×${info.cols} images and ${info.arch.classes} classes, ` +
        `the data has ${data.rows}×${data.cols} images and ${data.classes} classes`,
    );
  }
}

function int(v: string | undefined, key: string, file: string): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < 0) throw new CheckpointError(`${file}: bad ${key} "${v}" in metadata`);
  return n;
}

function json(v: string | undefined, key: string, file: string): unknown {
  try {
    return JSON.parse(v ?? '');
  } catch {
    throw new CheckpointError(`${file}: metadata ${key} is not valid JSON`);
  }
}

/** A model with a checkpoint's architecture and weights, sized for `batch` rows at a time. */
export function modelFromCheckpoint(eng: Engine, ck: Checkpoint, file: string, batch = 1000): Mlp {
  const model = new Mlp(eng, ck.info.arch, { batch, evalBatch: batch });
  loadIntoModel(model, ck, file);
  return model;
}
