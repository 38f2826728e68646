// The whole network in WASM against the float64 reference: loss and every gradient group, dense and
// sparse first layer, odd shapes and batch 1; plus determinism and a short real-MNIST training.
import { describe, it, expect, beforeAll } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import type { Network } from '../src/model/network.js';
import { mlpNetwork, denseLayers, groupError, type MlpShape } from './helpers.js';
import { Rng } from '../src/rng.js';
import { lossAndGrad, type Params } from '../src/reference/mlp.js';
import { loadDataset, type Dataset } from '../src/data/dataset.js';
import { Trainer, defaultConfig } from '../src/train/trainer.js';

/** u8 images with about `zeros` of the pixels zero, like MNIST. */
function images(count: number, dim: number, seed: number, zeros = 0.8): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(count * dim);
  for (let i = 0; i < out.length; i++) out[i] = rng.nextFloat() < zeros ? 0 : 1 + rng.nextBelow(255);
  return out;
}

function labels(count: number, classes: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: count }, () => rng.nextBelow(classes));
}

/** The model's parameter buffer as reference layers (float64 copies of the same f32 values). */
function toReference(model: Network, buf: Float32Array): Params {
  return denseLayers(model).map((L) => ({
    fanIn: L.fanIn,
    fanOut: L.fanOut,
    w: Float64Array.from(buf.subarray(L.w, L.w + L.fanIn * L.fanOut)),
    b: Float64Array.from(buf.subarray(L.b, L.b + L.fanOut)),
  }));
}

const shapes: { arch: MlpShape; batch: number }[] = [
  { arch: { input: 17, hidden: [33, 5], classes: 3 }, batch: 5 },
  { arch: { input: 3, hidden: [1], classes: 2 }, batch: 1 },
  { arch: { input: 33, hidden: [17], classes: 10 }, batch: 64 },
  { arch: { input: 784, hidden: [256, 128], classes: 10 }, batch: 64 },
  { arch: { input: 784, hidden: [64], classes: 10 }, batch: 1 },
  { arch: { input: 5, hidden: [], classes: 3 }, batch: 3 },
];

describe('whole network: WASM float32 vs float64 reference', () => {
  for (const build of ['release', 'debug', 'relaxed'] as Build[]) {
    for (const { arch, batch } of shapes) {
      for (const sparse of [false, true]) {
        const name = `${build} ${[arch.input, ...arch.hidden, arch.classes].join('-')} batch ${batch}${sparse ? ' sparse' : ''}`;
        it(name, async () => {
          const eng = await Engine.load(build);
          // momentum, not plain SGD: that would apply sparse layers' weight gradients without storing them
          const model = mlpNetwork(eng, arch, { batch, sparse, optimizer: { kind: 'momentum' } });
          model.init(new Rng(7));
          // Non-zero biases so their gradients are exercised through every layer.
          const x = images(batch, arch.input, 9);
          const y = labels(batch, arch.classes, 10);
          const data = model.upload(x, y, batch);
          const idx = model.allocIndices(batch);
          idx.forEach((_, i) => (idx[i] = i));
          const p = model.paramView();
          const rng = new Rng(8);
          for (const L of denseLayers(model)) for (let j = 0; j < L.fanOut; j++) p[L.b + j] = 0.1 * (2 * rng.nextFloat() - 1);
          const before = p.slice();
          const loss = model.trainStep(data, idx, 0); // lr 0: gradients only, parameters unchanged
          expect(Buffer.from(p.buffer, p.byteOffset, p.byteLength).equals(Buffer.from(before.buffer))).toBe(true);

          const ref = lossAndGrad(toReference(model, before), Array.from(x, (v) => v / 255), y, batch);
          expect(Math.abs(loss - ref.loss) / Math.max(1, ref.loss)).toBeLessThan(1e-5);
          const grads = toReference(model, model.gradView());
          grads.forEach((g, l) => {
            expect(groupError(g.w, ref.grads[l].w), `layers.${l}.weight`).toBeLessThan(1e-4);
            expect(groupError(g.b, ref.grads[l].b), `layers.${l}.bias`).toBeLessThan(1e-4);
          });
        });
      }
    }
  }
});

describe('sparse first layer', () => {
  it('gives bit-identical parameters to the dense path after several steps', async () => {
    const arch = { input: 784, hidden: [256, 128], classes: 10 };
    const runs = await Promise.all(
      [false, true].map(async (sparse) => {
        const model = mlpNetwork(await Engine.load('release'), arch, { batch: 64, sparse, optimizer: { kind: 'momentum' } });
        model.init(new Rng(3));
        const data = model.upload(images(256, 784, 4), labels(256, 10, 5), 256);
        const idx = model.allocIndices(256);
        idx.forEach((_, i) => (idx[i] = (i * 37) % 256));
        for (let s = 0; s < 4; s++) model.trainStep(data, idx.subarray(s * 64, s * 64 + 64), 0.05);
        return model.paramView().slice();
      }),
    );
    expect(Buffer.from(runs[1].buffer).equals(Buffer.from(runs[0].buffer))).toBe(true);
  });
});

describe('plain SGD with the fused sparse weight-gradient step (sgd_tn_sparse)', () => {
  // Momentum with mu = 0 takes the same step, p − lr·g, through the unfused path (gemm_tn + momentum_step).
  it.each([
    [1, true],
    [1, false],
    [64, true],
    [7, true],
  ])('batch %i, sparse first layer %s: bit-identical to momentum 0 after several steps', async (batch, sparse) => {
    const arch = { input: 784, hidden: [256, 128], classes: 10 };
    const runs = await Promise.all(
      (['sgd', 'momentum'] as const).map(async (kind) => {
        const model = mlpNetwork(await Engine.load('release'), arch, { batch, sparse, optimizer: { kind, momentum: 0 } });
        model.init(new Rng(3));
        const data = model.upload(images(384, 784, 4), labels(384, 10, 5), 384);
        const idx = model.allocIndices(384);
        idx.forEach((_, i) => (idx[i] = (i * 37) % 384));
        for (let s = 0; s < 6; s++) model.trainStep(data, idx.subarray(s * batch, s * batch + batch), 0.05);
        return model.paramView().slice();
      }),
    );
    expect(Buffer.from(runs[0].buffer).equals(Buffer.from(runs[1].buffer))).toBe(true);
  });
});

describe('training on real MNIST', () => {
  let mnist: Dataset;
  beforeAll(async () => {
    mnist = await loadDataset(undefined, { val: 0 });
  });

  function subset(n: number, testN: number) {
    const D = mnist.dim;
    return {
      ...mnist,
      train: { images: mnist.train.images.subarray(0, n * D), labels: mnist.train.labels.subarray(0, n), count: n },
      val: { images: mnist.train.images.subarray(n * D, (n + 1000) * D), labels: mnist.train.labels.subarray(n, n + 1000), count: 1000 },
      test: { images: mnist.test.images.subarray(0, testN * D), labels: mnist.test.labels.subarray(0, testN), count: testN },
    };
  }

  it('the same seed gives bit-identical parameters, in the release and debug builds alike', async () => {
    const data = subset(640, 100);
    const params = [];
    for (const build of ['release', 'release', 'debug'] as Build[]) {
      const t = await Trainer.create(data, { ...defaultConfig, epochs: 2, build });
      await t.run();
      params.push(Buffer.from(t.model.paramView().slice().buffer));
    }
    expect(params[1].equals(params[0])).toBe(true);
    expect(params[2].equals(params[0])).toBe(true);
    const other = await Trainer.create(data, { ...defaultConfig, epochs: 2, seed: 2 });
    await other.run();
    expect(Buffer.from(other.model.paramView().slice().buffer).equals(params[0])).toBe(false);
  });

  it('reaches at least 85% on 1,000 test images after a short training on 4,000 images', async () => {
    const t = await Trainer.create(subset(4000, 1000), { ...defaultConfig, epochs: 3, optimizer: 'sgd', lr: 0.1, schedule: 'none' });
    const r = await t.run();
    expect(r.test.count).toBe(1000);
    expect(r.test.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(r.history.length).toBe(3);
  });
});
