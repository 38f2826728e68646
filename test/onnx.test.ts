// ONNX export checked by a real runtime: ONNX Runtime (onnxruntime-web's wasm backend, in Node) runs the exported
// files. An MLP's probabilities and accuracy equal barenet's predict and evaluate; conv and pool rules equal float64
// arithmetic; `barenet export` end to end; the file's structure read back; refusals and CLI errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { ProtoWriter, varint } from '../src/export/protobuf.js';
import { toOnnx, OPSET, type ExportModel } from '../src/export/onnx.js';
import { exportModelFromCheckpoint } from '../src/export/checkpoint.js';
import { parseSpec, type LayerSpec } from '../src/model/spec.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors.js';
import { parseImages } from '../src/data/idx.js';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import { Trainer, defaultConfig } from '../src/train/trainer.js';
import { Engine } from '../src/wasm/engine.js';
import { ExportError } from '../src/errors.js';
import { exportSpec } from '../src/cli/export.js';
import { lastJson, removeTemps, runCli, tempDir, trainData, userError, writeDataset, MNIST_DIR } from './fixtures.js';

ort.env.wasm.numThreads = 1;
const realFetch = globalThis.fetch;
beforeAll(() => {
  // ONNX Runtime must load its .wasm from node_modules: any fetch (a CDN) fails the test.
  globalThis.fetch = (url: unknown) => Promise.reject(new Error(`no network in tests: fetch ${url}`));
});
afterAll(() => {
  globalThis.fetch = realFetch;
  removeTemps();
});

/** ONNX Runtime's outputs for a batch of float32 [n, ...dims] inputs. */
async function runOnnx(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<{ logits: Float32Array; probabilities: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const r = await session.run({ input: new ort.Tensor('float32', x, dims) });
    return { logits: r.logits.data as Float32Array, probabilities: r.probabilities.data as Float32Array };
  } finally {
    await session.release();
  }
}

/** u8 pixels → float32 in [0, 1], as barenet's kernels scale them (f32(byte) / 255, correctly rounded). */
const scaled = (px: Uint8Array) => Float32Array.from(px, (v) => v / 255);

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Row-wise argmax of [n, C] values (the first of equal maxima). */
const argmax = (v: ArrayLike<number>, C: number) =>
  Array.from({ length: v.length / C }, (_, r) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (v[r * C + c] > v[r * C + best]) best = c;
    return best;
  });

// ---- reading an ONNX file back: a generic protobuf decoder (varint and length-delimited fields only).
type Message = Map<number, (number | Uint8Array)[]>;
function decode(b: Uint8Array): Message {
  const out: Message = new Map();
  let p = 0;
  const varintAt = () => {
    let v = 0;
    for (let mul = 1; ; mul *= 128) {
      const byte = b[p++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
    }
  };
  while (p < b.length) {
    const key = varintAt();
    const wire = key & 7;
    let v: number | Uint8Array;
    if (wire === 0) v = varintAt();
    else if (wire === 2) {
      const n = varintAt();
      v = b.subarray(p, (p += n));
    } else throw new Error(`unexpected wire type ${wire}`);
    if (!out.has(key >>> 3)) out.set(key >>> 3, []);
    out.get(key >>> 3)!.push(v);
  }
  return out;
}
const text = (v: number | Uint8Array | undefined) => new TextDecoder().decode(v as Uint8Array);
const all = (m: Message, field: number) => (m.get(field) ?? []).map((v) => decode(v as Uint8Array));

/** What a test checks of a model file: versions, ops in order, initializers, metadata. */
function readModel(bytes: Uint8Array) {
  const model = decode(bytes);
  const graph = decode(model.get(7)![0] as Uint8Array);
  return {
    irVersion: model.get(1)![0],
    producer: text(model.get(2)![0]),
    opsets: all(model, 8).map((o) => [text(o.get(1)?.[0]), o.get(2)![0]]),
    ops: all(graph, 1).map((n) => text(n.get(4)![0])),
    initializers: all(graph, 5).map((t) => ({ name: text(t.get(8)![0]), dims: t.get(1) ?? [], type: t.get(2)![0], raw: t.get(9)![0] as Uint8Array })),
    metadata: Object.fromEntries(all(model, 14).map((e) => [text(e.get(1)![0]), text(e.get(2)![0])])),
  };
}

describe('protobuf writer', () => {
  it('encodes the protobuf documentation examples byte for byte', () => {
    // https://protobuf.dev/programming-guides/encoding/: 150 in field 1; "testing" in field 2; a message in field 3.
    expect([...new ProtoWriter().int(1, 150).finish()]).toEqual([0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().string(2, 'testing').finish()]).toEqual([0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
    expect([...new ProtoWriter().message(3, new ProtoWriter().int(1, 150)).finish()]).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().ints(8, [1, 300]).finish()]).toEqual([0x40, 0x01, 0x40, 0xac, 0x02]);
  });

  it('varints up to 2^53 − 1; negative or fractional values are refused', () => {
    expect([...varint(0)]).toEqual([0]);
    expect([...varint(127)]).toEqual([0x7f]);
    expect([...varint(128)]).toEqual([0x80, 0x01]);
    expect([...varint(2 ** 32)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x10]);
    expect([...varint(2 ** 53 - 1)]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => varint(-1)).toThrow(RangeError);
    expect(() => varint(1.5)).toThrow(RangeError);
  });
});

// ---- conv and pool rules against PyTorch's definitions in float64.

/** Small dyadic values (k/8, k from −5 to 5): every product and sum below is exact in float32. */
const dyadic = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => ((((i + seed) * 7) % 11) - 5) / 8);

/** Tensors for a spec on an input: layers.N.weight and bias of the shapes PyTorch's Conv2d/Linear give them. */
function handTensors(layers: LayerSpec[], input: { c: number; h: number; w: number }, classes: number): ExportModel['tensors'] {
  const tensors: ExportModel['tensors'] = new Map();
  const put = (shape: number[]) => {
    const n = tensors.size / 2;
    tensors.set(`layers.${n}.weight`, { shape, data: dyadic(shape.reduce((a, b) => a * b), 2 * n) });
    tensors.set(`layers.${n}.bias`, { shape: [shape[0]], data: dyadic(shape[0], 2 * n + 1) });
  };
  let { c, h, w } = input;
  for (const L of layers) {
    if (L.kind === 'conv') {
      put([L.out, c, L.size, L.size]);
      [c, h, w] = [L.out, Math.floor((h + 2 * L.pad - L.size) / L.stride) + 1, Math.floor((w + 2 * L.pad - L.size) / L.stride) + 1];
    } else if (L.kind === 'maxpool') [h, w] = [Math.floor((h - L.size) / L.stride) + 1, Math.floor((w - L.size) / L.stride) + 1];
    else if (L.kind === 'dense') {
      put([L.units, c * h * w]);
      [c, h, w] = [L.units, 1, 1];
    }
  }
  put([classes, c * h * w]);
  return tensors;
}

/** One sample's logits in float64: Conv2d (zero padding) + ReLU, MaxPool2d (floor), Linear (+ ReLU), dropout the identity. */
function referenceLogits(m: ExportModel, x: Float32Array): number[] {
  let { c, h, w } = m.input;
  let a = Array.from(x);
  let n = 0;
  const t = (k: string) => m.tensors.get(`layers.${n}.${k}`)!.data;
  const linear = (out: number, relu: boolean) => {
    const [W, b] = [t('weight'), t('bias')];
    const inn = a.length;
    a = Array.from({ length: out }, (_, o) => {
      let s = b[o];
      for (let i = 0; i < inn; i++) s += W[o * inn + i] * a[i];
      return relu ? Math.max(0, s) : s;
    });
    n++;
  };
  for (const L of m.layers) {
    if (L.kind === 'conv') {
      const [W, b] = [t('weight'), t('bias')];
      const oh = Math.floor((h + 2 * L.pad - L.size) / L.stride) + 1;
      const ow = Math.floor((w + 2 * L.pad - L.size) / L.stride) + 1;
      const y: number[] = [];
      for (let o = 0; o < L.out; o++)
        for (let r = 0; r < oh; r++)
          for (let q = 0; q < ow; q++) {
            let s = b[o];
            for (let ci = 0; ci < c; ci++)
              for (let i = 0; i < L.size; i++)
                for (let j = 0; j < L.size; j++) {
                  const [rr, qq] = [r * L.stride + i - L.pad, q * L.stride + j - L.pad];
                  if (rr >= 0 && rr < h && qq >= 0 && qq < w) s += W[((o * c + ci) * L.size + i) * L.size + j] * a[(ci * h + rr) * w + qq];
                }
            y.push(Math.max(0, s));
          }
      [a, c, h, w] = [y, L.out, oh, ow];
      n++;
    } else if (L.kind === 'maxpool') {
      const oh = Math.floor((h - L.size) / L.stride) + 1;
      const ow = Math.floor((w - L.size) / L.stride) + 1;
      const y: number[] = [];
      for (let ci = 0; ci < c; ci++)
        for (let r = 0; r < oh; r++)
          for (let q = 0; q < ow; q++) {
            let v = -Infinity;
            for (let i = 0; i < L.size; i++) for (let j = 0; j < L.size; j++) v = Math.max(v, a[(ci * h + r * L.stride + i) * w + q * L.stride + j]);
            y.push(v);
          }
      [a, h, w] = [y, oh, ow];
    } else if (L.kind === 'dense') linear(L.units, true);
  }
  linear(m.classes, false);
  return a;
}

describe('conv, maxpool, dropout and dense rules: ONNX Runtime equals float64 arithmetic', () => {
  const nets = [
    // stride 2 and padding 1 (5×7 → 3×4), a pool that drops a row and column (3×4 → 1×2), dropout, a hidden dense.
    { spec: 'conv3x3:2/s2/p1,maxpool2,dropout:0.5,dense:3', input: { c: 1, h: 5, w: 7 }, classes: 2 },
    // two input channels, overlapping pools (stride below the window), two convs, no hidden dense (Flatten before the output).
    { spec: 'conv2x2:3/p1,maxpool3/s2,conv2x2:2', input: { c: 2, h: 6, w: 5 }, classes: 4 },
  ];
  for (const { spec, input, classes } of nets) {
    it(`${spec} on ${input.c}×${input.h}×${input.w}, ${classes} classes, batch 3`, async () => {
      const layers = parseSpec(spec);
      const m: ExportModel = { input, layers, classes, tensors: handTensors(layers, input, classes), metadata: {} };
      const D = input.c * input.h * input.w;
      const x = Float32Array.from({ length: 3 * D }, (_, i) => (((i * 5) % 13) - 4) / 16);
      const got = await runOnnx(toOnnx(m), x, [3, input.c, input.h, input.w]);
      const want = [0, 1, 2].flatMap((s) => referenceLogits(m, x.subarray(s * D, (s + 1) * D)));
      expect(new Set(want).size).toBeGreaterThan(classes); // the samples' logits differ: a real test of the layers
      expect(maxAbsDiff(got.logits, want)).toBe(0); // dyadic weights and inputs: every step is exact in float32
      const softmax = [0, 1, 2].flatMap((s) => {
        const z = want.slice(s * classes, (s + 1) * classes);
        const e = z.map((v) => Math.exp(v - Math.max(...z)));
        return e.map((v) => v / e.reduce((p, q) => p + q));
      });
      expect(maxAbsDiff(got.probabilities, softmax)).toBeLessThan(1e-6);
    });
  }

  it('the graph: Conv, Relu, MaxPool, Flatten, Gemm, Relu, Gemm, Softmax; initializers named after the tensors; metadata', () => {
    const layers = parseSpec('conv3x3:2/s2/p1,maxpool2,dropout:0.5,dense:3');
    const input = { c: 1, h: 5, w: 7 };
    const tensors = handTensors(layers, input, 2);
    const r = readModel(toOnnx({ input, layers, classes: 2, tensors, metadata: { note: 'x' } }));
    expect(r.irVersion).toBe(7);
    expect(r.producer).toBe('barenet');
    expect(r.opsets).toEqual([['', OPSET]]);
    expect(r.ops).toEqual(['Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Softmax']);
    expect(r.initializers.map((t) => t.name)).toEqual([...tensors.keys()]);
    for (const t of r.initializers) {
      const src = tensors.get(t.name)!;
      expect(t.dims).toEqual(src.shape);
      expect(t.type).toBe(1); // FLOAT
      expect(Buffer.from(t.raw).equals(Buffer.from(src.data.buffer))).toBe(true);
    }
    expect(r.metadata).toEqual({ spec: 'conv3x3:2/s2/p1,maxpool2,dropout:0.5,dense:3', classes: '2', note: 'x' });
  });
});

describe('refusals: typed errors naming the layer or tensor', () => {
  const input = { c: 1, h: 5, w: 7 };
  const layers = parseSpec('conv3x3:2/s2/p1,maxpool2,dense:3');
  const model = (change: (m: ExportModel) => void): ExportModel => {
    const m: ExportModel = { input, layers: [...layers], classes: 2, tensors: handTensors(layers, input, 2), metadata: {} };
    change(m);
    return m;
  };
  const refusal = (m: ExportModel) => {
    try {
      toOnnx(m);
    } catch (e) {
      expect(e).toBeInstanceOf(ExportError);
      return (e as Error).message;
    }
    throw new Error('toOnnx did not refuse');
  };

  it('a layer kind without an export rule', () => {
    const m = model((m) => m.layers.splice(1, 0, { kind: 'avgpool', size: 2 } as unknown as LayerSpec));
    expect(refusal(m)).toBe('cannot export avgpool (hidden layer 2): ONNX export has rules for conv, maxpool, dense, dropout');
  });

  it('a tensor with the wrong shape, a missing one, a data length that disagrees with its shape, an unused one', () => {
    expect(refusal(model((m) => (m.tensors.get('layers.0.weight')!.shape = [2, 1, 5, 5])))).toBe(
      'tensor layers.0.weight has shape [2,1,5,5], conv3x3:2/s2/p1 needs [2,1,3,3]',
    );
    expect(refusal(model((m) => (m.tensors.get('layers.1.weight')!.shape = [3, 5])))).toBe('tensor layers.1.weight has shape [3,5], dense:3 needs [3,4]');
    expect(refusal(model((m) => m.tensors.delete('layers.2.bias')))).toBe('missing tensor layers.2.bias (the output layer (dense:2) needs [2])');
    expect(refusal(model((m) => (m.tensors.get('layers.1.bias')!.data = new Float32Array(4))))).toBe('tensor layers.1.bias has 4 values for its shape [3]');
    expect(refusal(model((m) => m.tensors.set('layers.3.weight', { shape: [2, 2], data: new Float32Array(4) })))).toBe(
      'tensor layers.3.weight is not used: the model has 3 layers with parameters (layers.0 to layers.2)',
    );
    expect(refusal(model((m) => (m.classes = 0)))).toBe('input 1×5×7 and 0 classes: each must be a positive whole number');
  });
});

describe('an MLP trained with the library', () => {
  it('784-256-128-10: ONNX Runtime gives predict()’s probabilities within 1e-5 and evaluate()’s accuracy on the 10,000 test images', async () => {
    const data = trainData(5000, 0, 10_000);
    const trainer = await Trainer.create(data, { ...defaultConfig, epochs: 2, build: 'release', threads: 1 });
    let best: Uint8Array;
    try {
      await trainer.run();
      best = trainer.encodeBest();
    } finally {
      trainer.close();
    }
    // The exported file and the model it is compared with come from the same checkpoint bytes.
    const ck = decodeCheckpoint(best, 'best');
    const bytes = toOnnx(exportModelFromCheckpoint(ck));
    const model = modelFromCheckpoint(await Engine.load('release'), ck, 'best');
    const probs = model.predict(data.test.images);
    const accuracy = model.evaluate(model.upload(data.test.images, data.test.labels, data.test.count)).accuracy;
    const got = await runOnnx(bytes, scaled(data.test.images), [10_000, 1, 28, 28]);
    const diff = maxAbsDiff(got.probabilities, probs);
    expect(diff).toBeLessThan(1e-5);
    const classes = argmax(got.probabilities, 10);
    expect(classes).toEqual(argmax(probs, 10));
    expect(classes.filter((c, i) => c === data.test.labels[i]).length / 10_000).toBe(accuracy);
    expect(accuracy).toBeGreaterThan(0.9);

    // The default network's file: 235,146 float32 parameters and under 1.5 KB of graph and metadata.
    const overhead = bytes.length - 4 * 235_146;
    expect(overhead).toBeGreaterThan(0);
    expect(overhead).toBeLessThan(1500);
    console.log(`784-256-128-10: ONNX file ${bytes.length} bytes (${overhead} beyond the weights); accuracy ${accuracy}; largest probability difference ${diff.toExponential(2)}`);
    const r = readModel(bytes);
    expect(r.ops).toEqual(['Flatten', 'Gemm', 'Relu', 'Gemm', 'Relu', 'Gemm', 'Softmax']);
    expect(r.metadata).toMatchObject({ spec: 'dense:256,dense:128', classes: '10', image_channels: '1', image_rows: '28', image_cols: '28', architecture: '784-256-128-10' });
  });
});

describe('barenet export, end to end', () => {
  let root: string;
  let data: string; // 2000 train (500 val) / 500 test, 28×28, 10 classes
  let tiny: string; // a 784-4-10 checkpoint for the error cases
  beforeAll(async () => {
    root = tempDir();
    data = writeDataset(join(root, 'data'));
    const r = await runCli(['train', '--data', data, '--val', '0', '--layers', '4', '--epochs', '1', '--threads', '1', '--out', join(root, 'tiny')]);
    expect(r.code, r.stderr).toBe(0);
    tiny = join(root, 'tiny', 'best.safetensors');
  });

  // Each architecture: trained by `barenet train`, exported, run by ONNX Runtime, compared with `barenet predict`
  // and `barenet eval` on 500 test images, or on MNIST's 10,000.
  const archs = [
    { name: 'mlp', args: ['--layers', '32'], test: 'small' },
    { name: 'lenet5', args: ['--arch', 'lenet5'], test: 'mnist' },
    { name: 'strided', args: ['--arch', 'conv3x3:8/p1,maxpool2,conv3x3:16/s2/p1,dropout:0.25,dense:32'], test: 'small' },
  ];
  for (const { name, args, test } of archs) {
    it(`${name}: train, export, then ONNX Runtime equals predict (1e-5) and eval's accuracy on ${test === 'mnist' ? "MNIST's 10,000" : '500'} test images`, async () => {
      const out = join(root, name);
      const train = await runCli(['train', '--data', data, '--val', '500', '--batch', '50', '--epochs', '1', ...args, '--out', out]);
      expect(train.code, train.stderr).toBe(0);
      const model = join(out, 'best.safetensors');
      const onnx = join(out, `${name}.onnx`);
      const ex = await runCli(['export', '--model', model, '--onnx', onnx]);
      expect(ex.code, ex.stderr).toBe(0);
      const bytes = new Uint8Array(readFileSync(onnx));
      expect(ex.stdout).toMatch(new RegExp(`^${onnx}: ${bytes.length.toLocaleString('en-US')} bytes, ONNX opset 13; .* → 10 classes; input float32 \\[batch, 1, 28, 28\\]`));

      const testDir = test === 'mnist' ? MNIST_DIR : data;
      const images = join(testDir, DATASET_FILES.testImages);
      const idx = parseImages(new Uint8Array(readFileSync(images)), images);
      const [ev, pr] = await Promise.all([
        runCli(['eval', '--model', model, '--data', testDir, '--json']),
        runCli(['predict', '--model', model, '--images', images, '--index', Array.from({ length: idx.count }, (_, i) => i).join(','), '--json']),
      ]);
      expect(ev.code, ev.stderr).toBe(0);
      expect(pr.code, pr.stderr).toBe(0);
      const want = (lastJson(pr) as { probabilities: number[] }[]).flatMap((p) => p.probabilities);
      const got = await runOnnx(bytes, scaled(idx.pixels), [idx.count, 1, idx.rows, idx.cols]);
      expect(maxAbsDiff(got.probabilities, want)).toBeLessThan(1e-5);
      const labels = readFileSync(join(testDir, DATASET_FILES.testLabels)).subarray(8);
      const correct = argmax(got.probabilities, 10).filter((c, i) => c === labels[i]).length;
      expect(correct / idx.count).toBe(lastJson(ev).test_accuracy);
    });
  }

  it('user errors: exit 2 and one line naming the file or flag', async () => {
    const junk = join(root, 'junk.safetensors');
    writeFileSync(junk, 'this is not a checkpoint at all');
    const foreign = join(root, 'foreign.safetensors'); // valid safetensors, not barenet's
    writeFileSync(foreign, encodeSafetensors([{ name: 'w', shape: [2], data: new Float32Array(2) }], { format: 'pt' }));
    const model = tiny;
    // A barenet checkpoint with a tensor the architecture does not have: decoding accepts it, export refuses it.
    const extra = join(root, 'extra.safetensors');
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(tiny)), tiny);
    const named = [...tensors].map(([name, t]) => ({ name, ...t }));
    writeFileSync(extra, encodeSafetensors([...named, { name: 'layers.2.weight', shape: [1], data: new Float32Array(1) }], metadata));
    const cases: [string[], RegExp][] = [
      [['--model', extra, '--onnx', join(root, 'a.onnx')], /^barenet: \S*extra\.safetensors: tensor layers\.2\.weight is not used: the model has 2 layers with parameters \(layers\.0 to layers\.1\)$/],
      [['--model', junk, '--onnx', join(root, 'a.onnx')], /^barenet: .*junk\.safetensors: /],
      [['--model', foreign, '--onnx', join(root, 'a.onnx')], /^barenet: .*foreign\.safetensors: not a barenet checkpoint/],
      [['--model', join(root, 'none.safetensors'), '--onnx', join(root, 'a.onnx')], /none\.safetensors: no such checkpoint file$/],
      [['--model', model, '--onnx', join(root, 'no', 'dir', 'm.onnx')], /no\/dir\/m\.onnx: cannot write ONNX model: no such file or directory$/],
      [['--model', model, '--onnx', root], /: cannot write ONNX model: is a directory$/],
      [['--onnx', join(root, 'a.onnx')], /^barenet: --model: missing/],
      [['--model', model], /^barenet: --onnx: missing/],
      [['--model', model, '--onnx'], /^barenet: --onnx: missing value$/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['export', ...args])));
    results.forEach((r, i) => expect(userError(r)).toMatch(cases[i][1]));
  });

  it('barenet export --help lists its flags; barenet --help lists export', async () => {
    const r = await runCli(['export', '--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(exportSpec.flags)) expect(r.stdout).toMatch(new RegExp(`^  --${name} FILE `, 'm'));
    expect(r.stdout).toContain('usage: barenet export --model FILE.safetensors --onnx OUT.onnx');
    expect((await runCli(['--help'])).stdout).toMatch(/^  export  write a checkpoint as an ONNX model/m);
  });
});
