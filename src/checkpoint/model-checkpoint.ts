// A network as safetensors, in PyTorch's layouts: `layers.{N}.weight` ([out, in, kh, kw] for a convolution, [out, in]
// for a dense layer, `in` in (channels, rows, cols) order) and `layers.{N}.bias` [out], N counting the layers that
// have parameters, in order; the spec, input shape and training state as `__metadata__` strings. A resume checkpoint
// adds the optimizer state (`optimizer.{buffer}.layers.{N}.…`) and the best weights so far (`best.layers.{N}.…`).
// Format 1 (dense layers only, `architecture` "784-256-128-10") is still read.
import { BarenetError, CheckpointError } from '../errors.js';
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from './safetensors.js';
import { Network, buildLayers } from '../model/network.js';
import type { Layer } from '../model/layer.js';
import type { OptimizerConfig } from '../model/optimizer.js';
import { denseSpec, denseWidths, flat, formatSpec, parseSpec, shapeText, type Shape } from '../model/spec.js';
import type { Engine } from '../wasm/engine.js';
import type { Background } from '../data/background.js';

export const FORMAT_VERSION = 2;

/** A network's description as checkpoints keep it: the canonical spec, the input's shape and the classes. */
export interface ArchInfo {
  spec: string;
  input: Shape;
  classes: number;
}

/** What a checkpoint says about itself, beside the tensors. */
export interface CheckpointInfo {
  arch: ArchInfo;
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

/** The network's description, as a checkpoint records it. */
export function archInfo(model: Network): ArchInfo {
  return { spec: model.spec, input: { ...model.input }, classes: model.classes };
}

/** "conv5x5:6,…,dense:84 → 10 on 1×28×28", or for dense layers only "784-256-128-10". */
export function describeArch(a: ArchInfo): string {
  const widths = denseWidths(parseSpec(a.spec));
  if (widths) return [flat(a.input), ...widths, a.classes].join('-');
  return `${a.spec} → ${a.classes} on ${shapeText(a.input)}`;
}

/** The names optimizer state buffers are saved under, in the order Network.stateViews() returns them. */
function stateNames(o: OptimizerConfig): string[] {
  return o.kind === 'momentum' ? ['velocity'] : o.kind === 'adam' ? ['m', 'v'] : [];
}

/** A flat buffer in the network's layout → PyTorch-layout tensors named prefix + layers.N.… */
export function bufferTensors(layers: Layer[], buf: Float32Array, prefix = ''): NamedTensor[] {
  const out: NamedTensor[] = [];
  layers.forEach((L, i) => {
    // Written reordered straight into the file's bytes when it is encoded (no copy of the model).
    const weight = (w: Float32Array) => {
      for (let j = 0; j < w.length; j++) w[j] = buf[L.w + L.torchToInternal(j)];
    };
    out.push({ name: `${prefix}layers.${i}.weight`, shape: L.torchShape(), data: weight });
    out.push({ name: `${prefix}layers.${i}.bias`, shape: [L.biasCount], data: buf.subarray(L.b, L.b + L.biasCount) });
  });
  return out;
}

/** The inverse of bufferTensors: fills buf from the tensors, checking every shape. */
export function fillBuffer(layers: Layer[], buf: Float32Array, ck: Checkpoint, prefix: string, file: string): void {
  layers.forEach((L, i) => {
    const w = tensor(ck, `${prefix}layers.${i}.weight`, L.torchShape(), file);
    const b = tensor(ck, `${prefix}layers.${i}.bias`, [L.biasCount], file);
    for (let j = 0; j < w.length; j++) buf[L.w + L.torchToInternal(j)] = w[j];
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

export function encodeCheckpoint(model: Network, opts: SaveOptions): Uint8Array {
  const { info } = opts;
  const tensors = bufferTensors(model.paramLayers, model.paramView());
  if (opts.resume) {
    const names = stateNames(model.optimizer);
    model.stateViews().forEach((v, i) => tensors.push(...bufferTensors(model.paramLayers, v, `optimizer.${names[i]}.`)));
    tensors.push(...bufferTensors(model.paramLayers, opts.resume.best, 'best.'));
  }
  const { arch } = info;
  const metadata: Record<string, string> = {
    format: 'barenet',
    format_version: String(FORMAT_VERSION),
    spec: arch.spec,
    architecture: describeArch(arch),
    classes: String(arch.classes),
    image_channels: String(arch.input.c),
    image_rows: String(arch.input.h),
    image_cols: String(arch.input.w),
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

/** The architecture a checkpoint's metadata describes: format 2's spec, or format 1's layer sizes. */
function readArch(m: Record<string, string | undefined>, version: number, file: string): ArchInfo {
  const rows = int(m.image_rows, 'image_rows', file);
  const cols = int(m.image_cols, 'image_cols', file);
  if (version === 1) {
    const sizes = (m.architecture ?? '').split('-').map(Number);
    if (sizes.length < 2 || !sizes.every((s) => Number.isInteger(s) && s > 0)) {
      throw new CheckpointError(`${file}: bad architecture "${m.architecture}" in metadata`);
    }
    if (rows * cols !== sizes[0]) {
      throw new CheckpointError(`${file}: image size ${rows}×${cols} does not match the input layer (${sizes[0]})`);
    }
    return { spec: denseSpec(sizes.slice(1, -1)), input: { c: 1, h: rows, w: cols }, classes: sizes[sizes.length - 1] };
  }
  const arch = { spec: m.spec ?? '', input: { c: int(m.image_channels, 'image_channels', file), h: rows, w: cols }, classes: int(m.classes, 'classes', file) };
  for (const [k, v] of [['image_channels', arch.input.c], ['image_rows', rows], ['image_cols', cols], ['classes', arch.classes]] as const) {
    if (v < 1) throw new CheckpointError(`${file}: bad ${k} "${v}" in metadata`);
  }
  try {
    arch.spec = formatSpec(parseSpec(arch.spec));
    buildLayers(parseSpec(arch.spec), arch.input, arch.classes);
  } catch (e) {
    if (e instanceof BarenetError) throw new CheckpointError(`${file}: spec "${m.spec}" in metadata: ${e.message.replace(/^--arch: /, '')}`);
    throw e;
  }
  return arch;
}

export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { tensors, metadata: m } = decodeSafetensors(bytes, file);
  if (m.format !== 'barenet') throw new CheckpointError(`${file}: not a barenet checkpoint (no format: barenet in its metadata)`);
  const version = Number(m.format_version);
  if (!Number.isInteger(version) || version < 1) throw new CheckpointError(`${file}: bad format_version "${m.format_version}"`);
  if (version > FORMAT_VERSION) {
    throw new CheckpointError(`${file}: written by a newer barenet (format version ${version}); this one reads versions 1 to ${FORMAT_VERSION}`);
  }
  if (m.image_background !== undefined && m.image_background !== 'light' && m.image_background !== 'dark') {
    throw new CheckpointError(`${file}: bad image_background "${m.image_background}" in metadata (dark or light)`);
  }
  const info: CheckpointInfo = {
    arch: readArch(m, version, file),
    epoch: int(m.epoch, 'epoch', file),
    seed: int(m.seed, 'seed', file),
    optimizer: json(m.optimizer, 'optimizer', file) as OptimizerConfig,
    step: int(m.step, 'step', file),
    dataFingerprint: m.data_fingerprint ?? '',
    background: m.image_background === 'light' ? 'light' : 'dark',
  };
  if (m.train_state !== undefined) info.train = json(m.train_state, 'train_state', file) as TrainState;
  const ck = { info, tensors };
  // Every weight must be there with the right shape before anything uses it.
  const layers = buildLayers(parseSpec(info.arch.spec), info.arch.input, info.arch.classes).filter((L) => L.weightCount > 0);
  layers.forEach((L, i) => {
    tensor(ck, `layers.${i}.weight`, L.torchShape(), file);
    tensor(ck, `layers.${i}.bias`, [L.biasCount], file);
  });
  return ck;
}

/** Loads weights (and, for a resume checkpoint, optimizer state) into a model of the same architecture. */
export function loadIntoModel(model: Network, ck: Checkpoint, file: string, withOptimizer = false): void {
  const want = describeArch(archInfo(model));
  const have = describeArch(ck.info.arch);
  if (want !== have) throw new CheckpointError(`${file}: checkpoint architecture ${have} does not match the model's ${want}`);
  fillBuffer(model.paramLayers, model.paramView(), ck, '', file);
  if (withOptimizer) {
    const names = stateNames(model.optimizer);
    model.stateViews().forEach((v, i) => fillBuffer(model.paramLayers, v, ck, `optimizer.${names[i]}.`, file));
    model.step = ck.info.step;
  }
}

/** The best weights stored in a resume checkpoint, in the model's buffer layout. */
export function bestWeights(model: Network, ck: Checkpoint, file: string): Float32Array {
  const buf = new Float32Array(model.paramCount);
  fillBuffer(model.paramLayers, buf, ck, 'best.', file);
  return buf;
}

/** Refuses a checkpoint made for data of another shape, naming both. */
export function checkFitsData(info: CheckpointInfo, data: { rows: number; cols: number; channels: number; classes: number }, file: string): void {
  const { input: s, classes } = info.arch;
  if (s.h !== data.rows || s.w !== data.cols || s.c !== data.channels || classes !== data.classes) {
    const img = (h: number, w: number, c: number) => `${h}×${w}${c > 1 ? `×${c}` : ''}`;
    throw new CheckpointError(
      `${file}: checkpoint is for ${img(s.h, s.w, s.c)} images and ${classes} classes, ` +
        `the data has ${img(data.rows, data.cols, data.channels)} images and ${data.classes} classes`,
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

/** A model with a checkpoint's architecture and weights, to evaluate and predict `batch` rows at a time. */
export function modelFromCheckpoint(eng: Engine, ck: Checkpoint, file: string, batch = 1000): Network {
  const model = new Network(eng, ck.info.arch, { batch: 1, evalBatch: batch });
  loadIntoModel(model, ck, file);
  return model;
}
