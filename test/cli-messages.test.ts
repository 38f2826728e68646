// What `barenet train`, `eval` and `predict` say, run as a user runs them (bin/barenet.js, built dist/):
// a stray label refused instead of growing the model, --classes; the end-of-run line; seeds, decimal
// numbers, --momentum, --index; --threads above the cores; the default --val; progress lines when stdout
// is not a terminal; eval reading only the test files; predict's one inversion rule (--invert).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import { encodeImagesIdx, encodeLabelsIdx } from '../src/data/idx.js';
import { MAX_AUTO_THREADS } from '../src/wasm/engine.js';
import { lastJson, mnist, pngBytes, readCheckpoint, removeTemps, runCli, take, tempDir, userError, writeDataset, type CliResult } from './fixtures.js';

let root: string;
let data: string; // 2000 train / 500 test, 28×28, 10 classes
let model: string; // best.safetensors trained on `data` (dark backgrounds, as MNIST)
const small = ['--layers', '32', '--batch', '50'];

const ok = (r: CliResult) => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
/** A copy of `data` with one byte of a labels file changed. */
function withLabel(name: string, file: string, index: number, label: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const f of Object.values(DATASET_FILES)) copyFileSync(join(data, f), join(dir, f));
  const bytes = readFileSync(join(dir, file));
  bytes[8 + index] = label;
  writeFileSync(join(dir, file), bytes);
  return dir;
}

beforeAll(async () => {
  root = tempDir();
  data = writeDataset(join(root, 'data'));
  ok(await runCli(['train', '--data', data, ...small, '--epochs', '2', '--out', join(root, 'run')]));
  model = join(root, 'run', 'best.safetensors');
});
afterAll(removeTemps);

describe.concurrent('labels: a stray one does not change the architecture', () => {
  it('a training label far above the rest is refused, naming the file, index and label; nothing is written', async () => {
    const dir = withLabel('stray', DATASET_FILES.trainLabels, 92, 200);
    const out = join(root, 'stray-out');
    const r = await runCli(['train', '--data', dir, ...small, '--epochs', '1', '--out', out]);
    expect(userError(r)).toBe(
      `barenet: ${join(dir, DATASET_FILES.trainLabels)}: label 200 at index 92, but labels 10–199 never occur; if that is intended, pass --classes 201`,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it('--classes 201 declares it: the model has 201 outputs; a resume is given it again, as --data', async () => {
    const dir = withLabel('declared', DATASET_FILES.trainLabels, 92, 200);
    const out = join(root, 'declared-out');
    const r = ok(await runCli(['train', '--data', dir, ...small, '--epochs', '1', '--classes', '201', '--out', out]));
    expect(r.stdout).toContain(', 201 classes\n');
    expect(r.stdout).toContain('model: 784-32-201 (');
    expect(readCheckpoint(join(out, 'best.safetensors')).info.arch.classes).toBe(201);
    const resume = ['train', '--data', dir, '--resume', join(out, 'last.safetensors'), '--epochs', '2', '--out', out];
    expect(userError(await runCli(resume))).toMatch(/label 200 at index 92, but labels 10–199 never occur; if that is intended, pass --classes 201$/);
    expect(ok(await runCli([...resume, '--classes', '201'])).stdout).toContain('completed 2 epochs;');
    expect(userError(await runCli([...resume, '--classes', '202']))).toBe(
      `barenet: ${join(out, 'last.safetensors')}: checkpoint is for 28×28 images and 201 classes, the data has 28×28 images and 202 classes`,
    );
  });

  it('--classes N refuses a label ≥ N, naming the file and index', async () => {
    const dir = withLabel('below', DATASET_FILES.trainLabels, 92, 200);
    const r = await runCli(['train', '--data', dir, '--classes', '10', '--out', join(root, 'below-out')]);
    expect(userError(r)).toBe(`barenet: ${join(dir, DATASET_FILES.trainLabels)}: label 200 at index 92 is out of range for 10 classes`);
    expect(userError(await runCli(['train', '--data', data, '--classes', '1']))).toBe('barenet: --classes: must be from 2 to 256, got 1');
  });

  it('a test label outside the training classes is refused the same way', async () => {
    const dir = withLabel('test-stray', DATASET_FILES.testLabels, 7, 12);
    const r = await runCli(['train', '--data', dir, '--out', join(root, 'test-stray-out')]);
    expect(userError(r)).toBe(
      `barenet: ${join(dir, DATASET_FILES.testLabels)}: label 12 at index 7, but the training labels are 0–9; if that is intended, pass --classes 13`,
    );
  });
});

describe.concurrent('the end-of-run line says what happened', () => {
  // --lr 0: the validation loss never improves after epoch 1, so patience 1 runs out at epoch 2.
  const run = (epochs: number, name: string) =>
    runCli(['train', '--data', data, ...small, '--lr', '0', '--patience', '1', '--epochs', String(epochs), '--out', join(root, name), '--json']);

  it('patience running out on the last epoch: "completed N epochs", not stopped early', async () => {
    const r = ok(await run(2, 'end-last'));
    expect(r.stdout).toMatch(/^completed 2 epochs; best epoch 1 restored: test accuracy [\d.]+%, test loss [\d.]+$/m);
    expect(r.stdout).not.toContain('stopped early');
    expect(lastJson(r).stopped_early).toBe(false);
  });

  it('epochs skipped: "stopped early after epoch N", with "1 epoch" singular', async () => {
    const r = ok(await run(3, 'end-early'));
    expect(r.stdout).toMatch(/^stopped early after epoch 2: validation loss did not improve for 1 epoch; best epoch 1 restored: /m);
    expect(lastJson(r).stopped_early).toBe(true);
  });

  it('"completed 1 epoch"', async () => {
    expect(ok(await run(1, 'end-one')).stdout).toMatch(/^completed 1 epoch; best epoch 1 restored/m);
  });
});

describe.concurrent('flags: exactly what they say', () => {
  const refused = async (args: string[], line: string) => expect(userError(await runCli(args))).toBe(`barenet: ${line}`);

  it('--seed: the integers 0 … 2^32−1, the rest refused before any work', async () => {
    await refused(['train', '--seed', '4294967296'], '--seed: must be from 0 to 4294967295, got 4294967296');
    await refused(['train', '--seed', '9007199254740993'], '--seed: must be from 0 to 4294967295, got 9007199254740993');
    await refused(['train', '--seed', '-1'], '--seed: must be from 0 to 4294967295, got -1');
    await refused(['train', '--seed', '1e300'], "--seed: expected a whole number, got '1e300'");
  });

  it('--seed 4294967295 trains, and eval and predict take its checkpoint', async () => {
    const out = join(root, 'seed-max');
    const r = ok(await runCli(['train', '--data', data, ...small, '--epochs', '1', '--seed', '4294967295', '--out', out]));
    expect(r.stdout).toContain('seed 4294967295,');
    expect(readCheckpoint(join(out, 'best.safetensors')).info.seed).toBe(4294967295);
    ok(await runCli(['eval', '--model', join(out, 'best.safetensors'), '--data', data]));
    ok(await runCli(['predict', '--model', join(out, 'best.safetensors'), '--images', join(data, DATASET_FILES.testImages)]));
  });

  it('whole numbers are decimal: 0x10, 1e2 and "" refused; --index "" too', async () => {
    await refused(['train', '--layers', '0x10'], "--layers: expected a whole number, got '0x10'");
    await refused(['train', '--layers', '1e2'], "--layers: expected a whole number, got '1e2'");
    await refused(['train', '--epochs', ' 3'], "--epochs: expected a whole number, got ' 3'");
    await refused(['train', '--lr', '0x10'], "--lr: expected a number, got '0x10'");
    await refused(['predict', '--model', model, '--images', join(data, DATASET_FILES.testImages), '--index', '0x1'], "--index: expected a whole number, got '0x1'");
    await refused(['predict', '--model', model, '--images', join(data, DATASET_FILES.testImages), '--index', ''], "--index: expected a whole number, got ''");
  });

  it('--momentum: from 0 to below 1', async () => {
    await refused(['train', '--momentum', '1'], '--momentum: must be at least 0 and below 1, got 1');
    await refused(['train', '--optimizer', 'adam', '--momentum', '1.5'], '--momentum: must be at least 0 and below 1, got 1.5');
    await refused(['train', '--momentum', '-0.1'], '--momentum: must be at least 0 and below 1, got -0.1');
  });

  it('--threads above the cores is capped at them, saying so; --help says what 0 picks here', async () => {
    const cores = availableParallelism();
    const r = ok(await runCli(['train', '--data', data, ...small, '--epochs', '1', '--threads', String(cores + 6), '--out', join(root, 'threads')]));
    expect(r.stderr).toBe(
      `barenet: --threads ${cores + 6}: this machine has ${cores} core${cores > 1 ? 's' : ''}; using ${cores} (more threads than cores only wait for one another)\n`,
    );
    expect(r.stdout).toMatch(new RegExp(`, ${cores} threads?\\n`));
    const help = ok(await runCli(['train', '--help'])).stdout;
    const auto = Math.min(cores, MAX_AUTO_THREADS);
    expect(help).toContain(`(0: one per core, at most ${MAX_AUTO_THREADS}, here ${auto}; more than the ${cores} core${cores > 1 ? 's' : ''} here are capped at ${cores};`);
  });

  it('--json names the build as the model line does', async () => {
    const r = ok(await runCli(['train', '--data', data, ...small, '--epochs', '1', '--threads', '2', '--out', join(root, 'json-build'), '--json']));
    const build = /, build ([a-z-]+),/.exec(r.stdout)![1];
    expect(lastJson(r).build).toBe(build);
  });
});

describe.concurrent('defaults for small datasets, progress in a log file', () => {
  it('--val defaults to 1/12 of the training images, so a 1000-image dataset trains under the defaults', async () => {
    const tiny = writeDataset(join(root, 'tiny'), { train: 1000, test: 200 });
    const r = ok(await runCli(['train', '--data', tiny, ...small, '--epochs', '1', '--out', join(root, 'tiny-out')]));
    expect(r.stdout).toContain(`data: ${tiny}: 917 train, 83 val, 200 test, 28×28, 10 classes\n`);
    expect(ok(await runCli(['train', '--help'])).stdout).toMatch(/^ {2}--val INT +training images held out from the end for validation \(default: 1\/12 of them, 5000 for MNIST; /m);
  });

  it('stdout not a terminal: a progress line every few seconds (here every 0.05 s)', async () => {
    const r = ok(await runCli(['train', '--data', data, '--layers', '32', '--batch', '8', '--epochs', '1', '--out', join(root, 'progress')], { BARENET_TEST_PROGRESS_SECONDS: '0.05' }));
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('epoch 1/1  batch '));
    expect(lines.length, r.stdout).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/^epoch 1\/1 {2}batch \d+\/230 +\d+% {2}[\d,]+ samples\/s {2}ETA [\d.]+s {2}loss \d+\.\d{4}$/);
    // None in a run shorter than the interval (the default, 5 s), no terminal codes ever.
    const quiet = ok(await runCli(['train', '--data', data, ...small, '--epochs', '1', '--out', join(root, 'quiet')]));
    expect(quiet.stdout).not.toContain('  batch ');
    expect(r.stdout + quiet.stdout).not.toMatch(/[\r\x1b]/);
  });
});

describe.concurrent('eval reads only the test files', () => {
  it('a directory with the two t10k files is enough, and gives the same result', async () => {
    const dir = join(root, 'test-only');
    mkdirSync(dir);
    for (const f of [DATASET_FILES.testImages, DATASET_FILES.testLabels]) copyFileSync(join(data, f), join(dir, f));
    const [a, b] = await Promise.all([runCli(['eval', '--model', model, '--data', dir, '--json']), runCli(['eval', '--model', model, '--data', data, '--json'])]);
    expect(lastJson(ok(a))).toEqual(lastJson(ok(b)));
    expect(existsSync(join(dir, DATASET_FILES.trainImages))).toBe(false);
  });

  it('a broken training file does not matter to eval', async () => {
    const dir = withLabel('eval-stray', DATASET_FILES.trainLabels, 92, 200);
    ok(await runCli(['eval', '--model', model, '--data', dir]));
  });
});

// ---- predict: one rule for IDX entries and image files.

/** `data`'s images turned round (dark ink on light), as a dataset of its own. */
function lightDataset(dir: string): string {
  const m = mnist();
  mkdirSync(dir);
  const put = (images: string, labels: string, s: ReturnType<typeof take>) => {
    writeFileSync(join(dir, images), encodeImagesIdx(s.pixels.map((v) => 255 - v), s.count, s.rows, s.cols));
    writeFileSync(join(dir, labels), encodeLabelsIdx(s.labels));
  };
  put(DATASET_FILES.trainImages, DATASET_FILES.trainLabels, take(m.train, 2000));
  put(DATASET_FILES.testImages, DATASET_FILES.testLabels, take(m.test, 500));
  return dir;
}

const pgm = (path: string, px: Uint8Array) => writeFileSync(path, Buffer.concat([Buffer.from('P5\n28 28\n255\n'), Buffer.from(px)]));
type Prediction = { input: string; class: number; probabilities: number[]; inverted: boolean };

describe('predict: --invert auto|yes|no, one rule for every input', () => {
  const D = 784;
  let light: string; // a dark-on-light dataset
  let lightModel: string;
  beforeAll(async () => {
    light = lightDataset(join(root, 'light'));
    ok(await runCli(['train', '--data', light, ...small, '--epochs', '2', '--out', join(root, 'light-run')]));
    lightModel = join(root, 'light-run', 'best.safetensors');
  });

  it('a dark-on-light dataset: its test images as PGMs get the answers they get from its IDX file, not inverted', async () => {
    const idxFile = join(light, DATASET_FILES.testImages);
    const test = take(mnist().test, 20);
    const files = Array.from({ length: 20 }, (_, i) => {
      const f = join(root, `light-${i}.pgm`);
      pgm(f, test.pixels.subarray(i * D, (i + 1) * D).map((v) => 255 - v));
      return f;
    });
    expect(readCheckpoint(lightModel).info.background).toBe('light');
    const r = ok(await runCli(['predict', '--model', lightModel, '--images', idxFile, '--index', [...Array(20).keys()].join(','), ...files, '--json']));
    expect(r.stderr).toBe('');
    const got = lastJson(r) as Prediction[];
    const [fromIdx, fromPgm] = [got.slice(0, 20), got.slice(20)];
    expect(fromPgm.map((p) => p.probabilities)).toEqual(fromIdx.map((p) => p.probabilities));
    expect(got.every((p) => !p.inverted)).toBe(true);
    const right = fromPgm.filter((p, i) => p.class === test.labels[i]).length;
    expect(right).toBeGreaterThanOrEqual(10); // 12 of 20 after 2 epochs of this small model; chance is 2
  });

  it('auto inverts an image whose background is not the training images\', from a file or an IDX file, and says so', async () => {
    const test = take(mnist().test, 1);
    const lightPgm = join(root, 'seven-light.pgm');
    const darkPgm = join(root, 'seven-dark.pgm');
    pgm(lightPgm, test.pixels.map((v) => 255 - v));
    pgm(darkPgm, test.pixels);
    const idxLight = join(light, DATASET_FILES.testImages);
    const r = ok(await runCli(['predict', '--model', model, darkPgm, lightPgm, '--images', idxLight, '--json']));
    const mean = (test.pixels.reduce((a, v) => a + 255 - v, 0) / D).toFixed(0);
    expect(r.stderr).toBe(
      `barenet: ${idxLight}[0]: inverted: its background is light (mean pixel ${mean}), the training images' dark (--invert no keeps it as it is)\n` +
        `barenet: ${lightPgm}: inverted: its background is light (mean pixel ${mean}), the training images' dark (--invert no keeps it as it is)\n`,
    );
    const [fromIdx, dark, lightOne] = lastJson(r) as Prediction[];
    expect([fromIdx.inverted, dark.inverted, lightOne.inverted]).toEqual([true, false, true]);
    expect(lightOne.probabilities).toEqual(dark.probabilities);
    expect(fromIdx.probabilities).toEqual(dark.probabilities);
    expect(dark.class).toBe(test.labels[0]);

    // no: as stored; yes: every image turned round.
    const no = ok(await runCli(['predict', '--model', model, lightPgm, '--invert', 'no', '--json']));
    expect(no.stderr).toBe('');
    expect((lastJson(no) as Prediction[])[0].inverted).toBe(false);
    expect((lastJson(no) as Prediction[])[0].probabilities).not.toEqual(dark.probabilities);
    const yes = ok(await runCli(['predict', '--model', model, lightPgm, darkPgm, '--invert', 'yes', '--json']));
    const [y1, y2] = lastJson(yes) as Prediction[];
    expect([y1.inverted, y2.inverted]).toEqual([true, true]);
    expect(y1.probabilities).toEqual(dark.probabilities);
    expect(y2.probabilities).toEqual((lastJson(no) as Prediction[])[0].probabilities);
  });

  it('warns when an image is blank after compositing its transparency over white', async () => {
    // White ink on a transparent background: over white, every pixel is 255.
    const rgba = new Uint8Array(D * 4);
    const test = take(mnist().test, 1);
    for (let i = 0; i < D; i++) rgba.set([255, 255, 255, test.pixels[i]], 4 * i);
    const png = join(root, 'white-ink.png');
    writeFileSync(png, pngBytes(rgba, 28, 28, 4));
    const black = join(root, 'black.pgm');
    pgm(black, new Uint8Array(D));
    const r = ok(await runCli(['predict', '--model', model, png, black]));
    expect(r.stderr.split('\n')).toEqual([
      `barenet: warning: ${png}: blank after compositing its transparency over white (every pixel is 255); its prediction means nothing`,
      `barenet: ${png}: inverted: its background is light (mean pixel 255), the training images' dark (--invert no keeps it as it is)`,
      `barenet: warning: ${black}: blank (every pixel is 0); its prediction means nothing`,
      '',
    ]);
  });
});
