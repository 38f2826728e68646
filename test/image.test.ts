// Single-image reading for `barenet predict`: PGM P5/P2 and PNG of every colour type, made here by
// a tiny encoder that uses each of the five filters.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/errors.js';
import { decodeImage, readImageFile } from '../src/data/image.js';
import { backgroundOf, invert, meanPixel } from '../src/data/background.js';

const tmp = mkdtempSync(join(tmpdir(), 'barenet-img-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const p = join(tmp, name);
  writeFileSync(p, bytes);
  return p;
}

// ---- a tiny PNG encoder

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** lines: unfiltered scanline bytes; line y is filtered with filters[y % filters.length]. */
function png(opts: {
  cols: number; rows: number; depth: number; colorType: number; lines: Uint8Array[]; bpp: number;
  filters?: number[]; plte?: Uint8Array; trns?: Uint8Array; interlace?: number; idatSplit?: boolean;
}): Uint8Array {
  const { cols, rows, depth, colorType, lines, bpp } = opts;
  const filters = opts.filters ?? [0, 1, 2, 3, 4];
  const stride = lines[0].length;
  const raw = new Uint8Array(rows * (stride + 1));
  for (let y = 0; y < rows; y++) {
    const f = filters[y % filters.length];
    raw[y * (stride + 1)] = f;
    const cur = lines[y], prev = y > 0 ? lines[y - 1] : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
      raw[y * (stride + 1) + 1 + i] = (cur[i] - pred) & 255;
    }
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, cols);
  v.setUint32(4, rows);
  ihdr.set([depth, colorType, 0, 0, opts.interlace ?? 0], 8);
  const z = deflateSync(raw);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (opts.plte) parts.push(chunk('PLTE', opts.plte));
  if (opts.trns) parts.push(chunk('tRNS', opts.trns));
  parts.push(chunk('tEXt', new TextEncoder().encode('Comment\0ignored')));
  if (opts.idatSplit) {
    const h = z.length >> 1;
    parts.push(chunk('IDAT', z.subarray(0, h)), chunk('IDAT', z.subarray(h)));
  } else parts.push(chunk('IDAT', z));
  parts.push(chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** A 7×5 gray test pattern: dark background with varied bright strokes (so filters see real data). */
const ROWS = 7, COLS = 5;
const GRAY = Uint8Array.from({ length: ROWS * COLS }, (_, i) => (i * 37 + (i % 3) * 90) % 200);
const lines = (f: (x: number, y: number) => number[]): Uint8Array[] =>
  Array.from({ length: ROWS }, (_, y) => Uint8Array.from(Array.from({ length: COLS }, (_, x) => f(x, y)).flat()));
const g = (x: number, y: number): number => GRAY[y * COLS + x];

function decodeError(bytes: Uint8Array | string, expect_?: { rows: number; cols: number }): string {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  try {
    decodeImage(b, 'img', expect_);
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a DataError');
}

describe('PGM', () => {
  it('reads P5 binary with comments', () => {
    const head = new TextEncoder().encode(`P5\n# a comment\n${COLS} ${ROWS}\n255\n`);
    const img = decodeImage(Buffer.concat([head, GRAY]), 'a.pgm');
    expect([img.rows, img.cols]).toEqual([ROWS, COLS]);
    expect(Array.from(img.pixels)).toEqual(Array.from(GRAY));
  });

  it('reads P2 ascii and scales a smaller maxval to 255', () => {
    const img = decodeImage(new TextEncoder().encode('P2 3 2 15\n0 15 5\n# c\n10 1 0\n'), 'b.pgm');
    expect([img.rows, img.cols]).toEqual([2, 3]);
    expect(Array.from(img.pixels)).toEqual([0, 255, 85, 170, 17, 0]);
  });

  it('rejects bad PGMs', () => {
    expect(decodeError('P5 2 2 65535\n')).toMatch(/^img: PGM maxval 65535/);
    expect(decodeError('P5 2 2 255\n\x01\x02')).toBe('img: truncated: PGM of 2×2 needs 4 bytes of pixels, file has 2');
    expect(decodeError('P2 2 1 255\n3 x')).toMatch(/^img: bad PGM pixel 1/);
    expect(decodeError('P2 2 1 255\n3 ')).toBe('img: truncated: PGM ends before its pixel 1');
    expect(decodeError('P2 2 1 10\n3 11')).toBe('img: PGM pixel 1 is 11, above maxval 10');
    expect(decodeError('P2 2 1 255\n3 300')).toMatch(/above maxval/);
    expect(decodeError('P5 99999999999 1 255\n')).toMatch(/bad PGM width/);
    expect(decodeError('P5 0 3 255\n')).toMatch(/empty or too large/);
    expect(decodeError('P6 1 1 255\nabc')).toBe('img: not a PGM (P5 or P2) or PNG image');
  });
});

describe('PNG', () => {
  it('8-bit gray, every filter, IDAT split in two', () => {
    for (const filters of [[0], [1], [2], [3], [4], [0, 1, 2, 3, 4]]) {
      const bytes = png({ cols: COLS, rows: ROWS, depth: 8, colorType: 0, lines: lines((x, y) => [g(x, y)]), bpp: 1, filters, idatSplit: true });
      expect(Array.from(decodeImage(bytes, 'g.png').pixels)).toEqual(Array.from(GRAY));
    }
  });

  it('RGB and RGBA with equal channels give the gray back; luma for colour', () => {
    const rgb = png({ cols: COLS, rows: ROWS, depth: 8, colorType: 2, lines: lines((x, y) => [g(x, y), g(x, y), g(x, y)]), bpp: 3 });
    expect(Array.from(decodeImage(rgb, 'c.png').pixels)).toEqual(Array.from(GRAY));
    const rgba = png({ cols: COLS, rows: ROWS, depth: 8, colorType: 6, lines: lines((x, y) => [g(x, y), g(x, y), g(x, y), 255]), bpp: 4 });
    expect(Array.from(decodeImage(rgba, 'c.png').pixels)).toEqual(Array.from(GRAY));
    const red = png({ cols: 1, rows: 1, depth: 8, colorType: 2, lines: [new Uint8Array([255, 0, 0])], bpp: 3 });
    expect(decodeImage(red, 'r.png').pixels[0]).toBe((77 * 255 + 128) >> 8);
  });

  it('alpha is composited over white: transparent background, black ink → light ink on black', () => {
    // Ink (black, opaque) on column 2, everything else fully transparent.
    const l = lines((x) => (x === 2 ? [0, 0, 0, 255] : [0, 0, 0, 0]));
    const img = decodeImage(png({ cols: COLS, rows: ROWS, depth: 8, colorType: 6, lines: l, bpp: 4 }), 't.png');
    expect(Array.from(img.pixels.subarray(0, COLS))).toEqual([255, 255, 0, 255, 255]);
    expect(img.transparent).toBe(true);
    expect(backgroundOf(img.pixels)).toBe('light');
    expect(Array.from(invert(img.pixels).subarray(0, COLS))).toEqual([0, 0, 255, 0, 0]);
    const ga = png({ cols: 2, rows: 1, depth: 8, colorType: 4, lines: [new Uint8Array([0, 255, 100, 0])], bpp: 2 });
    expect(Array.from(decodeImage(ga, 'ga.png').pixels)).toEqual([0, 255]);
  });

  it('palette, 8-bit and 2-bit, with tRNS', () => {
    const plte = new Uint8Array([0, 0, 0, 255, 255, 255, 255, 0, 0, 10, 10, 10]);
    const p8 = png({ cols: 4, rows: 1, depth: 8, colorType: 3, lines: [new Uint8Array([0, 1, 2, 3])], bpp: 1, plte });
    expect(Array.from(decodeImage(p8, 'p.png').pixels)).toEqual([0, 255, 77, 10]);
    // 2-bit: indices 0,1,2,3,1 packed MSB first into 2 bytes.
    const p2 = png({ cols: 5, rows: 2, depth: 2, colorType: 3, lines: [new Uint8Array([0b00011011, 0b01000000]), new Uint8Array([0b11100100, 0])], bpp: 1, plte, trns: new Uint8Array([255, 0]) });
    expect(Array.from(decodeImage(p2, 'p2.png').pixels)).toEqual([0, 255, 77, 10, 255, 10, 77, 255, 0, 0]);
    const bad = png({ cols: 1, rows: 1, depth: 8, colorType: 3, lines: [new Uint8Array([7])], bpp: 1, plte });
    expect(decodeError(bad)).toBe('img: PNG pixel uses palette entry 7 of 4');
    const noPlte = png({ cols: 1, rows: 1, depth: 8, colorType: 3, lines: [new Uint8Array([0])], bpp: 1 });
    expect(decodeError(noPlte)).toMatch(/without a valid PLTE/);
  });

  it('1-bit gray and 16-bit gray', () => {
    const b1 = png({ cols: 3, rows: 1, depth: 1, colorType: 0, lines: [new Uint8Array([0b10100000])], bpp: 1 });
    expect(Array.from(decodeImage(b1, 'b.png').pixels)).toEqual([255, 0, 255]);
    const b16 = png({ cols: 2, rows: 1, depth: 16, colorType: 0, lines: [new Uint8Array([0x12, 0x34, 0xff, 0xff])], bpp: 2, filters: [4] });
    expect(Array.from(decodeImage(b16, 'w.png').pixels)).toEqual([0x12, 0xff]);
  });

  it('rejects bad PNGs with one-line DataErrors', () => {
    const good = png({ cols: COLS, rows: ROWS, depth: 8, colorType: 0, lines: lines((x, y) => [g(x, y)]), bpp: 1 });
    expect(decodeError(png({ cols: 1, rows: 1, depth: 8, colorType: 0, lines: [new Uint8Array(1)], bpp: 1, interlace: 1 }))).toMatch(/interlaced/);
    expect(decodeError(png({ cols: 1, rows: 1, depth: 4, colorType: 2, lines: [new Uint8Array(2)], bpp: 1 }))).toMatch(/colour type 2 with bit depth 4/);
    for (let cut = 8; cut < good.length; cut += 3) expect(decodeError(good.subarray(0, cut))).toMatch(/^img: (truncated|corrupt)/);
    const badFilter = png({ cols: 1, rows: 1, depth: 8, colorType: 0, lines: [new Uint8Array(1)], bpp: 1, filters: [5] });
    expect(decodeError(badFilter)).toBe('img: PNG scanline 0 has filter type 5');
    const huge = Uint8Array.from(good);
    new DataView(huge.buffer).setUint32(16, 0x7fffffff); // IHDR width
    expect(decodeError(huge)).toMatch(/empty or too large/);
    const corrupt = Uint8Array.from(good);
    corrupt[good.length - 20] ^= 0xff; // inside IDAT
    expect(decodeError(corrupt)).toMatch(/^img: (corrupt|truncated) PNG/);
  });
});

describe('readImageFile', () => {
  it('returns the pixels as stored, light or dark (predict decides about inverting)', async () => {
    const dark = file('dark.pgm', Buffer.concat([Buffer.from(`P5 ${COLS} ${ROWS} 255\n`), GRAY]));
    expect(await readImageFile(dark, ROWS, COLS)).toEqual({ rows: ROWS, cols: COLS, pixels: GRAY, transparent: false });
    const lightPx = GRAY.map((v) => 255 - v);
    const light = file('light.png', png({ cols: COLS, rows: ROWS, depth: 8, colorType: 0, lines: lines((x, y) => [255 - g(x, y)]), bpp: 1 }));
    expect(await readImageFile(light, ROWS, COLS)).toEqual({ rows: ROWS, cols: COLS, pixels: lightPx, transparent: false });
  });

  it('background: light when the mean pixel is above mid-grey (127.5)', () => {
    expect(meanPixel(Uint8Array.from([0, 255, 128, 129]))).toBe(128);
    expect(backgroundOf(Uint8Array.from([127, 128]))).toBe('dark'); // mean 127.5: not above
    expect(backgroundOf(Uint8Array.from([128, 128]))).toBe('light');
    expect(Array.from(invert(Uint8Array.from([0, 1, 255])))).toEqual([255, 254, 0]);
  });

  it('names the file and both sizes when the size differs; names a missing file', async () => {
    const p = file('size.pgm', Buffer.concat([Buffer.from(`P5 ${COLS} ${ROWS} 255\n`), GRAY]));
    await expect(readImageFile(p, 28, 28)).rejects.toThrow(new DataError(`${p}: image is 7×5 pixels (rows×cols) but the model takes 28×28`));
    await expect(readImageFile(join(tmp, 'none.png'), 28, 28)).rejects.toThrow(new DataError(`${join(tmp, 'none.png')}: no such file`));
    await expect(readImageFile(tmp, 28, 28)).rejects.toThrow(DataError);
  });
});
