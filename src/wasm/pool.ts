// A pool of threads running kernels on one shared WebAssembly.Memory: worker_threads in Node, Web Workers
// in the browser. The calling thread is thread 0 and works on every job too; threads 1..n−1 are workers.
//
// A job is a list of chunks written into a small shared control block; a chunk is an OpList, kernel calls
// (a kernel id and up to 11 numeric arguments each) that one thread runs in order: e.g. one block of rows of
// a GEMM's C, or a whole phase of a training step for one block of the batch's rows. The caller publishes it by bumping a sequence
// number; chunk t belongs to thread t, which claims it (compare-and-swap on the chunk's state word) and
// runs it, then takes any chunk still unclaimed; the caller then waits until all chunks are complete.
// Owned chunks keep each thread on the same block, and so the same workspace and cache lines, job after
// job; taking the others keeps a job from waiting on a worker the OS has not scheduled yet: on a busy
// machine the caller just does that chunk itself.
// Waiting spins first: workers spin on the sequence number for SPIN_MS after each job before they sleep
// in Atomics.wait (the caller only calls Atomics.notify when someone sleeps), and the caller spins for
// JOIN_SPIN_MS before it sleeps (then workers notify it). Back-to-back jobs cost about a microsecond of
// hand-off each; an idle pool costs no CPU.
// On a machine busy with other work a worker may not run when a job is published; after LATE_JOBS jobs in a
// row where a spinning (not sleeping) worker came late (the caller took its chunk, or waited long for it),
// `active` turns false for a while (10 ms; doubling up to 2 s while it happens again soon after each time)
// and the dispatchers run everything on the calling thread, so a busy machine costs little more than one
// thread would (B1 with a CPU-bound process beside it: 1.5–2.0 s on 2 threads, 1.8 s on 1; 3.0–3.3 s without this).
//
// The worker is a self-contained script (WORKER_SOURCE) started from a string (Node: eval, browser: a Blob
// URL), so it needs no file next to the compiled module and runs the same from src/ (vitest) and dist/.

/** Kernels a job can run, by id: the arguments are the export's, in order. */
export const KERNEL_IDS = {
  gemm_nn_ld: 0,
  gemm_nt_ld: 1,
  gemm_tn_ld: 2,
  gemm_nn_sparse_ld: 3,
  gemm_tn_sparse_ld: 4,
  sgd_step: 5,
  momentum_step: 6,
  adam_step: 7,
  gather_batch: 8,
  bias_relu_forward: 9,
  bias_backward: 10,
  softmax_xent: 11,
  softmax_forward: 12,
  sgd_tn_sparse: 13,
  gemm_nt_relu_ld: 14,
  conv2d_forward: 15,
  conv2d_backward_input: 16,
  conv2d_backward_weight: 17,
  maxpool2d_forward: 18,
  maxpool2d_backward: 19,
  dropout_forward: 20,
  dropout_backward: 21,
  conv2d_dy_lists: 22,
} as const;
export type KernelName = keyof typeof KERNEL_IDS;
const KERNEL_NAMES = Object.keys(KERNEL_IDS) as KernelName[];

/** How long an idle worker spins before it sleeps in Atomics.wait. */
export const SPIN_MS = 2;
/** How long the caller spins for the workers to finish a job before it sleeps. */
export const JOIN_SPIN_MS = 2;
/** Back-off after workers came late: first and longest time on the calling thread alone, and how many
 *  late jobs in a row start it. */
const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 2000;
export const LATE_JOBS = 16;
/** Most chunks in one job, and most threads. */
export const MAX_CHUNKS = 64;
export const MAX_THREADS = 64;
/** Most kernel calls in one chunk. */
export const MAX_OPS = 48;
/** f64 words per call: kernel id, 11 arguments. */
const OP_F64 = 12;

// Control block: Int32 words, the busy ones on cache lines of their own.
const SEQ = 0; // job sequence number
const SLEEPERS = 1; // workers in (or entering) Atomics.wait
const QUIT = 2; // 1: workers leave their loop
const CALLER_WAITS = 3; // 1: the caller sleeps in Atomics.wait on COMPLETED (workers then notify it)
const CHUNKS = 16; // chunks in the current job
const COMPLETED = 32; // chunks completed in the current job
const ERR = 48; // 1: a chunk threw
const STATE = 64; // MAX_CHUNKS words: 0 unclaimed, 1 claimed (or not part of the job)
const HEADER_BYTES = 512;
const CHUNK_F64 = 8 + OP_F64 * MAX_OPS; // f64 words per chunk: its call count (padded to 64 bytes), its calls
const chunkBase = (c: number) => HEADER_BYTES / 8 + CHUNK_F64 * c;

/** Kernel calls for one thread to run in order (what a chunk holds). Arguments are numbers: booleans as 0/1. */
export class OpList {
  readonly f = new Float64Array(OP_F64 * MAX_OPS);
  length = 0;
  clear(): this {
    this.length = 0;
    return this;
  }
  push(kernel: KernelName, ...args: number[]): this {
    if (this.length === MAX_OPS) throw new RangeError(`barenet: more than ${MAX_OPS} kernel calls in one chunk`);
    const a = OP_F64 * this.length++;
    this.f[a] = KERNEL_IDS[kernel];
    for (let i = 0; i < args.length; i++) this.f[a + 1 + i] = args[i];
    return this;
  }
}

/** The exports a chunk's kernel ids refer to, in id order. */
export function kernelTable(exports: WebAssembly.Exports): KernelFn[] {
  return KERNEL_NAMES.map((name) => exports[name] as KernelFn);
}

/** Runs `count` calls stored from f[base] on the calling thread (WORK_SOURCE has the workers' copy). */
export function runOps(fns: KernelFn[], f: Float64Array, base: number, count: number): void {
  for (let a = base, end = base + OP_F64 * count; a < end; a += OP_F64) {
    fns[f[a]](f[a + 1], f[a + 2], f[a + 3], f[a + 4], f[a + 5], f[a + 6], f[a + 7], f[a + 8], f[a + 9], f[a + 10], f[a + 11]);
  }
}

// Claims and runs chunks, its own (`self`) first, until none are left: the workers' copy of Pool.work and
// runOps (keep them in step; the worker gets source text, and a bundler may rename what a function's text refers to).
// A worker that wakes late may claim chunks of a later job than the one that woke it: that is safe, since a
// chunk only becomes claimable after its arguments are written.
const WORK_SOURCE = `function work(ctl, f, fns, self, onError) {
  const chunks = Atomics.load(ctl, ${CHUNKS});
  for (let i = -1; i < chunks; i++) {
    const c = i < 0 ? self : i;
    if (c >= chunks || Atomics.compareExchange(ctl, ${STATE} + c, 0, 1) !== 0) continue;
    const base = ${HEADER_BYTES / 8} + ${CHUNK_F64} * c;
    try {
      for (let a = base + 8, end = a + ${OP_F64} * f[base]; a < end; a += ${OP_F64}) {
        fns[f[a]](f[a + 1], f[a + 2], f[a + 3], f[a + 4], f[a + 5], f[a + 6], f[a + 7], f[a + 8], f[a + 9], f[a + 10], f[a + 11]);
      }
    } catch (e) {
      Atomics.store(ctl, ${ERR}, 1);
      onError(e);
    }
    Atomics.add(ctl, ${COMPLETED}, 1);
    if (Atomics.load(ctl, ${CALLER_WAITS}) !== 0) Atomics.notify(ctl, ${COMPLETED});
  }
}`;

// Classic script or ES module, whatever node's --input-type: no require, no top-level await.
const WORKER_SOURCE = `'use strict';
const KERNEL_NAMES = ${JSON.stringify(KERNEL_NAMES)};
${WORK_SOURCE}
(async () => {
  const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);
  const port = isNode ? (await import('node:worker_threads')).parentPort : self;
  const post = (m) => port.postMessage(m);
  const { module, memory, control, index, spinMs } = await new Promise((resolve) =>
    isNode ? port.once('message', resolve) : (self.onmessage = (e) => { self.onmessage = null; resolve(e.data); }));
  let fns;
  try {
    const instance = await WebAssembly.instantiate(module, {
      env: { memory, abort(_m, _f, line, col) { throw new Error('barenet wasm aborted at ' + line + ':' + col); } },
    });
    fns = KERNEL_NAMES.map((name) => instance.exports[name]);
  } catch (e) {
    post({ error: String(e && e.stack || e) });
    return;
  }
  post({ ready: true });
  const ctl = new Int32Array(control);
  const f = new Float64Array(control);
  const onError = (e) => post({ error: String(e && e.stack || e) });
  let seen = Atomics.load(ctl, ${SEQ});
  for (;;) {
    let seq = Atomics.load(ctl, ${SEQ});
    if (seq === seen) {
      let t0 = performance.now();
      for (let spins = 1; (seq = Atomics.load(ctl, ${SEQ})) === seen; spins++) {
        if ((spins & 255) === 0 && performance.now() - t0 > spinMs) {
          Atomics.add(ctl, ${SLEEPERS}, 1);
          Atomics.wait(ctl, ${SEQ}, seen);
          Atomics.sub(ctl, ${SLEEPERS}, 1);
          t0 = performance.now();
        }
      }
    }
    seen = seq;
    if (Atomics.load(ctl, ${QUIT}) !== 0) break;
    work(ctl, f, fns, index, onError);
  }
  if (isNode) port.close();
  else self.close();
})();
`;

// A worker runs kernels, not JS: a small heap keeps its isolate from holding memory it never needs.
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 };

interface WorkerHandle {
  terminate(): void | Promise<number>;
  unref?(): void;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** True when this environment can share WebAssembly memory between threads. */
export function sharedMemorySupported(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  if (isNode) return true;
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true && typeof Worker !== 'undefined';
}

export type KernelFn = (...args: number[]) => void;

export class Pool {
  /** Threads including the caller. */
  readonly threads: number;
  private readonly ctl: Int32Array;
  private readonly f: Float64Array;
  private readonly fns: KernelFn[];
  private seq = 0;
  /** Jobs run on the threads so far. */
  jobs = 0;
  private closed = false;
  private callerMayWait = true;
  // Back-off state (see the top of the file).
  private lateJobs = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private soloUntil = 0;
  private constructor(
    private readonly workers: WorkerHandle[],
    control: SharedArrayBuffer,
    exports: WebAssembly.Exports,
    /** Error messages the workers have posted (a kernel that threw there). */
    private readonly errors: string[],
  ) {
    this.threads = workers.length + 1;
    this.ctl = new Int32Array(control);
    this.f = new Float64Array(control);
    this.fns = kernelTable(exports);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** True when jobs should be split over the threads: open, and not backing off after late workers. */
  get active(): boolean {
    return !this.closed && (this.soloUntil === 0 || performance.now() >= this.soloUntil);
  }

  /**
   * Starts threads − 1 workers (threads ≤ MAX_THREADS), each instantiating `module` over `memory`;
   * `exports` are the calling thread's instance's. Resolves when every worker is ready.
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, exports: WebAssembly.Exports, threads: number): Promise<Pool> {
    threads = Math.min(threads, MAX_THREADS);
    const control = new SharedArrayBuffer(HEADER_BYTES + 8 * CHUNK_F64 * MAX_CHUNKS);
    const workers: WorkerHandle[] = [];
    const errors: string[] = [];
    const ready: Promise<void>[] = [];
    new Int32Array(control, STATE * 4, MAX_CHUNKS).fill(1);
    try {
      for (let w = 1; w < threads; w++) {
        const init = { module, memory, control, index: w, spinMs: SPIN_MS };
        const onMessage = (resolve: () => void, reject: (e: Error) => void) => (m: { ready?: boolean; error?: string }) => {
          if (m.ready) resolve();
          else if (m.error) {
            errors.push(`worker ${w}: ${m.error}`);
            reject(new Error(`barenet worker ${w}: ${m.error}`));
          }
        };
        if (isNode) {
          const { Worker } = await import('node:worker_threads');
          const worker = new Worker(WORKER_SOURCE, { eval: true, name: `barenet-${w}`, resourceLimits: WORKER_LIMITS });
          workers.push(worker);
          ready.push(
            new Promise<void>((resolve, reject) => {
              worker.on('message', onMessage(resolve, reject));
              worker.once('error', reject);
              worker.once('exit', (code) => reject(new Error(`barenet worker ${w} exited (${code})`)));
            }),
          );
          worker.postMessage(init);
        } else {
          const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
          const worker = new Worker(url, { name: `barenet-${w}` });
          URL.revokeObjectURL(url);
          workers.push(worker);
          ready.push(
            new Promise<void>((resolve, reject) => {
              const handle = onMessage(resolve, reject);
              worker.onmessage = (e: MessageEvent) => handle(e.data);
              worker.onerror = (e) => reject(new Error(`barenet worker ${w}: ${e.message}`));
            }),
          );
          worker.postMessage(init);
        }
      }
      await Promise.all(ready);
      // The pool never keeps the process alive, even if close() is never called. (After the listeners:
      // adding a 'message' listener refs the worker again.)
      for (const w of workers) w.unref?.();
    } catch (e) {
      for (const w of workers) void w.terminate();
      throw e;
    }
    return new Pool(workers, control, exports, errors);
  }

  /** Sets chunk c (< MAX_CHUNKS) of the next job: the calls in `ops`. */
  chunk(c: number, ops: OpList): void {
    const a = chunkBase(c);
    this.f[a] = ops.length;
    this.f.set(ops.f.subarray(0, OP_F64 * ops.length), a + 8);
  }

  /**
   * Runs chunks 0..chunks−1 set with `chunk` on every thread and returns when all are complete.
   * Throws if a kernel threw (after the job is over).
   */
  run(chunks: number): void {
    if (this.closed) throw new Error('barenet: the thread pool is closed');
    if (chunks < 1 || chunks > MAX_CHUNKS) throw new RangeError(`barenet: ${chunks} chunks (1..${MAX_CHUNKS})`);
    const ctl = this.ctl;
    Atomics.store(ctl, COMPLETED, 0);
    Atomics.store(ctl, CHUNKS, chunks);
    // Last, after the arguments: a chunk is claimable (its arguments visible to the claimer) from here on.
    for (let c = 0; c < chunks; c++) Atomics.store(ctl, STATE + c, 0);
    this.seq = (this.seq + 1) | 0;
    this.jobs++;
    Atomics.store(ctl, SEQ, this.seq);
    const sleepers = Atomics.load(ctl, SLEEPERS) > 0;
    if (sleepers) Atomics.notify(ctl, SEQ);
    let error: unknown = null;
    const t0 = performance.now();
    const mine = this.work((e) => (error ??= e));
    const t1 = performance.now();
    this.join(chunks);
    // A worker woken from Atomics.wait is late as a rule (waking takes 0.05–2 ms): that says nothing.
    if (!sleepers) this.observe(mine > Math.ceil(chunks / this.threads), performance.now() - t1, t1 - t0);
    if (Atomics.load(ctl, ERR) !== 0) {
      Atomics.store(ctl, ERR, 0);
      if (error) throw error;
      throw new Error(`barenet: a kernel failed in a worker thread${this.errors.length ? `: ${this.errors.join('; ')}` : ''}`);
    }
  }

  /**
   * Waits until `chunks` chunks are complete: spinning for JOIN_SPIN_MS, then (where this thread may block)
   * sleeping in Atomics.wait, which leaves the core to a worker the OS has descheduled on a busy machine.
   */
  private join(chunks: number): void {
    const ctl = this.ctl;
    let t0 = -1;
    for (let spins = 1; Atomics.load(ctl, COMPLETED) < chunks; spins++) {
      if ((spins & 255) !== 0 || !this.callerMayWait) continue;
      if (t0 < 0) t0 = performance.now();
      else if (performance.now() - t0 > JOIN_SPIN_MS) {
        Atomics.store(ctl, CALLER_WAITS, 1);
        const done = Atomics.load(ctl, COMPLETED);
        try {
          if (done < chunks) Atomics.wait(ctl, COMPLETED, done, 1);
        } catch {
          this.callerMayWait = false; // a browser's main thread may not block: spin
        }
        Atomics.store(ctl, CALLER_WAITS, 0);
      }
    }
  }

  /** A job is late when the caller ran more than its share of the chunks, or waited for the workers longer than it worked. */
  private observe(tookOthers: boolean, waitMs: number, workMs: number): void {
    if (!tookOthers && waitMs < 0.2 + workMs) {
      this.lateJobs = 0;
      return;
    }
    if (++this.lateJobs < LATE_JOBS) return;
    this.lateJobs = 0;
    const now = performance.now();
    // Late again soon after the last back-off: the machine stays busy, back off longer. Else start over.
    this.backoffMs = now - this.soloUntil < 100 ? Math.min(BACKOFF_MAX_MS, 2 * this.backoffMs) : BACKOFF_MIN_MS;
    this.soloUntil = now + this.backoffMs;
  }

  /**
   * Claims and runs chunks, its own (0) first, until none are left (WORK_SOURCE is the workers' copy).
   * Returns how many it ran.
   */
  private work(onError: (e: unknown) => void): number {
    const { ctl, f, fns } = this;
    const chunks = Atomics.load(ctl, CHUNKS);
    let ran = 0;
    for (let c = 0; c < chunks; c++) {
      if (Atomics.compareExchange(ctl, STATE + c, 0, 1) !== 0) continue;
      const a = chunkBase(c);
      try {
        runOps(fns, f, a + 8, f[a]);
      } catch (e) {
        Atomics.store(ctl, ERR, 1);
        onError(e);
      }
      Atomics.add(ctl, COMPLETED, 1);
      ran++;
    }
    return ran;
  }

  /** Stops the workers (idempotent): they leave their loop, and terminate() makes sure. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.store(this.ctl, SEQ, (this.seq + 1) | 0);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) void w.terminate();
  }
}
