// `barenet export`: a checkpoint as an ONNX model (src/export/onnx.ts), for ONNX Runtime and other runtimes.
import { decodeCheckpoint } from '../checkpoint/model-checkpoint.js';
import { readCheckpointFile, writeFileAtomic } from '../checkpoint/files.js';
import { exportModelFromCheckpoint } from '../export/checkpoint.js';
import { OPSET, toOnnx } from '../export/onnx.js';
import { formatSpec } from '../model/spec.js';
import { ExportError, UsageError } from '../errors.js';
import { commonFlags, parseArgs, type CommandSpec } from './args.js';
import type { Io } from './io.js';

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'write a checkpoint as an ONNX model (ONNX Runtime, TensorRT, …)',
  usage: 'barenet export --model FILE.safetensors --onnx OUT.onnx',
  flags: {
    model: commonFlags.model,
    onnx: { type: 'string', value: 'FILE', help: 'the ONNX file to write (required)' },
  },
};

export async function exportCommand(argv: string[], io: Io): Promise<number> {
  const { flags: f } = parseArgs(exportSpec, argv);
  if (!f.model) throw new UsageError('--model: missing (which checkpoint to export?)');
  if (!f.onnx) throw new UsageError('--onnx: missing (which file to write the ONNX model to?)');
  const ck = decodeCheckpoint(await readCheckpointFile(f.model), f.model);
  const m = exportModelFromCheckpoint(ck);
  let bytes: Uint8Array;
  try {
    bytes = toOnnx(m);
  } catch (err) {
    throw err instanceof ExportError ? new ExportError(`${f.model}: ${err.message}`) : err;
  }
  await writeFileAtomic(f.onnx, bytes, 'ONNX model');
  const { c, h, w } = m.input;
  io.stdout.write(
    `${f.onnx}: ${bytes.length.toLocaleString('en-US')} bytes, ONNX opset ${OPSET}; ${formatSpec(m.layers) || 'no hidden layers'} → ${m.classes} classes; ` +
      `input float32 [batch, ${c}, ${h}, ${w}], outputs logits and probabilities\n`,
  );
  return 0;
}
