// The training form: filled from the library's defaults (one source for the page and `barenet train`, so
// a seed gives the same model in both), read back into a TrainConfig. Pure: tested in Node.
import { PRESETS, defaultConfig, formatSpec, parseSpec, planShapes, recipeFor, type OptimizerKind, type ScheduleKind, type Shape, type TrainConfig } from 'barenet';

export const FIELDS = ['arch', 'epochs', 'batch', 'lr', 'optimizer', 'schedule', 'seed', 'subset', 'threads'] as const;
export type FormValues = Record<(typeof FIELDS)[number], string>;

/** What the values are checked against: the training images there are, the threads that can run. */
export interface FormLimits {
  trainCount: number;
  maxThreads: number;
  /** The data's image shape and classes, when data is loaded: a spec is checked against them. */
  input?: Shape;
  classes?: number;
}

const SEED_MAX = 2 ** 32 - 1;
const count = (n: number) => n.toLocaleString('en');

/** The library's defaults for an architecture: its preset's recipe over defaultConfig. */
export const configFor = (arch: string): TrainConfig => ({ ...defaultConfig, ...recipeFor(arch), arch });

/** The form's values for an architecture's defaults (the MLP's unless given), all training images and `threads`. */
export function defaultFormValues(trainCount: number, threads: number, arch = defaultConfig.arch): FormValues {
  const d = configFor(arch);
  return {
    arch: d.arch,
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
  const arch = readArch(v.arch, limits);
  const any = Number.MAX_SAFE_INTEGER;
  const subset = wholeNumber(v.subset, 'training images', 1, limits.trainCount);
  const config: TrainConfig = {
    ...configFor(arch),
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

/** The architecture field: a preset or a spec (as `barenet train --arch`), checked against the data when loaded. */
function readArch(value: string, limits: FormLimits): string {
  const text = value.trim();
  try {
    const layers = parseSpec(text);
    if (limits.input && limits.classes) planShapes(layers, limits.input, limits.classes);
    return Object.hasOwn(PRESETS, text) ? text : formatSpec(layers); // a preset keeps its name, and so its recipe
  } catch (e) {
    throw new Error(`architecture: ${(e as Error).message.replace(/^--arch: /, '')}`);
  }
}

/** The data section's classes field: empty means the labels' maximum + 1. */
export function readClasses(value: string): number | undefined {
  return value.trim() === '' ? undefined : wholeNumber(value, 'classes', 2, 256);
}
