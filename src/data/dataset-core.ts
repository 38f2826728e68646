// A Dataset from the four MNIST-layout IDX files, already in memory. Pure (no Node imports): the CLI
// reads the files in dataset.ts, the web page fetches them, and both build the Dataset here.
import { DataError, UsageError } from '../errors.js';
import { parseImages, parseLabels, type IdxImages } from './idx.js';

export interface Split {
  /** count·dim bytes, image after image, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  dir: string;
  rows: number;
  cols: number;
  /** 1, or the channels of rank-4 image files. */
  channels: number;
  /** rows·cols·channels bytes per image */
  dim: number;
  classes: number;
  /** The training images minus the validation split held out from the end. */
  train: Split;
  val: Split | null;
  test: Split;
  /** 16 hex digits identifying the bytes of the four files (independent of `val`). */
  fingerprint: string;
}

export interface DatasetFile {
  /** The name errors use: a path, or a URL in the browser. */
  name: string;
  /** The file's bytes, already gunzipped. */
  bytes: Uint8Array;
  /** True when the bytes are in the ByteStore's memory (loadDataset read them there): each read of `bytes` views it afresh. */
  stored?: boolean;
}

/**
 * Linear memory that file bytes can be read straight into (an Engine is one), so the data is not held
 * twice, once in JS and once where the kernels read it. Memory may grow: views made before are then
 * detached, while addresses (a view's byteOffset) stay valid.
 */
export interface ByteStore {
  /** Reserves `bytes`, returning the address. */
  alloc(bytes: number, align?: number): number;
  u8(ptr: number, length: number): Uint8Array;
}

export interface DatasetFiles {
  trainImages: DatasetFile;
  trainLabels: DatasetFile;
  testImages: DatasetFile;
  testLabels: DatasetFile;
}

export interface DatasetOptions {
  /** Training images held out, from the end, for validation. Default: 1/12 of them (5000 of MNIST's 60000); 0 = none. */
  val?: number;
  /**
   * The number of classes (2–256). Default: the largest training label + 1, and then every class below it
   * must have a training example and every test label must be one of them (a stray label is almost always a
   * corrupt byte, and would otherwise add classes to the model). When given, every label must be below it and
   * classes without examples are allowed.
   */
  classes?: number;
  /** Default 'dataset'. */
  name?: string;
  /** Default ''. */
  dir?: string;
  /** Where loadDataset reads the files into, instead of JS buffers; the splits then view it afresh on each use. */
  store?: ByteStore;
}

/** The validation images held out by default: 1/12 of the training images (MNIST: 5000 of 60000). */
export const defaultVal = (trainImages: number): number => Math.floor(trainImages / 12);

/** The standard file names, without `.gz`. */
export const DATASET_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The largest label and the index where it first occurs. */
function largest(labels: Uint8Array): { label: number; index: number } {
  let index = 0;
  for (let i = 1; i < labels.length; i++) if (labels[i] > labels[index]) index = i;
  return { label: labels.length ? labels[index] : 0, index };
}

/** `label 10`, `labels 10–199`, `labels 3, 5–6 and 8–199`: the classes below `classes` no label names. */
function missingClasses(labels: Uint8Array, classes: number): string | null {
  const seen = new Uint8Array(classes);
  for (let i = 0; i < labels.length; i++) seen[labels[i]] = 1;
  const runs: [number, number][] = [];
  for (let c = 0; c < classes; c++) {
    if (seen[c]) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === c - 1) last[1] = c;
    else runs.push([c, c]);
  }
  if (!runs.length) return null;
  const text = runs.slice(0, 4).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`));
  if (runs.length > 4) text.push(`${runs.length - 4} more ranges`);
  const list = text.length > 1 ? `${text.slice(0, -1).join(', ')} and ${text[text.length - 1]}` : text[0];
  return runs.length === 1 && runs[0][0] === runs[0][1] ? `label ${list} never occurs` : `labels ${list} never occur`;
}

function checkBelow(labels: Uint8Array, classes: number, name: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new DataError(`${name}: label ${labels[i]} at index ${i} is out of range for ${classes} classes`);
    }
  }
}

/**
 * The class count (see DatasetOptions.classes): `declared`, or the largest training label + 1 when every
 * class below it has a training example and the test labels stay within them; else a DataError naming
 * the labels file, the largest label and where it first occurs.
 */
function classCount(train: Uint8Array, trainName: string, test: Uint8Array, testName: string, declared?: number): number {
  if (declared !== undefined) {
    if (!Number.isInteger(declared) || declared < 2 || declared > 256) {
      throw new UsageError(`--classes: ${declared} is not an integer from 2 to 256`);
    }
    checkBelow(train, declared, trainName);
    checkBelow(test, declared, testName);
    return declared;
  }
  const top = largest(train);
  const classes = top.label + 1;
  if (classes < 2) throw new DataError(`${trainName}: every label is 0; a classifier needs at least 2 classes`);
  const missing = missingClasses(train, classes);
  if (missing) {
    throw new DataError(`${trainName}: label ${top.label} at index ${top.index}, but ${missing}; if that is intended, pass --classes ${classes}`);
  }
  const t = largest(test);
  if (t.label >= classes) {
    throw new DataError(
      `${testName}: label ${t.label} at index ${t.index}, but the training labels are 0–${classes - 1}; if that is intended, pass --classes ${t.label + 1}`,
    );
  }
  return classes;
}

/** Parses an images file and its labels file, and checks that they hold as many entries. */
function parsePair(imagesF: DatasetFile, labelsF: DatasetFile) {
  const images = parseImages(imagesF.bytes, imagesF.name);
  const labels = parseLabels(labelsF.bytes, labelsF.name);
  if (images.count !== labels.count) {
    throw new DataError(`${labelsF.name}: ${labels.count} labels but ${imagesF.name} has ${images.count} images`);
  }
  return { images, labels };
}

/**
 * Entries [from, to) of a parsed images/labels pair as a Split: views of the file bytes; with a store, views
 * made afresh on each use (the store's memory may grow, which detaches views made before; addresses stay).
 */
function splitOf(store: ByteStore | undefined, imagesF: DatasetFile, images: Uint8Array, labelsF: DatasetFile, labels: Uint8Array, dim: number, from: number, to: number): Split {
  const im = images.subarray(from * dim, to * dim);
  const lb = labels.subarray(from, to);
  if (!store) return { images: im, labels: lb, count: to - from };
  const live = (file: DatasetFile, view: Uint8Array): (() => Uint8Array) => {
    if (!file.stored) return () => view;
    const [at, length] = [view.byteOffset, view.length];
    return () => store.u8(at, length);
  };
  const [imView, lbView] = [live(imagesF, im), live(labelsF, lb)];
  return {
    get images() {
      return imView();
    },
    get labels() {
      return lbView();
    },
    count: to - from,
  };
}

/** Parses and cross-checks the four files and splits off the validation set (views, no copies). */
export function datasetFromBytes(files: DatasetFiles, opts: DatasetOptions = {}): Dataset {
  const { trainImages: tiF, trainLabels: tlF, testImages: eiF, testLabels: elF } = files;
  const { images: ti, labels: tl } = parsePair(tiF, tlF);
  const { images: ei, labels: el } = parsePair(eiF, elF);
  if (ei.rows !== ti.rows || ei.cols !== ti.cols || ei.channels !== ti.channels) {
    const size = (im: IdxImages) => `${im.rows}×${im.cols}${im.channels > 1 || ti.channels !== ei.channels ? ` with ${im.channels} channel${im.channels > 1 ? 's' : ''}` : ''}`;
    throw new DataError(`${eiF.name}: images are ${size(ei)} but ${tiF.name} has ${size(ti)}`);
  }
  const classes = classCount(tl.labels, tlF.name, el.labels, elF.name, opts.classes);

  const val = opts.val ?? defaultVal(ti.count);
  if (!Number.isSafeInteger(val) || val < 0) {
    throw new UsageError(`--val: ${val} is not a non-negative integer`);
  }
  if (val >= ti.count) {
    throw new DataError(`${tiF.name}: --val ${val} leaves no training images (the file has ${ti.count}); use a smaller --val`);
  }
  const dim = ti.rows * ti.cols * ti.channels;
  const nTrain = ti.count - val;
  const split = (imagesF: DatasetFile, images: Uint8Array, labelsF: DatasetFile, labels: Uint8Array, from: number, to: number) =>
    splitOf(opts.store, imagesF, images, labelsF, labels, dim, from, to);
  return {
    name: opts.name ?? 'dataset',
    dir: opts.dir ?? '',
    rows: ti.rows,
    cols: ti.cols,
    channels: ti.channels,
    dim,
    classes,
    train: split(tiF, ti.pixels, tlF, tl.labels, 0, nTrain),
    val: val === 0 ? null : split(tiF, ti.pixels, tlF, tl.labels, nTrain, ti.count),
    test: split(eiF, ei.pixels, elF, el.labels, 0, ei.count),
    fingerprint: fingerprint([tiF.bytes, tlF.bytes, eiF.bytes, elF.bytes]),
  };
}

/** The test images and labels alone, as `barenet eval` needs them. */
export interface TestSet {
  rows: number;
  cols: number;
  channels: number;
  dim: number;
  /** The largest test label + 1 (the test set may lack a model's last classes). */
  classes: number;
  test: Split;
}

/** A TestSet from the two test files (`store` as for datasetFromBytes). */
export function testSetFromBytes(files: Pick<DatasetFiles, 'testImages' | 'testLabels'>, opts: Pick<DatasetOptions, 'store'> = {}): TestSet {
  const { testImages: eiF, testLabels: elF } = files;
  const { images: ei, labels: el } = parsePair(eiF, elF);
  const dim = ei.rows * ei.cols * ei.channels;
  return {
    rows: ei.rows,
    cols: ei.cols,
    channels: ei.channels,
    dim,
    classes: largest(el.labels).label + 1,
    test: splitOf(opts.store, eiF, ei.pixels, elF, el.labels, dim, 0, ei.count),
  };
}

/**
 * 64-bit content hash of byte arrays, as 16 hex digits: two MurmurHash3-style 32-bit lanes over
 * little-endian words (even words feed one lane, odd words the other), each array's length mixed
 * into both, the lanes crossed at the end. Every byte is read: MNIST's 55 MB take about 30 ms.
 * Identifies data; not cryptographic.
 */
export function fingerprint(parts: Uint8Array[]): string {
  let h1 = 0x2f1b3c4d | 0;
  let h2 = 0x9747b28c | 0;
  const mix = (h: number, k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    return (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const p of parts) {
    h1 = mix(h1, p.length);
    h2 = mix(h2, ~p.length);
    const view = new DataView(p.buffer, p.byteOffset, p.length);
    const n8 = p.length >>> 3;
    for (let i = 0; i < n8; i++) {
      // mix() inlined: this loop is the whole cost.
      let k = Math.imul(view.getUint32(8 * i, true), 0xcc9e2d51);
      k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
      h1 ^= k;
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      let m = Math.imul(view.getUint32(8 * i + 4, true), 0xcc9e2d51);
      m = Math.imul((m << 15) | (m >>> 17), 0x1b873593);
      h2 ^= m;
      h2 = (h2 << 13) | (h2 >>> 19);
      h2 = (Math.imul(h2, 5) + 0xe6546b64) | 0;
    }
    for (let i = 8 * n8; i < p.length; i++) h1 = mix(h1, p[i] | (i << 8));
  }
  const fmix = (h: number): number => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  };
  const a = fmix(h1 ^ Math.imul(h2, 0x27d4eb2f));
  const b = fmix(h2 ^ Math.imul(h1, 0x165667b1));
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
