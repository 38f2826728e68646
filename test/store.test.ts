// Loading a dataset straight into an engine's linear memory (loadDataset's store), as `barenet train` does so
// the data is not held twice: the same dataset as a plain load, views that survive memory growth, upload in
// place, the same one-line errors for bad files, and training bit-identical to data uploaded from JS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../src/errors.js';
import { encodeImagesIdx, encodeLabelsIdx } from '../src/data/idx.js';
import { DATASET_FILES, type Dataset } from '../src/data/dataset-core.js';
import { loadDataset } from '../src/data/dataset.js';
import { Engine } from '../src/wasm/engine.js';
import { Trainer, defaultConfig, type TrainConfig } from '../src/train/trainer.js';
import { removeTemps, tempDir, writeDataset } from './fixtures.js';

let root: string;
beforeAll(() => {
  root = tempDir('barenet-store-');
});
afterAll(removeTemps);

/** The engines a store can be: plain memory (1 thread) and shared memory (2 threads). */
const ENGINES = [
  ['plain', 1],
  ['shared', 2],
] as const;

function sameDataset(a: Dataset, b: Dataset): void {
  expect([a.rows, a.cols, a.classes, a.fingerprint]).toEqual([b.rows, b.cols, b.classes, b.fingerprint]);
  for (const k of ['train', 'val', 'test'] as const) {
    expect(a[k]!.count).toBe(b[k]!.count);
    expect(Buffer.compare(a[k]!.images, b[k]!.images)).toBe(0);
    expect(Buffer.compare(a[k]!.labels, b[k]!.labels)).toBe(0);
  }
}

describe.each(ENGINES)('loadDataset into %s memory', (_, threads) => {
  let eng: Engine;
  beforeAll(async () => {
    eng = await Engine.load('release', { threads });
  });
  afterAll(() => eng.close());

  it.each([false, true])('gzip %s: the same dataset, in place, still valid after memory grows', async (gzip) => {
    const dir = writeDataset(join(root, `ok-${threads}-${gzip}`), { train: 300, test: 100, gzip });
    const plain = await loadDataset(dir, { val: 50 });
    const before = eng.used;
    const stored = await loadDataset(dir, { val: 50, store: eng });
    // Read straight into linear memory: the four files and nothing else.
    expect(eng.used - before).toBeLessThan(400 * 784 + 400 + 4 * 16 + 64);
    expect(eng.used - before).toBeGreaterThanOrEqual(400 * 784 + 400);
    expect(stored.train.images.buffer).toBe(eng.memory.buffer);
    sameDataset(stored, plain);
    eng.alloc(8 << 20); // grows memory: views made before are detached (plain memory), the splits are not
    expect(stored.train.images.buffer).toBe(eng.memory.buffer);
    sameDataset(stored, plain);
  });

  it('upload uses stored bytes in place', async () => {
    const data = await loadDataset(writeDataset(join(root, `up-${threads}`), { train: 200, test: 50 }), { val: 20, store: eng });
    const t = await Trainer.create(data, { ...defaultConfig, arch: 'dense:8', epochs: 1, threads }, eng);
    const used = eng.used;
    const split = t.model.upload(data.test.images, data.test.labels, data.test.count);
    expect(eng.used).toBe(used);
    expect([split.images, split.labels]).toEqual([data.test.images.byteOffset, data.test.labels.byteOffset]);
    // Bytes from JS are still copied.
    t.model.upload(data.test.images.slice(), data.test.labels.slice(), data.test.count);
    expect(eng.used).toBeGreaterThan(used + 50 * 784);
  });
});

describe('bad files give the same errors with a store as without', () => {
  const good = {
    [DATASET_FILES.trainImages]: encodeImagesIdx(new Uint8Array(20 * 4 * 3).map((_, i) => i), 20, 4, 3),
    [DATASET_FILES.trainLabels]: encodeLabelsIdx(new Uint8Array(20).map((_, i) => i % 3)),
    [DATASET_FILES.testImages]: encodeImagesIdx(new Uint8Array(6 * 4 * 3), 6, 4, 3),
    [DATASET_FILES.testLabels]: encodeLabelsIdx(new Uint8Array(6).map((_, i) => i % 3)),
  };
  const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
  const img = good[DATASET_FILES.trainImages];
  // A header declaring 25 MB over 100 bytes, gzipped to a few dozen: nothing that size may be allocated for it.
  const huge = cat(new Uint8Array([0, 0, 8, 3, 0, 0, 0x7f, 0xff, 0, 0, 0, 28, 0, 0, 0, 28]), new Uint8Array(100));
  const cases: [string, string, Uint8Array, boolean][] = [
    ['truncated', DATASET_FILES.trainImages, img.subarray(0, 30), false],
    ['extra bytes', DATASET_FILES.trainImages, cat(img, new Uint8Array(5)), false],
    ['header only', DATASET_FILES.trainLabels, good[DATASET_FILES.trainLabels].subarray(0, 6), false],
    ['empty', DATASET_FILES.testLabels, new Uint8Array(0), false],
    ['labels as images', DATASET_FILES.trainImages, good[DATASET_FILES.trainLabels], false],
    ['f32 data', DATASET_FILES.testImages, cat(new Uint8Array([0, 0, 0x0d, 3]), img.subarray(4)), false],
    ['gzip, truncated data', DATASET_FILES.trainImages, gzipSync(img.subarray(0, 100)), true],
    ['gzip, extra bytes', DATASET_FILES.trainImages, gzipSync(cat(img, new Uint8Array(70000))), true],
    ['gzip, huge header', DATASET_FILES.trainImages, gzipSync(huge), true],
    ['gzip, cut short', DATASET_FILES.testImages, gzipSync(img).subarray(0, 40), true],
    ['gzip, not IDX', DATASET_FILES.testLabels, gzipSync(new Uint8Array(5000).fill(7)), true],
  ];

  async function message(dir: string, store?: Engine): Promise<string> {
    try {
      await loadDataset(dir, { val: 2, store });
    } catch (err) {
      expect(err).toBeInstanceOf(DataError);
      return (err as Error).message;
    }
    throw new Error('expected a DataError');
  }

  it.each(cases)('%s', async (name, file, bytes, gzip) => {
    const dir = join(root, 'bad-' + name.replace(/\W+/g, '-'));
    mkdirSync(dir, { recursive: true });
    for (const [f, b] of Object.entries(good)) if (f !== file) writeFileSync(join(dir, f), b);
    writeFileSync(join(dir, file + (gzip ? '.gz' : '')), bytes);
    const eng = await Engine.load('release');
    const used = eng.used;
    const msg = await message(dir, eng);
    expect(msg).toBe(await message(dir));
    expect(msg).toContain(file);
    expect(eng.used - used).toBeLessThan(1 << 20);
  });
});

describe('training on stored data', () => {
  it('is bit-identical to training on data uploaded from JS, for 1 and 2 threads', async () => {
    const dir = writeDataset(join(root, 'train'), { train: 600, test: 200 });
    const config: TrainConfig = { ...defaultConfig, arch: 'dense:32', epochs: 2, batch: 32, threads: 1 };
    const run = async (threads: number, stored: boolean) => {
      const eng = stored ? await Engine.load(config.build, { threads }) : undefined;
      const data = await loadDataset(dir, { val: 100, store: eng });
      const t = await Trainer.create(data, { ...config, threads }, eng);
      try {
        const r = await t.run();
        return { params: t.model.paramView().slice(), test: r.test.loss, val: r.val!.loss };
      } finally {
        t.close();
      }
    };
    const ref = await run(1, false);
    for (const threads of [1, 2]) {
      const r = await run(threads, true);
      expect(Buffer.compare(new Uint8Array(r.params.buffer), new Uint8Array(ref.params.buffer))).toBe(0);
      expect([r.test, r.val]).toEqual([ref.test, ref.val]);
    }
  });
});
