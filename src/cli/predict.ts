// `barenet predict`: classes and probabilities for images given as PGM/PNG files, or by index in an IDX file.
import { readIdxFile } from '../data/dataset.js';
import { parseImages } from '../data/idx.js';
import { readImageFile } from '../data/image.js';
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
  const names: string[] = [];
  const pixels: Uint8Array[] = [];
  if (f.images) {
    const idx = parseImages((await readIdxFile(f.images)).bytes, f.images);
    if (idx.rows !== rows || idx.cols !== cols || idx.channels !== channels) {
      const size = (h: number, w: number, c: number) => `${h}×${w}${c > 1 || idx.channels !== channels ? ` with ${c} channel${c > 1 ? 's' : ''}` : ''}`;
      throw new DataError(`${f.images}: images are ${size(idx.rows, idx.cols, idx.channels)}, the model takes ${size(rows, cols, channels)}`);
    }
    for (const i of f.index as number[]) {
      if (i >= idx.count) throw new UsageError(`--index: ${i} is past the last image (${f.images} has ${idx.count})`);
      names.push(`${f.images}[${i}]`);
      pixels.push(idx.pixels.subarray(i * D, (i + 1) * D));
    }
  }
  if (files.length && channels !== 1) {
    throw new UsageError(`${files[0]}: image files are read as one grey channel, and ${f.model} takes ${channels} channels; give the images as an IDX file (--images)`);
  }
  for (const file of files) {
    names.push(file);
    pixels.push(await readImageFile(file, rows, cols));
  }
  const all = new Uint8Array(pixels.length * D);
  pixels.forEach((p, i) => all.set(p, i * D));
  const model = modelFromCheckpoint(await Engine.load(f.build), ck, f.model, Math.min(1000, pixels.length));
  const probs = model.predict(all);
  const C = ck.info.arch.classes;
  const results = names.map((name, i) => {
    const p = Array.from(probs.subarray(i * C, (i + 1) * C));
    const cls = p.indexOf(Math.max(...p));
    return { input: name, class: cls, probabilities: p };
  });
  for (const r of results) {
    io.stdout.write(`${r.input}: ${r.class} (p=${r.probabilities[r.class].toFixed(4)})  [${r.probabilities.map((p) => p.toFixed(3)).join(' ')}]\n`);
  }
  if (f.json) io.stdout.write(JSON.stringify(results) + '\n');
  return 0;
}
