// IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/): a 4-byte magic number
// [0, 0, type, ndims], ndims big-endian u32 sizes, then the data. barenet reads type 0x08 (unsigned
// byte) only: images of rank 3 [count, rows, cols] (one channel) or 4 [count, rows, cols, channels]. Pure: no Node imports, so the web page parses with it too. The header is never trusted:
// every size is checked against the byte length before anything is allocated.
import { DataError } from '../errors.js';

export const IMAGES_MAGIC = 2051; // 0x00000803: u8, 3 dims (count, rows, cols)
export const IMAGES4_MAGIC = 2052; // 0x00000804: u8, 4 dims (count, rows, cols, channels), pixel-major
export const LABELS_MAGIC = 2049; // 0x00000801: u8, 1 dim (count)
const TYPE_U8 = 0x08;
const TYPE_NAMES: Record<number, string> = { 0x09: 'i8', 0x0b: 'i16', 0x0c: 'i32', 0x0d: 'f32', 0x0e: 'f64' };

export interface IdxFile {
  dims: number[];
  /** The payload, a view into the input bytes (no copy): prod(dims) bytes. */
  data: Uint8Array;
}
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** 1 for a rank-3 file [count, rows, cols]; the last size of a rank-4 one [count, rows, cols, channels]. */
  channels: number;
  /** count·rows·cols·channels bytes, row-major with a pixel's channels together (HWC), a view into the input. */
  pixels: Uint8Array;
}
export interface IdxLabels {
  count: number;
  labels: Uint8Array;
}

/** True if the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

const hex8 = (x: number): string => '0x' + (x >>> 0).toString(16).padStart(8, '0');

function readMagic(bytes: Uint8Array, name: string, what: string): number {
  if (bytes.length < 4) {
    throw new DataError(`${name}: truncated: ${bytes.length} bytes, too short for an IDX ${what} header`);
  }
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

/** Parses an IDX file of unsigned bytes with any number of dimensions (1..255). */
export function parseIdx(bytes: Uint8Array, name: string): IdxFile {
  const magic = readMagic(bytes, name, 'file');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = isGzip(bytes) ? '; the file is gzip-compressed, gunzip it first' : '';
    throw new DataError(`${name}: bad magic number ${hex8(magic)} (an IDX file starts with two zero bytes${hint})`);
  }
  const type = bytes[2];
  if (type !== TYPE_U8) {
    const t = TYPE_NAMES[type] ?? 'an unknown type';
    throw new DataError(`${name}: IDX data type 0x${type.toString(16).padStart(2, '0')} (${t}); barenet reads unsigned bytes (0x08) only`);
  }
  return parseBody(bytes, name, bytes[3], 'values');
}

function parseBody(bytes: Uint8Array, name: string, ndims: number, what: string): IdxFile {
  if (ndims === 0) throw new DataError(`${name}: IDX header declares 0 dimensions`);
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw new DataError(`${name}: truncated: header of ${ndims} dimensions needs ${headerLen} bytes, file has ${bytes.length}`);
  }
  const dims: number[] = [];
  let total = 1; // a float: 255 dims of 2^32 overflow to Infinity, never equal to a real length
  for (let i = 0; i < ndims; i++) {
    const o = 4 + 4 * i;
    const d = ((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) >>> 0;
    dims.push(d);
    total *= d;
  }
  const have = bytes.length - headerLen;
  if (total !== have) {
    // Past 2^53 the float product is inexact: print the exact one (only here, for the message).
    const exact = Number.isSafeInteger(total) ? String(total) : String(dims.reduce((a, d) => a * BigInt(d), 1n));
    const size = exact.length > 40 ? `about 10^${exact.length - 1}` : exact;
    const decl = ndims > 4 ? `header declares ${ndims} dimensions of ${size} bytes of ${what} in all`
      : `header declares ${dims.join('×')}${ndims > 1 ? ` = ${size}` : ''} bytes of ${what}`;
    if (total > have) throw new DataError(`${name}: truncated: ${decl}, file has ${have}`);
    throw new DataError(`${name}: ${decl}, file has ${have} (${have - total} extra bytes)`);
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/**
 * The file length (header and data) that an unsigned-byte IDX header declares, from the file's first
 * bytes; null when they do not hold such a header. Sizes a buffer before the data is read; the parsers
 * above still check the bytes. Past 2^53 the product is inexact, and never a length worth allocating.
 */
export function idxFileLength(head: Uint8Array): number | null {
  const ndims = head[3];
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== TYPE_U8 || ndims === 0) return null;
  const headerLen = 4 + 4 * ndims;
  if (head.length < headerLen) return null;
  let total = 1;
  for (let o = 4; o < headerLen; o += 4) total *= ((head[o] << 24) | (head[o + 1] << 16) | (head[o + 2] << 8) | head[o + 3]) >>> 0;
  return headerLen + total;
}

function expectMagic(bytes: Uint8Array, name: string, expected: number, what: string): void {
  const magic = readMagic(bytes, name, what);
  if (magic !== expected) {
    let hint = '';
    if (isGzip(bytes)) hint = '; the file is gzip-compressed, gunzip it first';
    else if (magic === (expected === IMAGES_MAGIC ? LABELS_MAGIC : IMAGES_MAGIC)) {
      hint = `; this is a ${expected === IMAGES_MAGIC ? 'labels' : 'images'} file`;
    }
    throw new DataError(`${name}: bad magic number ${hex8(magic)} (expected ${expected} for ${what}${hint})`);
  }
}

/** Parses an IDX images file: magic 2051, dims [count, rows, cols], or 2052, dims [count, rows, cols, channels]; all > 0. */
export function parseImages(bytes: Uint8Array, name: string): IdxImages {
  const rank4 = bytes.length >= 4 && readMagic(bytes, name, 'images') === IMAGES4_MAGIC;
  if (!rank4) expectMagic(bytes, name, IMAGES_MAGIC, 'images');
  const { dims, data } = parseBody(bytes, name, rank4 ? 4 : 3, 'pixels');
  if (dims.some((d) => d === 0)) {
    throw new DataError(`${name}: header declares ${dims.join('×')} images; every size must be at least 1`);
  }
  const [count, rows, cols, channels = 1] = dims;
  return { count, rows, cols, channels, pixels: data };
}

/** Parses an IDX labels file: magic 2049, dims [count]. */
export function parseLabels(bytes: Uint8Array, name: string): IdxLabels {
  expectMagic(bytes, name, LABELS_MAGIC, 'labels');
  const { dims, data } = parseBody(bytes, name, 1, 'labels');
  return { count: dims[0], labels: data };
}

function header(magic: number, dims: number[], payload: number): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  return out;
}

/** An IDX images file holding count images of rows×cols pixels: rank 3 (magic 2051) for one channel, else rank 4
 *  (magic 2052) with the channels last. */
export function encodeImagesIdx(pixels: Uint8Array, count: number, rows: number, cols: number, channels = 1): Uint8Array {
  if (pixels.length !== count * rows * cols * channels) {
    throw new RangeError(`encodeImagesIdx: ${pixels.length} pixels for ${count}×${rows}×${cols}×${channels}`);
  }
  const dims = channels === 1 ? [count, rows, cols] : [count, rows, cols, channels];
  const out = header(channels === 1 ? IMAGES_MAGIC : IMAGES4_MAGIC, dims, pixels.length);
  out.set(pixels, 4 + 4 * dims.length);
  return out;
}

/** An IDX labels file (magic 2049). */
export function encodeLabelsIdx(labels: Uint8Array): Uint8Array {
  const out = header(LABELS_MAGIC, [labels.length], labels.length);
  out.set(labels, 8);
  return out;
}
