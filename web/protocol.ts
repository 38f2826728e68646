// Messages between the page (main.ts) and the training worker (worker.ts).
import type { BatchProgress, EpochMetrics, TrainConfig } from 'barenet';
import type { RunEnd } from './messages';

export interface DataInfo {
  name: string;
  rows: number;
  cols: number;
  channels: number;
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

/** Where the data comes from; `classes` declares the class count (default: the labels' maximum + 1). */
export type DataSource = { type: 'mnist'; base: string } | { type: 'files'; files: File[] };

export type ToWorker =
  | (DataSource & { classes?: number })
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
  | ({ type: 'done'; model: Uint8Array } & RunEnd)
  | { type: 'evaluation'; accuracy: number; loss: number; classes: number; confusion: Int32Array; wrong: Misclassified[]; rows: number; cols: number }
  /** `stage`: the request that failed ('train': the run has ended). */
  | { type: 'error'; message: string; stage: ToWorker['type'] };
