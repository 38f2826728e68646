// The layer engine as a whole: conv / maxpool / dropout / dense stacks in WASM against the float64 reference
// network (src/reference/network.ts), whose own gradients are checked by centred finite differences; bit-identity
// of a CNN's training for 1–4 threads; the checkpoint's PyTorch layouts; and a short real CNN training run.
import { describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { Network } from '../src/model/network.js';
import { Rng } from '../src/rng.js';
import { netLossAndGrad, referenceNet, type DropoutDraw, type ReferenceNet } from '../src/reference/network.js';
import type { Shape } from '../src/model/spec.js';
import { archInfo, decodeCheckpoint, encodeCheckpoint, loadIntoModel } from '../src/checkpoint/model-checkpoint.js';
import { Trainer, defaultConfig } from '../src/train/trainer.js';
import { groupError, worstRelError } from './helpers.js';
import { trainData } from './fixtures.js';

/** u8 images with about `zeros` of the pixels zero, like MNIST. */
function images(count: number, dim: number, seed: number, zeros = 0.6): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: count * dim }, () => (rng.nextFloat() < zeros ? 0 : 1 + rng.nextBelow(255)));
}
const labels = (count: number, classes: number, seed: number) => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: count }, () => rng.nextBelow(classes));
};

/** Parameters for a reference net: weights uniform in ±1/sqrt(fan-in), biases in ±0.1. */
function randomParams(net: ReferenceNet, seed: number): Float64Array {
  const rng = new Rng(seed);
  const p = new Float64Array(net.paramCount);
  for (const L of net.layers.filter((l) => l.weightCount > 0)) {
    const bound = 1 / Math.sqrt(L.fans()[0]);
    for (let i = 0; i < L.weightCount; i++) p[L.w + i] = bound * (2 * rng.nextFloat() - 1);
    for (let i = 0; i < L.biasCount; i++) p[L.b + i] = 0.1 * (2 * rng.nextFloat() - 1);
  }
  return p;
}

describe('the float64 reference network', () => {
  // Two input channels, padding, stride, overlapping pools, dropout, a dense layer after a feature map.
  const spec = 'conv3x3:3/p1,maxpool3/s2,conv2x2:4/s1/p1,dropout:0.3,dense:5';
  const input: Shape = { c: 2, h: 7, w: 6 };
  it(`${spec} on 2×7×6: every gradient matches centred finite differences`, () => {
    const net = referenceNet(spec, input, 3);
    const rows = 3;
    const x = Array.from(images(rows, 84, 1, 0.3), (v) => v / 255);
    const y = labels(rows, 3, 2);
    const drop: DropoutDraw = { seed: 9, step: 4, idx: [11, 5, 7] };
    const p = randomParams(net, 3);
    const { grads } = netLossAndGrad(net, p, x, y, rows, drop);
    const h = 1e-6;
    const numeric = new Float64Array(p.length);
    let kinks = 0;
    for (let i = 0; i < p.length; i++) {
      const at = (d: number) => {
        const q = p.slice();
        q[i] += d;
        return netLossAndGrad(net, q, x, y, rows, drop);
      };
      const [plus, minus] = [at(h), at(-h)];
      numeric[i] = (plus.loss - minus.loss) / (2 * h);
      // A step across a ReLU kink or a change of maximum would make the difference meaningless: none expected.
      if (Math.abs((plus.loss + minus.loss) / 2 - netLossAndGrad(net, p, x, y, rows, drop).loss) > 1e-9) kinks++;
    }
    expect(kinks).toBe(0);
    expect(worstRelError(grads, numeric)).toBeLessThan(1e-5);
    expect(grads.some((g) => g !== 0)).toBe(true);
  });
});

interface Case {
  spec: string;
  input: Shape;
  classes: number;
  batch: number;
  zeros?: number;
}

const cases: Case[] = [
  { spec: 'conv3x3:4/p1,maxpool2,dense:7', input: { c: 3, h: 7, w: 5 }, classes: 4, batch: 1 },
  { spec: 'conv3x3:4/p1,maxpool2,dense:7', input: { c: 3, h: 7, w: 5 }, classes: 4, batch: 33 },
  { spec: 'conv2x2:5/s2,conv3x3:3/s3/p2,maxpool2/s1,dropout:0.25,dense:6', input: { c: 1, h: 11, w: 9 }, classes: 3, batch: 5 },
  { spec: 'lenet5', input: { c: 1, h: 28, w: 28 }, classes: 10, batch: 33, zeros: 0.81 },
  { spec: 'dropout:0.5,dense:9', input: { c: 1, h: 4, w: 4 }, classes: 2, batch: 7 },
  { spec: 'conv1x1:3,maxpool3/s2,conv5x5:7/p2', input: { c: 5, h: 9, w: 8 }, classes: 5, batch: 2 },
];

describe('a whole network in WASM (float32) against the float64 reference', () => {
  for (const build of ['debug', 'release', 'relaxed'] as Build[]) {
    for (const c of cases) {
      it(`${build}: ${c.spec} on ${c.input.c}×${c.input.h}×${c.input.w}, batch ${c.batch}`, async () => {
        const eng = await Engine.load(build);
        const model = new Network(eng, { spec: c.spec, input: c.input, classes: c.classes }, { batch: c.batch, optimizer: { kind: 'momentum' }, seed: 17 });
        const ref = referenceNet(c.spec, c.input, c.classes);
        const p = randomParams(ref, 5);
        model.paramView().set(p);
        const D = c.input.c * c.input.h * c.input.w;
        const x = images(c.batch, D, 6, c.zeros ?? 0.3);
        const y = labels(c.batch, c.classes, 7);
        const data = model.upload(x, y, c.batch);
        const idx = model.allocIndices(c.batch);
        idx.forEach((_, i) => (idx[i] = c.batch - 1 - i)); // rows in another order than the samples
        const drop = { seed: 17, step: model.step, idx: Array.from(idx) };
        const loss = model.trainStep(data, idx, 0); // lr 0: the gradients, parameters unchanged
        const xs = Array.from(idx, (s) => Array.from(x.subarray(s * D, (s + 1) * D), (v) => v / 255)).flat();
        const r = netLossAndGrad(ref, Float64Array.from(model.paramView()), xs, Array.from(idx, (s) => y[s]), c.batch, drop);
        expect(Math.abs(loss - r.loss) / Math.max(1, r.loss)).toBeLessThan(1e-5);
        const g = model.gradView();
        model.paramLayers.forEach((L, l) => {
          expect(groupError(g.subarray(L.w, L.w + L.weightCount), r.grads.subarray(L.w, L.w + L.weightCount)), `layers.${l}.weight`).toBeLessThan(2e-4);
          expect(groupError(g.subarray(L.b, L.b + L.biasCount), r.grads.subarray(L.b, L.b + L.biasCount)), `layers.${l}.bias`).toBeLessThan(2e-4);
        });
        // Evaluation: no dropout, the same logits as the reference's evaluation pass.
        const probs = model.predict(x);
        const ev = netLossAndGrad(ref, Float64Array.from(model.paramView()), Array.from(x, (v) => v / 255), y, c.batch);
        for (let i = 0; i < c.batch; i++) {
          const row = Array.from(ev.logits.subarray(i * c.classes, (i + 1) * c.classes));
          const m = Math.max(...row);
          const sum = row.reduce((s, v) => s + Math.exp(v - m), 0);
          row.forEach((v, k) => expect(Math.abs(probs[i * c.classes + k] - Math.exp(v - m) / sum)).toBeLessThan(1e-5));
        }
      });
    }
  }
});

const bits = (f: Float32Array) => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

describe('a CNN step is bit-identical on 1, 2, 3 and 4 threads', () => {
  for (const build of ['release', 'relaxed'] as Build[]) {
    it(`${build}: conv/pool/dropout/dense, momentum, 6 steps of 64 rows then 37, evaluation and prediction`, async () => {
      const data = trainData(400, 0, 100);
      const outs: Buffer[][] = [];
      for (const threads of [1, 2, 3, 4]) {
        const eng = await Engine.load(build, { threads });
        try {
          const spec = 'conv5x5:6/p2,maxpool2,conv3x3:12/s2,dropout:0.4,dense:30';
          const model = new Network(eng, { spec, input: { c: 1, h: 28, w: 28 }, classes: 10 }, { batch: 64, optimizer: { kind: 'momentum' }, seed: 3 });
          model.init(new Rng(3));
          const split = model.upload(data.train.images, data.train.labels, data.train.count);
          const idx = model.allocIndices(64);
          const order = new Rng(4);
          for (let s = 0; s < 7; s++) {
            for (let i = 0; i < 64; i++) idx[i] = order.nextBelow(data.train.count);
            model.trainStep(split, s < 6 ? idx : idx.subarray(0, 37), 0.05);
          }
          if (threads > 1) expect(eng.pool!.jobs).toBeGreaterThanOrEqual(14);
          const ev = model.evaluate(model.upload(data.test.images, data.test.labels, data.test.count));
          outs.push([bits(model.paramView()), ...model.stateViews().map(bits), bits(Float32Array.of(ev.loss, ev.accuracy)), bits(model.predict(data.test.images))]);
        } finally {
          eng.close();
        }
      }
      for (let t = 1; t < 4; t++) outs[t].forEach((b, i) => expect(b.equals(outs[0][i]), `${t + 1} threads, buffer ${i}`).toBe(true));
    });
  }
});

describe('checkpoints hold PyTorch layouts', () => {
  it('conv weights [out, in, kh, kw], a dense layer after a feature map [out, c·h·w in (c, h, w) order]', async () => {
    const eng = await Engine.load('release');
    const input = { c: 2, h: 4, w: 3 };
    const model = new Network(eng, { spec: 'conv3x3:3/p1,dense:4', input, classes: 2 }, { batch: 1 });
    model.init(new Rng(1));
    const p = model.paramView();
    const [conv, dense] = model.paramLayers;
    const ck = decodeCheckpoint(encodeCheckpoint(model, { info: { arch: archInfo(model), epoch: 0, seed: 1, optimizer: model.optimizer, step: 0, dataFingerprint: '' } }), 'x');
    const w0 = ck.tensors.get('layers.0.weight')!;
    expect(w0.shape).toEqual([3, 2, 3, 3]);
    // PyTorch's w[co, ci, ky, kx] is ours at row (ky·3 + kx)·2 + ci, column co
    for (const [co, ci, ky, kx] of [[0, 0, 0, 0], [2, 1, 1, 2], [1, 0, 2, 1]]) {
      expect(w0.data[((co * 2 + ci) * 3 + ky) * 3 + kx]).toBe(p[conv.w + ((ky * 3 + kx) * 2 + ci) * 3 + co]);
    }
    const w1 = ck.tensors.get('layers.1.weight')!;
    expect(w1.shape).toEqual([4, 36]);
    // PyTorch flattens (c, y, x); we keep (y, x, c): feature (c=2, y=3, x=1) of output 3
    expect(w1.data[3 * 36 + (2 * 4 + 3) * 3 + 1]).toBe(p[dense.w + ((3 * 3 + 1) * 3 + 2) * 4 + 3]);
    expect(ck.info.arch).toEqual({ spec: 'conv3x3:3/p1,dense:4', input, classes: 2 });
    // and back: the same parameters
    const other = new Network(eng, { spec: 'conv3x3:3/p1,dense:4', input, classes: 2 }, { batch: 1 });
    loadIntoModel(other, ck, 'x');
    expect(bits(other.paramView()).equals(bits(model.paramView()))).toBe(true); // (views made afresh: memory grew)
  });
});

describe('predict takes whole images only', () => {
  it('a length that is not a multiple of the image size is refused, not read as stale rows', async () => {
    const model = new Network(await Engine.load('release'), { spec: 'conv3x3:2,dense:4', input: { c: 3, h: 5, w: 4 }, classes: 2 }, { batch: 1 });
    expect(model.predict(new Uint8Array(60)).length).toBe(2);
    expect(() => model.predict(new Uint8Array(61))).toThrow('predict: 61 bytes is not a whole number of 5×4×3 images (60 bytes each)');
  });
});

describe('a short CNN training on real MNIST', () => {
  it('lenet5 reaches at least 93% on 1,000 test images after two epochs on 5,000 images', async () => {
    const t = await Trainer.create(trainData(5000, 0, 1000), { ...defaultConfig, arch: 'lenet5', epochs: 2, threads: 2 });
    try {
      const r = await t.run();
      expect(r.test.count).toBe(1000);
      expect(r.test.accuracy).toBeGreaterThanOrEqual(0.93);
    } finally {
      t.close();
    }
  });
});
