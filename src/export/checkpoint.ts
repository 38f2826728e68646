// A checkpoint → the ExportModel toOnnx writes. Today's checkpoints are MLPs (metadata `architecture`
// "784-256-128-10", grayscale images): dense layers of the hidden widths, one input channel. When checkpoints
// carry a `spec` and `image_channels`, this is the one place that reads them.
import type { Checkpoint } from '../checkpoint/model-checkpoint.js';
import type { ExportModel } from './onnx.js';

export function exportModelFromCheckpoint(ck: Checkpoint): ExportModel {
  const { arch, rows, cols } = ck.info;
  return {
    input: { c: 1, h: rows, w: cols },
    layers: arch.hidden.map((units) => ({ kind: 'dense', units })),
    classes: arch.classes,
    tensors: ck.tensors,
    metadata: {
      image_channels: '1',
      image_rows: String(rows),
      image_cols: String(cols),
      architecture: [arch.input, ...arch.hidden, arch.classes].join('-'),
      epoch: String(ck.info.epoch),
      seed: String(ck.info.seed),
      data_fingerprint: ck.info.dataFingerprint,
    },
  };
}
