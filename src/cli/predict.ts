// `barenet predict`: classes and probabilities for images given as PGM/PNG files, or by index in an IDX file.
import { readIdxFile } from '../data/dataset.js';
import { parseImages } from '../data/idx.js';
import { readImageFile } from '../data/image.js';
import { backgroundOf, invert, meanPixel } from '../data/background.js';
import { decodeCheckpoint, modelFromCheckpoint } from '../checkpoint/model-checkpoint.js';
import { readCheckpointFile } from '../checkpoint/files.js';
import { Engine } from '../wasm/engine.js';
import { DataError, UsageError } from '../errors.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'classify images (PGM/PNG files, or entries of an IDX file) with a checkpoint',
  usage: 'barenet predict --model FILE (IMAGE.pgm|IMAGE.png …) | (--images IDX [--index 0,1,2])',
  positionals: 'IMAGE',
  flags: {
    model: commonFlags.model,
    images: { type: 'string', value: 'FILE', help: 'an IDX images file (raw or .gz) to take images from' },
    index: { type: 'ints', value: 'I,J', default: [0], min: 0, help: 'which images of --images' },
    invert: {
      type: 'string',
      default: 'auto',
      choices: ['auto', 'yes', 'no'],
      help:
        "turn images round (255 − v), files and IDX entries alike: auto turns those whose background (mean pixel above or below " +
        "mid-grey) is not the training images' (dark, as MNIST's, for checkpoints that do not say), and says so; yes: all; no: none",
    },
    build: commonFlags.build,
    json: { type: 'bool', help: 'print one JSON array with the results as the last line' },
  },
};

export async function predictCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f, positionals: files } = parseArgs(predictSpec, argv);
  if (!f.model) throw new UsageError('--model: missing (which checkpoint to predict with?)');
  if (!f.images && files.length === 0) throw new UsageError('nothing to predict: give image files or --images FILE');
  const ck = decodeCheckpoint(await readCheckpointFile(f.model), f.model);
  const { h: rows, w: cols, c: channels } = ck.info.arch.input;
  const D = rows * cols * channels;
  const inputs: { name: string; pixels: Uint8Array; transparent: boolean }[] = [];
  if (f.images) {
    const idx = parseImages((await readIdxFile(f.images)).bytes, f.images);
    if (idx.rows !== rows || idx.cols !== cols || idx.channels !== channels) {
      const size = (h: number, w: number, c: number) => `${h}×${w}${c > 1 || idx.channels !== channels ? ` with ${c} channel${c > 1 ? 's' : ''}` : ''}`;
      throw new DataError(`${f.images}: images are ${size(idx.rows, idx.cols, idx.channels)}, the model takes ${size(rows, cols, channels)}`);
    }
    for (const i of f.index as number[]) {
      if (i >= idx.count) throw new UsageError(`--index: ${i} is past the last image (${f.images} has ${idx.count})`);
      inputs.push({ name: `${f.images}[${i}]`, pixels: idx.pixels.subarray(i * D, (i + 1) * D), transparent: false });
    }
  }
  if (files.length && channels !== 1) {
    throw new UsageError(`${files[0]}: image files are read as one grey channel, and ${f.model} takes ${channels} channels; give the images as an IDX file (--images)`);
  }
  for (const file of files) inputs.push({ name: file, ...(await readImageFile(file, rows, cols)) });

  // One rule for every input, so the same pixels get the same answer from an IDX file and from a PGM/PNG.
  const trained = ck.info.background ?? 'dark';
  const inverted = inputs.map(({ name, pixels, transparent }) => {
    if (pixels.every((v) => v === pixels[0])) {
      const how = transparent ? ' after compositing its transparency over white' : '';
      io.stderr.write(`barenet: warning: ${name}: blank${how} (every pixel is ${pixels[0]}); its prediction means nothing\n`);
    }
    const bg = backgroundOf(pixels);
    const auto = f.invert === 'auto' && bg !== trained;
    if (auto) {
      io.stderr.write(
        `barenet: ${name}: inverted: its background is ${bg} (mean pixel ${meanPixel(pixels).toFixed(0)}), ` +
          `the training images' ${trained} (--invert no keeps it as it is)\n`,
      );
    }
    return auto || f.invert === 'yes';
  });
  const all = new Uint8Array(inputs.length * D);
  inputs.forEach((input, i) => all.set(inverted[i] ? invert(input.pixels) : input.pixels, i * D));
  const model = modelFromCheckpoint(await Engine.load(f.build), ck, f.model, Math.min(1000, inputs.length));
  const probs = model.predict(all);
  const C = ck.info.arch.classes;
  const results = inputs.map(({ name }, i) => {
    const p = Array.from(probs.subarray(i * C, (i + 1) * C));
    const cls = p.indexOf(Math.max(...p));
    return { input: name, class: cls, probabilities: p, inverted: inverted[i] };
  });
  for (const r of results) {
    io.stdout.write(`${r.input}: ${r.class} (p=${r.probabilities[r.class].toFixed(4)})  [${r.probabilities.map((p) => p.toFixed(3)).join(' ')}]\n`);
  }
  if (f.json) io.stdout.write(JSON.stringify(results) + '\n');
  return 0;
}
