// One grayscale image for `barenet predict`: PGM (P5 binary, P2 ascii; maxval ≤ 255) or PNG (any
// colour type, non-interlaced), reduced to 8-bit gray as stored (transparency composited over white);
// predict decides whether to invert it (src/data/background.ts).
import { readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import { DataError } from '../errors.js';

export interface GrayImage {
  rows: number;
  cols: number;
  /** rows·cols bytes, row-major, 0 = black. */
  pixels: Uint8Array;
  /** Some pixel was not opaque (PNG alpha or tRNS): composited over white. */
  transparent: boolean;
}

/** Images larger than this many pixels are refused before any decoding. */
const MAX_PIXELS = 1 << 26;

/**
 * Decodes a PGM or PNG into gray, as stored (no inversion). If `expect` is given, a different size
 * is an error found from the header alone, before any pixel is decoded.
 */
export function decodeImage(bytes: Uint8Array, name: string, expect?: { rows: number; cols: number }): GrayImage {
  const checkSize = (rows: number, cols: number): void => {
    if (rows === 0 || cols === 0 || rows * cols > MAX_PIXELS) {
      throw new DataError(`${name}: image size ${rows}×${cols} is empty or too large`);
    }
    if (expect && (rows !== expect.rows || cols !== expect.cols)) {
      throw new DataError(`${name}: image is ${rows}×${cols} pixels (rows×cols) but the model takes ${expect.rows}×${expect.cols}`);
    }
  };
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return decodePng(bytes, name, checkSize);
  if (bytes.length >= 2 && bytes[0] === 0x50 && (bytes[1] === 0x35 || bytes[1] === 0x32)) {
    return decodePgm(bytes, name, checkSize);
  }
  throw new DataError(`${name}: not a PGM (P5 or P2) or PNG image`);
}

/** Reads an image file as rows·cols gray bytes, as stored; another size is a DataError. */
export async function readImageFile(path: string, expectRows: number, expectCols: number): Promise<GrayImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : String((err as Error).message).split('\n')[0];
    throw new DataError(`${path}: ${why}`);
  }
  return decodeImage(bytes, path, { rows: expectRows, cols: expectCols });
}

// ---- PGM (netpbm): "P5" or "P2", whitespace, width, height, maxval; '#' starts a comment.

function decodePgm(bytes: Uint8Array, name: string, checkSize: (r: number, c: number) => void): GrayImage {
  let p = 2;
  const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
  const nextInt = (what: string): number => {
    for (;;) {
      while (p < bytes.length && isSpace(bytes[p])) p++;
      if (bytes[p] !== 0x23) break; // '#': skip to the end of the line
      while (p < bytes.length && bytes[p] !== 0x0a && bytes[p] !== 0x0d) p++;
    }
    if (p >= bytes.length) throw new DataError(`${name}: truncated: PGM ends before its ${what}`);
    let v = 0;
    const start = p;
    while (p < bytes.length && bytes[p] >= 0x30 && bytes[p] <= 0x39 && p - start < 9) v = v * 10 + bytes[p++] - 0x30;
    if (p === start || (p < bytes.length && !isSpace(bytes[p]) && bytes[p] !== 0x23)) {
      throw new DataError(`${name}: bad PGM ${what} at byte ${start}`);
    }
    return v;
  };
  const binary = bytes[1] === 0x35;
  const cols = nextInt('width');
  const rows = nextInt('height');
  const maxval = nextInt('maxval');
  if (maxval < 1 || maxval > 255) throw new DataError(`${name}: PGM maxval ${maxval}; barenet reads 1..255 (8-bit) only`);
  checkSize(rows, cols);
  const n = rows * cols;
  const out = new Uint8Array(n);
  if (binary) {
    p++; // the single whitespace byte after maxval
    if (bytes.length - p < n) throw new DataError(`${name}: truncated: PGM of ${rows}×${cols} needs ${n} bytes of pixels, file has ${Math.max(0, bytes.length - p)}`);
    for (let i = 0; i < n; i++) out[i] = bytes[p + i];
  } else {
    for (let i = 0; i < n; i++) {
      const v = nextInt(`pixel ${i}`);
      if (v > maxval) throw new DataError(`${name}: PGM pixel ${i} is ${v}, above maxval ${maxval}`);
      out[i] = v;
    }
  }
  for (let i = 0; i < n; i++) {
    if (out[i] > maxval) throw new DataError(`${name}: PGM pixel ${i} is ${out[i]}, above maxval ${maxval}`);
    if (maxval !== 255) out[i] = Math.round((out[i] * 255) / maxval);
  }
  return { rows, cols, pixels: out, transparent: false };
}

// ---- PNG: chunks IHDR, PLTE, tRNS, IDAT…, IEND; zlib data of filtered scanlines.

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

function decodePng(bytes: Uint8Array, name: string, checkSize: (r: number, c: number) => void): GrayImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const bad = (msg: string): DataError => new DataError(`${name}: ${msg}`);
  let cols = 0, rows = 0, depth = 0, colorType = -1;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let p = 8;
  for (;;) {
    if (bytes.length - p < 12) throw bad('truncated PNG: no IEND chunk');
    const len = view.getUint32(p);
    const type = String.fromCharCode(bytes[p + 4], bytes[p + 5], bytes[p + 6], bytes[p + 7]);
    if (len > bytes.length - p - 12) throw bad(`truncated PNG: ${type.replace(/[^ -~]/g, '?')} chunk of ${len} bytes`);
    const data = bytes.subarray(p + 8, p + 8 + len);
    p += 12 + len;
    if (colorType < 0 && type !== 'IHDR') throw bad('PNG does not start with an IHDR chunk');
    if (type === 'IHDR') {
      if (len !== 13) throw bad('PNG IHDR chunk is not 13 bytes');
      const hv = new DataView(data.buffer, data.byteOffset, 13);
      [cols, rows, depth, colorType] = [hv.getUint32(0), hv.getUint32(4), data[8], data[9]];
      if (!DEPTHS[colorType]?.includes(depth)) throw bad(`PNG colour type ${colorType} with bit depth ${depth} is not valid`);
      if (data[10] !== 0 || data[11] !== 0) throw bad('PNG compression or filter method is not 0');
      if (data[12] !== 0) throw bad('interlaced PNG; save it without interlacing');
      checkSize(rows, cols);
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  if (colorType === 3 && (!palette || palette.length % 3 !== 0)) throw bad('palette PNG without a valid PLTE chunk');

  const ch = CHANNELS[colorType];
  const bpp = Math.max(1, (ch * depth) >> 3); // bytes per complete pixel, for the filters
  const stride = Math.ceil((cols * ch * depth) / 8);
  const rawLen = rows * (stride + 1);
  let raw: Uint8Array;
  try {
    const all = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
    let o = 0;
    for (const d of idat) all.set(d, (o += d.length) - d.length);
    raw = inflateSync(all, { maxOutputLength: Math.max(rawLen, 1) });
  } catch (err) {
    throw bad(`corrupt PNG image data (${String((err as Error).message).split('\n')[0]})`);
  }
  if (raw.length !== rawLen) throw bad(`truncated PNG: image data is ${raw.length} bytes, ${rows}×${cols} needs ${rawLen}`);

  // Undo the filters in place: line y's bytes are raw[y*(stride+1)+1 …], the previous line's above them.
  for (let y = 0; y < rows; y++) {
    const o = y * (stride + 1) + 1;
    const f = raw[o - 1];
    if (f > 4) throw bad(`PNG scanline ${y} has filter type ${f}`);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? raw[o + i - bpp] : 0;
      const b = y > 0 ? raw[o + i - stride - 1] : 0;
      const c = y > 0 && i >= bpp ? raw[o + i - stride - 1 - bpp] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      raw[o + i] = (raw[o + i] + pred) & 255;
    }
  }

  // Gray with integer luma; alpha composited over white.
  const out = new Uint8Array(rows * cols);
  const maxv = (1 << depth) - 1;
  let transparent = false;
  for (let y = 0; y < rows; y++) {
    const o = y * (stride + 1) + 1;
    for (let x = 0; x < cols; x++) {
      const s = (c: number): number => (depth === 16 ? raw[o + 2 * (x * ch + c)] : raw[o + x * ch + c]);
      let g: number, alpha = 255;
      if (depth < 8) {
        const bit = x * depth;
        const v = (raw[o + (bit >> 3)] >> (8 - depth - (bit & 7))) & maxv;
        if (colorType === 0) g = Math.round((v * 255) / maxv);
        else [g, alpha] = paletteGray(v);
      } else if (colorType === 3) [g, alpha] = paletteGray(s(0));
      else if (ch <= 2) [g, alpha] = [s(0), ch === 2 ? s(1) : 255];
      else [g, alpha] = [(77 * s(0) + 150 * s(1) + 29 * s(2) + 128) >> 8, ch === 4 ? s(3) : 255];
      if (alpha !== 255) transparent = true;
      out[y * cols + x] = alpha === 255 ? g : Math.round((g * alpha + 255 * (255 - alpha)) / 255);
    }
  }
  return { rows, cols, pixels: out, transparent };

  function paletteGray(i: number): [number, number] {
    if (3 * i + 2 >= palette!.length) throw bad(`PNG pixel uses palette entry ${i} of ${palette!.length / 3}`);
    const [r, g, b] = [palette![3 * i], palette![3 * i + 1], palette![3 * i + 2]];
    return [(77 * r + 150 * g + 29 * b + 128) >> 8, trns && i < trns.length ? trns[i] : 255];
  }
}
