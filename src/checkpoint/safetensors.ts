// safetensors (https://github.com/huggingface/safetensors), F32 only. Layout: u64 little-endian N,
// N bytes of JSON header {"__metadata__": {string: string}, name: {dtype, shape, data_offsets}}
// padded with spaces, then the tensors' raw little-endian bytes; offsets are relative to the data.
// Pure (no Node imports). The decoder trusts nothing in the file.
import { CheckpointError } from '../errors.js';

export interface NamedTensor {
  name: string;
  shape: number[];
  /** The values, or a function that writes them (product(shape) floats) into the file's buffer, so a
   *  transposed copy is never made. */
  data: Float32Array | ((dst: Float32Array) => void);
}
export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export interface Safetensors {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export const MAX_HEADER_BYTES = 100_000_000;
export const MAX_JSON_DEPTH = 64;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const product = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** The file's bytes for the tensors, in order, and string metadata. */
export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, t.name)) {
      throw new RangeError(`encodeSafetensors: duplicate or reserved tensor name ${t.name}`);
    }
    const length = product(t.shape);
    if (typeof t.data !== 'function' && t.data.length !== length) {
      throw new RangeError(`encodeSafetensors: ${t.name} has ${t.data.length} values for shape [${t.shape}]`);
    }
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * length] };
    offset += 4 * length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, n, true); // high word stays 0: a header is far below 4 GB
  out.fill(0x20, 8, 8 + n);
  out.set(json, 8);
  let p = 8 + n; // a multiple of 8: the data is aligned for Float32Array views
  for (const t of tensors) {
    const length = product(t.shape);
    let data = t.data;
    if (typeof data === 'function') {
      const write = data;
      if (LITTLE_ENDIAN) write(new Float32Array(out.buffer, p, length));
      else write((data = new Float32Array(length)));
    }
    if (typeof data !== 'function') {
      if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, 4 * length), p);
      else for (let i = 0; i < length; i++) view.setFloat32(p + 4 * i, data[i], true);
    }
    p += 4 * length;
  }
  return out;
}

/** Depth of [ and { nesting outside strings, stopping as soon as it passes `limit`. */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Control characters and line separators escaped as \uXXXX: error messages stay on one line. */
const oneLine = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

/** A tensor or metadata key for a message: escaped onto one line, at most 80 characters. */
function quote(key: string): string {
  const q = oneLine(JSON.stringify(key).slice(1, -1));
  return q.length > 80 ? q.slice(0, 77) + '...' : q;
}

/** Reads a safetensors file of F32 tensors; `name` (the path) starts every error message. */
export function decodeSafetensors(bytes: Uint8Array, name: string): Safetensors {
  function fail(msg: string): never {
    throw new CheckpointError(`${name}: ${msg}`);
  }
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, too short for a safetensors header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n > MAX_HEADER_BYTES) fail(`header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit; not a barenet checkpoint`);
  if (n > bytes.length - 8) fail(`truncated: header length ${n} but only ${bytes.length - 8} bytes follow`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (nestingDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) fail(`header JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    // V8's message quotes a snippet of the header: escape it onto one line.
    const why = oneLine(err instanceof Error ? err.message : String(err)).slice(0, 160);
    fail(`header is not valid JSON (${why})`);
  }
  if (!isObject(header)) fail('header JSON is not an object');

  const metadata: Record<string, string> = {};
  const meta = header.__metadata__;
  if (meta !== undefined && meta !== null) {
    if (!isObject(meta)) fail('__metadata__ is not an object');
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') fail(`__metadata__ value ${quote(k)} is not a string`);
      // defineProperty: a key named __proto__ stays a plain key.
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  // Check every entry and the overlaps before copying anything: then the copies together are at
  // most the file's size, however many tensors the header lists.
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries: { key: string; label: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    const label = `tensor ${quote(key)}`;
    if (!isObject(entry)) fail(`${label} is not an object`);
    const { dtype, shape, data_offsets: offs } = entry;
    if (dtype !== 'F32') {
      const d = typeof dtype === 'string' ? quote(dtype) : String(JSON.stringify(dtype)).slice(0, 40);
      fail(`${label} has dtype ${d}; barenet reads F32 only`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${label} has a shape that is not a list of non-negative integers`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
      fail(`${label} has data_offsets that are not two non-negative integers`);
    }
    const [begin, end] = offs as number[];
    if (begin > end) fail(`${label} has data_offsets [${begin}, ${end}] with begin after end`);
    if (end > dataLen) fail(`truncated: ${label} ends at byte ${end} of the data but the file has ${dataLen}`);
    const count = product(shape);
    if (end - begin !== 4 * count) {
      const s = shape.length > 8 ? `${shape.length} dimensions` : `shape [${shape.join(', ')}]`;
      const need = Number.isSafeInteger(4 * count) ? String(4 * count)
        : shape.length <= 8 ? String(shape.reduce((a, d) => a * BigInt(d), 4n)) : 'more than 2^53';
      fail(`${label} has ${end - begin} bytes but ${s} needs ${need}`);
    }
    entries.push({ key, label, shape: shape.slice(), begin, end });
  }
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) fail(`${sorted[i - 1].label} and ${sorted[i].label} overlap in the data`);
  }

  const tensors = new Map<string, Tensor>();
  for (const { key, label, shape, begin, end } of entries) {
    const count = (end - begin) / 4;
    const data = new Float32Array(count); // fresh and aligned, whatever the file's offsets
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(bytes.subarray(dataStart + begin, dataStart + end));
    else for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + begin + 4 * i, true);
    for (let i = 0; i < count; i++) {
      if (!Number.isFinite(data[i])) fail(`${label} holds a non-finite value (${data[i]}) at index ${i}`);
    }
    tensors.set(key, { shape, data });
  }
  return { tensors, metadata };
}
