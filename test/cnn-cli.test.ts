// `barenet train --arch` end to end: every kind of bad spec refused before training with one line naming the
// token and the shapes; a CNN's checkpoint read back by eval and predict with the same results; bit-exact resume of
// a CNN with dropout (at an epoch's end and mid-epoch); rank-4 (multi-channel) IDX images; checkpoints that do not
// fit the data or --arch refused naming both.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Trainer, defaultConfig, type TrainConfig, type TrainResult } from '../src/train/trainer.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { Engine } from '../src/wasm/engine.js';
import { encodeImagesIdx, encodeLabelsIdx, parseImages } from '../src/data/idx.js';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import {
  differingTensors, halve, lastJson, pngBytes, metricsWithoutTimes, mnist, readCheckpoint, removeTemps, runCli, take, tempDir, tensorBytes, trainData, userError, writeDataset,
} from './fixtures.js';

const root = tempDir();
const data = writeDataset(join(root, 'data'), { train: 1200, test: 300, small: true }); // 14×14
afterAll(removeTemps);

const train = (args: string[]) => runCli(['train', '--data', data, '--val', '200', '--threads', '1', ...args]);

describe('--arch errors: exit 2, one line, nothing trained', () => {
  const cases: [string, string][] = [
    ['conv5x5:6,frob', "--arch: 'frob' is not a layer; SPEC is a preset (mlp, lenet5, convnet) or layers conv<K>x<K>:<out>[/s<S>][/p<P>], maxpool<K>, dense:<units>, dropout:<p>"],
    ['conv15x15:4', "--arch: 'conv15x15:4' (layer 1) needs an input of at least 15×15 pixels, and gets 1×14×14 (channels×rows×cols)"],
    ['conv7x7:4,maxpool2,conv5x5:8', "--arch: 'conv5x5:8' (layer 3) needs an input of at least 5×5 pixels, and gets 4×4×4 (channels×rows×cols)"],
    ['maxpool4,maxpool4', "--arch: 'maxpool4' (layer 2) needs an input of at least 4×4 pixels, and gets 1×3×3 (channels×rows×cols): it would leave 0×0"],
    ['dense:10,conv3x3:4', "--arch: 'conv3x3:4' (layer 2) follows a dense layer (10 features); convolution and pooling need an image, so put them before the dense layers"],
    ['dropout:1', "--arch: 'dropout:1' needs a drop probability from 0 to below 1, e.g. dropout:0.5"],
    ['conv3x5:4', "--arch: 'conv3x5:4' has a 3×5 kernel; barenet's kernels are square (conv3x3)"],
    ['conv3x3:4/p3', "--arch: 'conv3x3:4/p3' pads 3 with a 3×3 kernel; padding must be smaller than the kernel"],
    ['conv3x3:4/s0', "--arch: 'conv3x3:4/s0' has stride 0; the stride is at least 1"],
    ['conv3x3:0', "--arch: 'conv3x3:0' needs positive whole numbers, e.g. conv5x5:6"],
    ['dense:0x10', "--arch: 'dense:0x10' needs a positive whole number of units, e.g. dense:128"],
    ['conv3x3:4/q1', "--arch: 'conv3x3:4/q1' has an unknown option /q1 (options: /sN, /pN)"],
    ['conv3x3:4/s2/s1', "--arch: 'conv3x3:4/s2/s1' gives /s twice"],
    ['conv3x3:4,,dense:3', "--arch: an empty layer in 'conv3x3:4,,dense:3' (two commas, or a comma at an end)"],
  ];
  it.each(cases)('%s', async (spec, message) => {
    const out = join(root, 'bad');
    expect(userError(await train(['--arch', spec, '--out', out]))).toBe(`barenet: ${message}`);
  });

  it('--arch and --layers together', async () => {
    expect(userError(await train(['--arch', 'lenet5', '--layers', '10', '--out', join(root, 'bad')]))).toBe(
      'barenet: --layers: give either --layers or --arch (--layers W,W is --arch dense:W,dense:W)',
    );
  });
});

describe('a CNN through the command line', () => {
  const spec = 'conv3x3:8/p1,maxpool2,conv3x3:16/s2/p1,dense:32';
  const run = join(root, 'cnn');
  let result: ReturnType<typeof lastJson>;

  it('trains a spec with stride and padding; --json, the model line and metrics.jsonl name the spec', async () => {
    const r = await train(['--arch', spec, '--epochs', '6', '--json', '--out', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^model: conv3x3:8\/p1,maxpool2,conv3x3:16\/s2\/p1,dense:32 → 10 on 1×14×14 \(9,802 parameters\), /m);
    result = lastJson(r);
    expect(result.arch).toBe(spec);
    expect(result.test_accuracy).toBeGreaterThan(0.8);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.arch)).toEqual(Array(result.epochs).fill(spec));
    const ck = readCheckpoint(join(run, 'best.safetensors'));
    expect(ck.info.arch).toEqual({ spec, input: { c: 1, h: 14, w: 14 }, classes: 10 });
    expect([...ck.tensors.keys()].sort()).toEqual(['layers.0.bias', 'layers.0.weight', 'layers.1.bias', 'layers.1.weight', 'layers.2.bias', 'layers.2.weight', 'layers.3.bias', 'layers.3.weight']);
    expect(ck.tensors.get('layers.1.weight')!.shape).toEqual([16, 8, 3, 3]);
    expect(ck.tensors.get('layers.2.weight')!.shape).toEqual([32, 16 * 4 * 4]);
  });

  it('eval gives the accuracy training ended with; predict the classes of an IDX file', async () => {
    const ev = await runCli(['eval', '--model', join(run, 'best.safetensors'), '--data', data, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(lastJson(ev).test_accuracy).toBe(result.test_accuracy);
    const pr = await runCli(['predict', '--model', join(run, 'best.safetensors'), '--images', join(data, DATASET_FILES.testImages), '--index', '0,1,2,3,4', '--json']);
    expect(pr.code, pr.stderr).toBe(0);
    // the probabilities the library gives for the same images with the same checkpoint
    const file = join(run, 'best.safetensors');
    const model = modelFromCheckpoint(await Engine.load('auto'), decodeCheckpoint(new Uint8Array(readFileSync(file)), file), file);
    const probs = model.predict(parseImages(new Uint8Array(readFileSync(join(data, DATASET_FILES.testImages))), 'x').pixels.subarray(0, 5 * 196));
    expect(lastJson(pr).map((p: { probabilities: number[] }) => p.probabilities).flat()).toEqual(Array.from(probs));
  });

  it('predict reads PGM and PNG files for a CNN as it reads the IDX entries', async () => {
    const file = join(run, 'best.safetensors');
    const test = halve(take(mnist().test, 2));
    const pgm = join(root, 'zero.pgm');
    writeFileSync(pgm, Buffer.concat([Buffer.from('P5\n14 14\n255\n'), Buffer.from(test.pixels.subarray(0, 196))]));
    const png = join(root, 'one.png');
    writeFileSync(png, pngBytes(test.pixels.subarray(196, 392), 14, 14, 1));
    const idx = join(root, 'two.idx');
    writeFileSync(idx, encodeImagesIdx(test.pixels, 2, 14, 14));
    const [files, entries] = await Promise.all([
      runCli(['predict', '--model', file, pgm, png, '--json']),
      runCli(['predict', '--model', file, '--images', idx, '--index', '0,1', '--json']),
    ]);
    expect(files.code, files.stderr).toBe(0);
    const probs = (r: typeof files) => lastJson(r).map((p: { probabilities: number[] }) => p.probabilities);
    expect(probs(files)).toEqual(probs(entries));
  });

  it('a diverging CNN stops at once with exit 3 and one line', async () => {
    const out = join(root, 'nan');
    const r = await train(['--arch', 'conv3x3:4,maxpool2,dense:8', '--lr', '1e30', '--schedule', 'none', '--out', out]);
    expect(userError(r, 3)).toMatch(/^barenet: training diverged: the loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+ \(learning rate 1e\+30\); try a lower --lr$/);
  });

  it('a checkpoint that does not fit: another --arch on resume, another image size', async () => {
    const last = join(run, 'last.safetensors');
    expect(userError(await train(['--resume', last, '--arch', 'lenet5', '--out', run]))).toMatch(
      /--arch conv5x5:6,maxpool2,conv5x5:16,maxpool2,dense:120,dense:84: .*last\.safetensors was trained with --arch conv3x3:8\/p1,maxpool2,conv3x3:16\/s2\/p1,dense:32; /,
    );
    const big = writeDataset(join(root, 'data28'), { train: 300, test: 100 });
    expect(userError(await runCli(['eval', '--model', last, '--data', big]))).toMatch(/last\.safetensors: checkpoint is for 14×14 images and 10 classes, the data has 28×28 images and 10 classes/);
  });
});

describe("a preset's recipe", () => {
  it('sets the defaults it names, in the CLI and the library; what is given wins', async () => {
    const big = writeDataset(join(root, 'recipe-data'), { train: 200, test: 50 });
    const out = join(root, 'recipe');
    const r = await runCli(['train', '--data', big, '--arch', 'lenet5', '--epochs', '1', '--lr', '0.02', '--threads', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const config = readCheckpoint(join(out, 'last.safetensors')).info.train!.config as TrainConfig;
    expect([config.epochs, config.lr, config.weightDecay, config.patience, config.batch]).toEqual([1, 0.02, 5e-4, 0, 64]);
    const t = await Trainer.create(trainData(100, 0, 10), { arch: 'lenet5', threads: 1 });
    t.close();
    expect([t.config.epochs, t.config.weightDecay, t.config.patience, t.config.lr]).toEqual([8, 5e-4, 0, defaultConfig.lr]);
    const mlp = await Trainer.create(trainData(100, 0, 10), { arch: 'dense:8', threads: 1 });
    mlp.close();
    expect([mlp.config.epochs, mlp.config.weightDecay, mlp.config.patience]).toEqual([defaultConfig.epochs, 0, defaultConfig.patience]);
  });
});

describe('resume of a CNN with dropout is bit-exact', () => {
  const config: TrainConfig = { ...defaultConfig, arch: 'conv3x3:6,maxpool2,dropout:0.3,dense:24', batch: 50, epochs: 3, patience: 0, threads: 2 };
  const cut = trainData(600, 100, 200);
  const noTimes = (r: TrainResult) => r.history.map(({ epoch_seconds, samples_per_second, ...m }) => m);

  it('stopped mid-epoch 2 and resumed (on 1 thread) ends as the run never stopped', async () => {
    const whole = await Trainer.create(cut, config);
    const r0 = await whole.run();
    whole.close();
    const t = await Trainer.create(cut, config);
    const r1 = await t.run({ shouldStop: () => t.epoch === 1 && t.batchInEpoch === 5 });
    expect(r1.reason).toBe('interrupted');
    const ck = decodeCheckpoint(t.encodeLast(), 'last.safetensors');
    t.close();
    const t2 = await Trainer.resume(cut, ck, 'last.safetensors', { threads: 1 });
    const r2 = await t2.run();
    t2.close();
    expect(noTimes(r2)).toEqual(noTimes(r0));
    expect(differingTensors(tensorBytes(decodeCheckpoint(t2.encodeLast(), 'b')), tensorBytes(decodeCheckpoint(whole.encodeLast(), 'a')))).toEqual([]);
  });

  it('through the CLI: 1 epoch, then --resume --epochs 2, equals 2 epochs', async () => {
    const args = ['--arch', 'conv3x3:4,maxpool2,dropout:0.5,dense:16', '--seed', '3', '--schedule', 'none', '--out']; // (cosine's rate depends on the total)
    const [a, b] = [join(root, 'ra'), join(root, 'rb')];
    expect((await train([...args, a, '--epochs', '2'])).code).toBe(0);
    expect((await train([...args, b, '--epochs', '1'])).code).toBe(0);
    const r = await train(['--resume', join(b, 'last.safetensors'), '--epochs', '2', '--out', b]);
    expect(r.code, r.stderr).toBe(0);
    expect(differingTensors(tensorBytes(readCheckpoint(join(b, 'last.safetensors'))), tensorBytes(readCheckpoint(join(a, 'last.safetensors'))))).toEqual([]);
    expect(metricsWithoutTimes(join(b, 'metrics.jsonl'))).toEqual(metricsWithoutTimes(join(a, 'metrics.jsonl')));
  });
});

describe('rank-4 IDX images: channels', () => {
  it('[n, rows, cols, 3] trains a CNN with 3 input channels; predict reads such a file; a 1-channel file is refused', async () => {
    const dir = join(root, 'rgb');
    mkdirSync(dir);
    const m = mnist();
    const rgb = (n: number, src: typeof m.train) => {
      const s = halve(take(src, n));
      const px = new Uint8Array(n * 14 * 14 * 3);
      for (let i = 0; i < n * 196; i++) [px[3 * i], px[3 * i + 1], px[3 * i + 2]] = [s.pixels[i], s.pixels[i] >> 1, 255 - s.pixels[i]];
      return { px, labels: s.labels };
    };
    const [tr, te] = [rgb(1000, m.train), rgb(200, m.test)];
    writeFileSync(join(dir, DATASET_FILES.trainImages), encodeImagesIdx(tr.px, 1000, 14, 14, 3));
    writeFileSync(join(dir, DATASET_FILES.trainLabels), encodeLabelsIdx(tr.labels));
    writeFileSync(join(dir, DATASET_FILES.testImages), encodeImagesIdx(te.px, 200, 14, 14, 3));
    writeFileSync(join(dir, DATASET_FILES.testLabels), encodeLabelsIdx(te.labels));
    const out = join(root, 'rgbrun');
    const r = await runCli(['train', '--data', dir, '--arch', 'conv3x3:8,maxpool2,dense:16', '--epochs', '6', '--threads', '1', '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^data: .*: 917 train, 83 val, 200 test, 14×14×3, 10 classes$/m);
    expect(lastJson(r).test_accuracy).toBeGreaterThan(0.8);
    expect(readCheckpoint(join(out, 'best.safetensors')).tensors.get('layers.0.weight')!.shape).toEqual([8, 3, 3, 3]);
    const pr = await runCli(['predict', '--model', join(out, 'best.safetensors'), '--images', join(dir, DATASET_FILES.testImages), '--index', '0', '--json']);
    expect(pr.code, pr.stderr).toBe(0);
    expect(lastJson(pr)[0].probabilities).toHaveLength(10);
    expect(userError(await runCli(['predict', '--model', join(out, 'best.safetensors'), '--images', join(data, DATASET_FILES.testImages)]))).toMatch(
      /t10k-images-idx3-ubyte: images are 14×14 with 1 channel, the model takes 14×14 with 3 channels$/,
    );
  });
});
