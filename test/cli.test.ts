// The command line, run as a user runs it (node bin/barenet.js, built dist/): --json results, eval, predict
// (IDX, PGM, PNG) against the model's predict, --help, and every user error as exit code 2 with one `barenet: ` line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/wasm/engine.js';
import { modelFromCheckpoint } from '../src/checkpoint/model-checkpoint.js';
import { DATASET_FILES } from '../src/data/dataset-core.js';
import { encodeLabelsIdx } from '../src/data/idx.js';
import { trainSpec } from '../src/cli/train.js';
import { evalSpec } from '../src/cli/eval.js';
import { predictSpec } from '../src/cli/predict.js';
import { benchSpec } from '../src/cli/bench.js';
import type { CommandSpec } from '../src/cli/args.js';
import { lastJson, mnist, pngBytes, readCheckpoint, removeTemps, runCli, take, tempDir, userError, writeDataset, type CliResult } from './fixtures.js';

let root: string;
let data: string; // 2000 train (500 val) / 500 test, 28×28, 10 classes
let data5: string; // labels 0–4 only
let data14: string; // 14×14 images
let model: string; // best.safetensors trained on `data`
let model5: string; // best.safetensors trained on `data5`
let trained: CliResult;
const small = ['--val', '500', '--layers', '32', '--batch', '50'];

beforeAll(async () => {
  root = tempDir();
  data = writeDataset(join(root, 'data'));
  data5 = writeDataset(join(root, 'data5'), { below: 5 });
  data14 = writeDataset(join(root, 'data14'), { small: true });
  [trained] = await Promise.all([
    runCli(['train', '--data', data, ...small, '--epochs', '2', '--out', join(root, 'run'), '--json']),
    runCli(['train', '--data', data5, ...small, '--epochs', '1', '--out', join(root, 'run5')]),
  ]);
  model = join(root, 'run', 'best.safetensors');
  model5 = join(root, 'run5', 'best.safetensors');
});
afterAll(removeTemps);

describe('train --json, eval --json, predict', () => {
  it('train --json: the last stdout line has every result field', () => {
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stderr).toBe('');
    const j = lastJson(trained);
    for (const k of ['test_accuracy', 'val_accuracy', 'epochs', 'best_epoch', 'stopped_early', 'train_seconds', 'epoch_seconds', 'samples_per_second', 'checkpoint']) {
      expect(j, k).toHaveProperty(k);
    }
    expect(j.epochs).toBe(2);
    expect(j.best_epoch).toBeGreaterThanOrEqual(1);
    expect(j.stopped_early).toBe(false);
    expect(j.epoch_seconds).toHaveLength(2);
    expect(j.test_accuracy).toBeGreaterThan(0.5);
    expect(j.val_accuracy).toBeGreaterThan(0.5);
    expect(j.train_seconds).toBeGreaterThan(0);
    expect(j.samples_per_second).toBeGreaterThan(0);
    expect(j.checkpoint).toBe(model);
  });

  it('eval --json: test_accuracy, test_loss and the confusion matrix, agreeing with train', async () => {
    const r = await runCli(['eval', '--model', model, '--data', data, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j.test_accuracy).toBe(lastJson(trained).test_accuracy);
    expect(j.test_loss).toBeCloseTo(lastJson(trained).test_loss, 12);
    expect(j.confusion).toHaveLength(10);
    expect(j.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(500);
    const diag = j.confusion.reduce((s: number, row: number[], i: number) => s + row[i], 0);
    expect(diag / 500).toBe(j.test_accuracy);
  });

  it('predict: an IDX file with --index, a PGM and a PNG give the class and probabilities of the model’s predict', async () => {
    const test = take(mnist().test, 500);
    const D = 784;
    const idx = [3, 0, 42];
    const images = join(data, DATASET_FILES.testImages);
    // Image 7 as a PGM (light ink on black, as MNIST); image 9 as a PNG with dark ink on white (inverted back).
    const px = (i: number) => test.pixels.subarray(i * D, (i + 1) * D);
    const pgm = join(root, 'seven.pgm');
    writeFileSync(pgm, Buffer.concat([Buffer.from('P5\n# a test digit\n28 28\n255\n'), Buffer.from(px(7))]));
    const png = join(root, 'nine.png');
    writeFileSync(png, pngGray(px(9).map((v) => 255 - v), 28, 28));

    const r = await runCli(['predict', '--model', model, '--images', images, '--index', idx.join(','), pgm, png, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const got = lastJson(r) as { input: string; class: number; probabilities: number[] }[];
    expect(got.map((g) => g.input)).toEqual([...idx.map((i) => `${images}[${i}]`), pgm, png]);

    const m = modelFromCheckpoint(await Engine.load('auto'), readCheckpoint(model), model, 8); // the CLI's default build
    const all = new Uint8Array(5 * D);
    [...idx, 7, 9].forEach((i, k) => all.set(px(i), k * D));
    const probs = m.predict(all);
    got.forEach((g, k) => {
      const p = Array.from(probs.subarray(10 * k, 10 * k + 10));
      expect(g.probabilities).toEqual(p);
      expect(g.class).toBe(p.indexOf(Math.max(...p)));
    });
    // The human-readable lines too.
    expect(r.stdout).toContain(`${pgm}: ${got[3].class} (p=`);
  });
});

describe('memory', () => {
  it('barenet train on the full MNIST with the defaults (2 threads, 2 epochs) peaks at 150 MB RSS or less', async () => {
    // This process holds 200 MB while it starts barenet: the figure must be barenet's own (getrusage's maxRSS
    // would include the parent's memory at the fork).
    const ballast = Buffer.alloc(200 << 20, 1);
    const r = await runCli(['train', '--threads', '2', '--epochs', '2', '--out', join(root, 'rss'), '--json']);
    expect(ballast[ballast.length - 1]).toBe(1);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j.test_accuracy).toBeGreaterThan(0.97);
    expect(j.peak_rss_mb).toBeGreaterThan(60); // the dataset alone is 55 MB: the figure is real
    expect(j.peak_rss_mb).toBeLessThanOrEqual(150);
  });
});

describe('--help', () => {
  const specs: CommandSpec[] = [trainSpec, evalSpec, predictSpec, benchSpec];
  for (const spec of specs) {
    it(`barenet ${spec.name} --help lists every flag with its default`, async () => {
      const r = await runCli([spec.name, '--help']);
      expect(r.code).toBe(0);
      const lines = r.stdout.split('\n');
      for (const [name, f] of Object.entries(spec.flags)) {
        const line = lines.find((l) => l.startsWith(`  --${name} `) || l === `  --${name}`);
        expect(line, `--${name}`).toBeDefined();
        if (f.default !== undefined && f.default !== false) {
          const d = Array.isArray(f.default) ? f.default.join(',') : String(f.default);
          expect(line, `--${name}`).toContain(`(default: ${d})`);
        }
      }
      expect(r.stdout).toContain('--help');
    });
  }

  it('barenet --help lists the commands and exit codes; no command is a usage error', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['train', 'eval', 'predict', 'bench']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(r.stdout).toContain('130 interrupted');
    expect((await runCli([])).code).toBe(2);
  });
});

describe.concurrent('user errors: exit code 2, one line naming the file or flag, no stack trace', () => {
  const expectError = async (args: string[], ...patterns: RegExp[]) => {
    const line = userError(await runCli(args));
    for (const p of patterns) expect(line).toMatch(p);
    return line;
  };

  it('a missing data directory', async () => {
    await expectError(['train', '--data', join(root, 'nope'), '--out', join(root, 'o1')], /nope: no such directory/);
  });

  it('a missing file', async () => {
    const dir = writeDataset(join(root, 'missing'));
    unlinkSync(join(dir, DATASET_FILES.testLabels));
    await expectError(['train', '--data', dir, '--out', join(root, 'o2')], /t10k-labels-idx1-ubyte.*missing/);
  });

  it('a wrong magic number', async () => {
    const dir = writeDataset(join(root, 'magic'));
    const f = join(dir, DATASET_FILES.trainImages);
    const b = readFileSync(f);
    b.writeUInt32BE(2049, 0); // a labels magic on the images file
    writeFileSync(f, b);
    await expectError(['train', '--data', dir, '--out', join(root, 'o3')], /train-images-idx3-ubyte: bad magic number 0x00000801/, /expected 2051/);
  });

  it('a truncated file (raw and gzipped)', async () => {
    const dir = writeDataset(join(root, 'trunc'));
    const f = join(dir, DATASET_FILES.trainImages);
    writeFileSync(f, readFileSync(f).subarray(0, 100_000));
    await expectError(['train', '--data', dir, '--out', join(root, 'o4')], /train-images-idx3-ubyte: truncated/);
    const gz = writeDataset(join(root, 'truncgz'), { gzip: true });
    const g = join(gz, DATASET_FILES.testImages + '.gz');
    writeFileSync(g, readFileSync(g).subarray(0, 2000));
    await expectError(['train', '--data', gz, '--out', join(root, 'o4')], /t10k-images-idx3-ubyte\.gz: /, /gzip|truncated/);
  });

  it('counts that disagree', async () => {
    const dir = writeDataset(join(root, 'counts'));
    writeFileSync(join(dir, DATASET_FILES.trainLabels), encodeLabelsIdx(take(mnist().train, 1999).labels));
    await expectError(['train', '--data', dir, '--out', join(root, 'o5')], /train-labels-idx1-ubyte: 1999 labels but .*train-images-idx3-ubyte has 2000 images/);
  });

  it('eval of a 5-class checkpoint on 10-class data names both class counts; on 14×14 images the size too', async () => {
    expect(await expectError(['eval', '--model', model5, '--data', data])).toBe(
      `barenet: ${model5}: checkpoint is for 28×28 images and 5 classes, the data has 28×28 images and 10 classes`,
    );
    expect(await expectError(['eval', '--model', model5, '--data', data14])).toBe(
      `barenet: ${model5}: checkpoint is for 28×28 images and 5 classes, the data has 14×14 images and 10 classes`,
    );
  });

  it('a checkpoint that does not fit the data: 28×28 model, 14×14 images (eval and resume)', async () => {
    await expectError(['eval', '--model', model, '--data', data14], /best\.safetensors: checkpoint is for 28×28 images and 10 classes, the data has 14×14 images/);
    await expectError(
      ['train', '--resume', join(root, 'run', 'last.safetensors'), '--data', data14, '--out', join(root, 'o6')],
      /last\.safetensors: checkpoint is for 28×28 images .* the data has 14×14 images/,
    );
  });

  it('predict: an image of the wrong size, an index past the end', async () => {
    const pgm = join(root, 'tiny.pgm');
    writeFileSync(pgm, 'P2 2 2 255 0 1 2 3\n');
    await expectError(['predict', '--model', model, pgm], /tiny\.pgm: image is 2×2 .* the model takes 28×28/);
    await expectError(['predict', '--model', model, '--images', join(data, DATASET_FILES.testImages), '--index', '500'], /--index: 500 is past the last image/);
  });

  it('an unknown command, an unknown flag', async () => {
    await expectError(['trian'], /unknown command 'trian'/);
    await expectError(['train', '--epoch', '3'], /unknown flag --epoch\b/);
    await expectError(['eval', '--modle', 'x'], /unknown flag --modle\b/);
  });

  it('a malformed number', async () => {
    await expectError(['train', '--lr', 'fast'], /--lr: expected a number, got 'fast'/);
    await expectError(['train', '--epochs', '2.5'], /--epochs: expected a whole number, got '2\.5'/);
    await expectError(['train', '--batch', '0'], /--batch: must be at least 1/);
    await expectError(['train', '--epochs'], /--epochs: missing value/);
  });

  it('--layers garbage', async () => {
    await expectError(['train', '--layers', '128,x'], /--layers: expected a whole number, got 'x'/);
    await expectError(['train', '--layers', '128,,64'], /--layers: expected a whole number, got ''/);
    await expectError(['train', '--layers', '0'], /--layers: must be at least 1/);
    await expectError(['train', '--optimizer', 'rmsprop'], /--optimizer: expected one of sgd\|momentum\|adam, got 'rmsprop'/);
  });

  it('a missing or broken checkpoint file', async () => {
    await expectError(['eval', '--model', join(root, 'none.safetensors'), '--data', data], /none\.safetensors: no such checkpoint file/);
    const junk = join(root, 'junk.safetensors');
    writeFileSync(junk, 'this is not a checkpoint at all');
    await expectError(['eval', '--model', junk, '--data', data], /junk\.safetensors: /);
    const cut = join(root, 'cut.safetensors');
    writeFileSync(cut, readFileSync(model).subarray(0, 5000));
    await expectError(['eval', '--model', cut, '--data', data], /cut\.safetensors: /);
    await expectError(['eval', '--data', data], /--model: missing/);
    await expectError(['train', '--resume', model, '--data', data, '--out', join(root, 'o7')], /best\.safetensors: not a resume checkpoint/);
  });
});

/** An 8-bit grayscale PNG. */
const pngGray = (px: Uint8Array, rows: number, cols: number) => pngBytes(px, rows, cols, 1);
