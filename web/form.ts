// The training form: filled from the library's defaults (one source for the page and `barenet train`, so
// a seed gives the same model in both), read back into a TrainConfig. Pure: tested in Node.
import { defaultConfig, type OptimizerKind, type ScheduleKind, type TrainConfig } from 'barenet';

export const FIELDS = ['layers', 'epochs', 'batch', 'lr', 'optimizer', 'schedule', 'seed', 'subset', 'threads'] as const;
export type FormValues = Record<(typeof FIELDS)[number], string>;

/** What the values are checked against: the training images there are, the threads that can run. */
export interface FormLimits {
  trainCount: number;
  maxThreads: number;
}

const SEED_MAX = 2 ** 32 - 1;
const count = (n: number) => n.toLocaleString('en');

/** The form's values for defaultConfig, all training images and `threads`. */
export function defaultFormValues(trainCount: number, threads: number): FormValues {
  const d = defaultConfig;
  return {
    layers: d.hidden.join(','),
    epochs: String(d.epochs),
    batch: String(d.batch),
    lr: String(d.lr),
    optimizer: d.optimizer,
    schedule: d.schedule,
    seed: String(d.seed),
    subset: String(trainCount),
    threads: String(threads),
  };
}

/** A decimal whole number from `min` to `max`, or an Error naming the field. */
export function wholeNumber(value: string, field: string, min: number, max: number): number {
  const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
  if (min === 1 && max === Number.MAX_SAFE_INTEGER) throw new Error(`${field}: a positive whole number is needed`);
  throw new Error(`${field}: a whole number from ${count(min)} to ${count(max)} is needed`);
}

/** The run the form describes: the library's defaults overridden by the fields. */
export function readForm(v: FormValues, limits: FormLimits): { config: TrainConfig; subset: number } {
  const tokens = v.layers.split(/[\s,-]+/).filter(Boolean);
  if (!tokens.every((t) => /^\d+$/.test(t) && Number(t) >= 1)) throw new Error('hidden layers: positive whole numbers separated by commas, e.g. 256,128');
  const any = Number.MAX_SAFE_INTEGER;
  const subset = wholeNumber(v.subset, 'training images', 1, limits.trainCount);
  const config: TrainConfig = {
    ...defaultConfig,
    hidden: tokens.map(Number),
    epochs: wholeNumber(v.epochs, 'epochs', 1, any),
    batch: wholeNumber(v.batch, 'batch', 1, any),
    lr: Number(v.lr),
    optimizer: v.optimizer as OptimizerKind,
    schedule: v.schedule as ScheduleKind,
    seed: wholeNumber(v.seed, 'seed', 0, SEED_MAX),
    threads: wholeNumber(v.threads, 'threads', 1, limits.maxThreads),
  };
  if (!(v.lr.trim() !== '' && config.lr > 0 && Number.isFinite(config.lr))) throw new Error('learning rate: a positive number is needed');
  if (config.batch > subset) throw new Error(`batch: at most ${count(subset)}, the number of training images`);
  return { config, subset };
}

/** The data section's classes field: empty means the labels' maximum + 1. */
export function readClasses(value: string): number | undefined {
  return value.trim() === '' ? undefined : wholeNumber(value, 'classes', 2, 256);
}
