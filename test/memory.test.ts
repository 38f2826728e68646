// Memory is planned before it is allocated (issue 18, item 1): a network that cannot fit gets one line naming
// what it needs and the limit; threads fall back to one thread where one thread's memory suffices; a batch larger
// than the training set is the training set.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/rng.js';
import { encodeImagesIdx, encodeLabelsIdx } from '../src/data/idx.js';
import { lastJson, removeTemps, runCli, tempDir, userError, writeDataset } from './fixtures.js';
import { Engine } from '../src/wasm/engine.js';
import { Network } from '../src/model/network.js';
import { MemoryError } from '../src/errors.js';

const root = tempDir();
const data = writeDataset(join(root, 'data'), { train: 300, test: 100 });
afterAll(removeTemps);

describe('memory planning', () => {
  it('layers too large for any memory: exit 2, one line with what is needed and the limit', async () => {
    const line = userError(await runCli(['train', '--data', data, '--val', '0', '--layers', '20000,20000', '--threads', '1', '--out', join(root, 'a')]));
    expect(line).toMatch(
      /^barenet: the network needs [45],\d{3} MB of WebAssembly memory at batch 64 \(parameters, gradients and optimizer state 4,\d{3} MB, .*\); the limit is 4,096 MB: use a smaller --batch or smaller layers$/,
    );
  });

  it('--batch above the training set is capped at it', async () => {
    const r = await runCli(['train', '--data', data, '--val', '0', '--batch', '100000', '--epochs', '1', '--threads', '1', '--json', '--out', join(root, 'b')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/batch 300,/);
    expect(lastJson(r).epochs).toBe(1);
  });

  it('a network too large for the threads’ shared memory trains on one thread, saying so', async () => {
    // 5,000 rows of a 20,000-wide layer on 4×4 images: about 1.2 GB of activations, over the 1 GiB the threads
    // share and under one thread's 4 GiB, for little arithmetic.
    const tiny = join(root, 'tiny');
    mkdirSync(tiny);
    const rng = new Rng(3);
    const n = 5000;
    const pixels = Uint8Array.from({ length: n * 16 }, () => rng.nextBelow(256));
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 2);
    writeFileSync(join(tiny, 'train-images-idx3-ubyte'), encodeImagesIdx(pixels, n, 4, 4));
    writeFileSync(join(tiny, 'train-labels-idx1-ubyte'), encodeLabelsIdx(labels));
    writeFileSync(join(tiny, 't10k-images-idx3-ubyte'), encodeImagesIdx(pixels.subarray(0, 1600), 100, 4, 4));
    writeFileSync(join(tiny, 't10k-labels-idx1-ubyte'), encodeLabelsIdx(labels.subarray(0, 100)));
    const r = await runCli(['train', '--data', tiny, '--val', '0', '--batch', '5000', '--layers', '20000', '--epochs', '1', '--threads', '2', '--optimizer', 'sgd', '--out', join(root, 'c')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^memory: the network needs 1,\d{3} MB, more than the 1,024 MB 2 threads can share: training on one thread$/m);
    expect(r.stdout).toMatch(/, 1 thread\n/);
  });

  it('the library throws a MemoryError before it allocates anything', async () => {
    const eng = await Engine.load('release');
    const before = eng.used;
    let err: unknown;
    try {
      new Network(eng, { spec: 'dense:30000,dense:30000', input: { c: 1, h: 28, w: 28 }, classes: 10 }, { batch: 64 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MemoryError);
    expect((err as MemoryError).limit).toBe(4 * 2 ** 30);
    expect(eng.used - before).toBeLessThan(1024); // nothing but the layers' descriptions
  });
});
