// Messages between the page (main.ts) and the training worker (worker.ts).
import type { BatchProgress, EpochMetrics, TrainConfig } from 'barenet';

export interface DataInfo {
  name: string;
  rows: number;
  cols: number;
  classes: number;
  train: number;
  test: number;
}

export interface Misclassified {
  index: number;
  label: number;
  predicted: number;
  pixels: Uint8Array;
}

export type ToWorker =
  | { type: 'mnist'; base: string }
  | { type: 'files'; files: File[] }
  | { type: 'train'; config: TrainConfig; subset: number; bench?: boolean }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'evaluate'; model: Uint8Array; maxWrong: number };

export type FromWorker =
  | { type: 'data'; info: DataInfo }
  | { type: 'batch'; p: BatchProgress; epochs: number; batchSize: number }
  | { type: 'epoch'; m: EpochMetrics; model: Uint8Array }
  | { type: 'paused' }
  | { type: 'done'; reason: string; model: Uint8Array; samplesPerSecond: number; trainCount: number; threads: number; build: string }
  | { type: 'evaluation'; accuracy: number; loss: number; classes: number; confusion: Int32Array; wrong: Misclassified[]; rows: number; cols: number }
  | { type: 'error'; message: string };
