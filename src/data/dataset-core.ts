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
  /** Training images held out, from the end, for validation. Default 5000; 0 = no validation split. */
  val?: number;
  /** The number of classes; default max label + 1. When given, every label must be below it. */
  classes?: number;
  /** Default 'dataset'. */
  name?: string;
  /** Default ''. */
  dir?: string;
  /** Where loadDataset reads the files into, instead of JS buffers; the splits then view it afresh on each use. */
  store?: ByteStore;
}

export const DEFAULT_VAL = 5000;

/** The standard file names, without `.gz`. */
export const DATASET_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function maxOf(a: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

function checkBelow(labels: Uint8Array, classes: number, name: string): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw new DataError(`${name}: label ${labels[i]} at index ${i} is out of range for ${classes} classes`);
    }
  }
}

/** Parses and cross-checks the four files and splits off the validation set (views, no copies). */
export function datasetFromBytes(files: DatasetFiles, opts: DatasetOptions = {}): Dataset {
  const { trainImages: tiF, trainLabels: tlF, testImages: eiF, testLabels: elF } = files;
  const ti = parseImages(tiF.bytes, tiF.name);
  const tl = parseLabels(tlF.bytes, tlF.name);
  const ei = parseImages(eiF.bytes, eiF.name);
  const el = parseLabels(elF.bytes, elF.name);
  if (ti.count !== tl.count) {
    throw new DataError(`${tlF.name}: ${tl.count} labels but ${tiF.name} has ${ti.count} images`);
  }
  if (ei.count !== el.count) {
    throw new DataError(`${elF.name}: ${el.count} labels but ${eiF.name} has ${ei.count} images`);
  }
  if (ei.rows !== ti.rows || ei.cols !== ti.cols || ei.channels !== ti.channels) {
    const size = (im: IdxImages) => `${im.rows}×${im.cols}${im.channels > 1 || ti.channels !== ei.channels ? ` with ${im.channels} channel${im.channels > 1 ? 's' : ''}` : ''}`;
    throw new DataError(`${eiF.name}: images are ${size(ei)} but ${tiF.name} has ${size(ti)}`);
  }

  let classes: number;
  if (opts.classes !== undefined) {
    if (!Number.isInteger(opts.classes) || opts.classes < 2 || opts.classes > 256) {
      throw new UsageError(`--classes: ${opts.classes} is not an integer from 2 to 256`);
    }
    classes = opts.classes;
    checkBelow(tl.labels, classes, tlF.name);
    checkBelow(el.labels, classes, elF.name);
  } else {
    classes = Math.max(maxOf(tl.labels), maxOf(el.labels)) + 1;
    if (classes < 2) throw new DataError(`${tlF.name}: every label is 0; a classifier needs at least 2 classes`);
  }

  const val = opts.val ?? DEFAULT_VAL;
  if (!Number.isSafeInteger(val) || val < 0) {
    throw new UsageError(`--val: ${val} is not a non-negative integer`);
  }
  if (val >= ti.count) {
    throw new DataError(`${tiF.name}: --val ${val} leaves no training images (the file has ${ti.count}); use a smaller --val`);
  }
  const dim = ti.rows * ti.cols * ti.channels;
  const nTrain = ti.count - val;
  const store = opts.store;
  // A view of the store's memory would be detached when it grows: the split keeps its address instead.
  const live = (file: DatasetFile, view: Uint8Array): (() => Uint8Array) => {
    if (!store || !file.stored) return () => view;
    const [at, length] = [view.byteOffset, view.length];
    return () => store.u8(at, length);
  };
  const split = (imagesF: DatasetFile, images: Uint8Array, labelsF: DatasetFile, labels: Uint8Array, from: number, to: number): Split => {
    const im = images.subarray(from * dim, to * dim);
    const lb = labels.subarray(from, to);
    if (!store) return { images: im, labels: lb, count: to - from };
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
  };

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
