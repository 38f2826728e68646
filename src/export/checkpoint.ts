// A checkpoint or a trained network → the ExportModel toOnnx writes: the spec, the input's shape, the classes and
// the PyTorch-layout tensors a checkpoint holds.
import { archInfo, decodeCheckpoint, describeArch, encodeCheckpoint, type Checkpoint } from '../checkpoint/model-checkpoint.js';
import { Network } from '../model/network.js';
import { parseSpec } from '../model/spec.js';
import { toOnnx as encodeOnnx, type ExportModel } from './onnx.js';

export function exportModelFromCheckpoint(ck: Checkpoint): ExportModel {
  const { arch } = ck.info;
  return {
    input: arch.input,
    layers: parseSpec(arch.spec),
    classes: arch.classes,
    tensors: ck.tensors,
    metadata: {
      spec: arch.spec,
      classes: String(arch.classes),
      image_channels: String(arch.input.c),
      image_rows: String(arch.input.h),
      image_cols: String(arch.input.w),
      architecture: describeArch(arch),
      epoch: String(ck.info.epoch),
      seed: String(ck.info.seed),
      data_fingerprint: ck.info.dataFingerprint,
    },
  };
}

/** The ONNX file of a network's current weights, or of an ExportModel built by hand. */
export function toOnnx(model: Network | ExportModel): Uint8Array {
  if (!(model instanceof Network)) return encodeOnnx(model);
  const info = { arch: archInfo(model), epoch: 0, seed: model.seed, optimizer: model.optimizer, step: model.step, dataFingerprint: '' };
  const ck = decodeCheckpoint(encodeCheckpoint(model, { info }), 'model');
  const { epoch, data_fingerprint, ...metadata } = exportModelFromCheckpoint(ck).metadata;
  return encodeOnnx({ ...exportModelFromCheckpoint(ck), metadata });
}
