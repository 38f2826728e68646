// Loads the barenet WebAssembly module with the plain WebAssembly API and hands out memory.
// Memory is planned up front by the host: `alloc` bumps a pointer above the module's heap base and
// grows memory only while a model and its data are being set up, never per training step.
// With `threads` > 1 it loads the shared-memory build (shared, or shared-relaxed for relaxed) over one
// shared WebAssembly.Memory and starts a Pool of workers on it; `run` then runs lists of kernel calls on
// the threads, and `gemm()` splits single GEMMs over them.
import { MemoryError, UsageError } from '../errors.js';
import type { Kernels } from './kernels.js';
import { Pool, kernelTable, runOps, sharedMemorySupported, type KernelFn, type OpList } from './pool.js';
import { chunksFor, pooledGemm, singleGemm, type Gemm } from './gemm.js';

export type Build = 'release' | 'relaxed' | 'debug' | 'shared' | 'shared-relaxed';

const wasmUrls: Record<Build, URL> = {
  release: new URL('../../build/release.wasm', import.meta.url),
  relaxed: new URL('../../build/relaxed.wasm', import.meta.url),
  debug: new URL('../../build/debug.wasm', import.meta.url),
  shared: new URL('../../build/shared.wasm', import.meta.url),
  'shared-relaxed': new URL('../../build/shared-relaxed.wasm', import.meta.url),
};

/** wasm32's largest memory: what one thread's may grow to. */
export const MAX_MEMORY = 65536 * 65536;

/** The shared builds import their memory: 16 pages at first, growing up to 1 GiB (asconfig.json). */
const SHARED_PAGES = { initial: 16, maximum: 16384 };
const isShared = (build: Build) => build === 'shared' || build === 'shared-relaxed';

/** Most threads `threads: 0` picks: a batch of 64 still splits into blocks of 16 rows. */
export const MAX_AUTO_THREADS = 4;

/** What `threads: 0` picks on a machine with `cores` cores: one per core, at most MAX_AUTO_THREADS. */
export const threadsForCores = (cores: number): number => Math.max(1, Math.min(cores, MAX_AUTO_THREADS));

/** What `threads: 0` means here (cores: Node's availableParallelism, a browser's hardwareConcurrency). */
export async function autoThreads(): Promise<number> {
  const cores = isNode
    ? (await import('node:os')).availableParallelism()
    : ((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
  return threadsForCores(cores);
}

export interface LoadOptions {
  /**
   * Threads, the calling one included (default 1; 0: autoThreads()). Above 1 the shared build is loaded
   * (shared-relaxed for relaxed; debug stays single-threaded); where memory cannot be shared (a browser
   * page that is not cross-origin isolated) the engine falls back to one thread.
   */
  threads?: number;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const moduleCache = new Map<Build, Promise<WebAssembly.Module>>();

async function readWasm(build: Build): Promise<Uint8Array<ArrayBuffer>> {
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(wasmUrls[build]));
}

async function fetchWasm(build: Build): Promise<Response> {
  const res = await fetch(wasmUrls[build]);
  if (!res.ok) throw new Error(`barenet: cannot fetch ${wasmUrls[build]}: HTTP ${res.status}`);
  return res;
}

/** Browser: compiles while downloading when the server sends application/wasm (streaming requires it). */
async function compileFetched(build: Build): Promise<WebAssembly.Module> {
  const res = await fetchWasm(build);
  if (res.headers.get('content-type')?.startsWith('application/wasm')) return WebAssembly.compileStreaming(res);
  return WebAssembly.compile(await res.arrayBuffer());
}

async function enableRelaxedSimdInNode(): Promise<void> {
  // Node 20 keeps relaxed SIMD behind a V8 flag; setting it before compiling is enough.
  if (isNode) (await import('node:v8')).setFlagsFromString('--experimental-wasm-relaxed-simd');
}

// The smallest module using f32x4.relaxed_madd (three i8x16.splat of 1, then the multiply-add): it validates
// exactly where the relaxed build compiles, without fetching that build.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 1, 253, 15, 65, 1, 253, 15, 65, 1, 253, 15, 253, 133, 2, 11,
]);

/** True when this engine can compile the relaxed-SIMD build. */
export async function relaxedSimdSupported(): Promise<boolean> {
  await enableRelaxedSimdInNode();
  return WebAssembly.validate(RELAXED_PROBE);
}

/** A build, or 'auto': relaxed where the engine supports relaxed SIMD, else release (feature detection). */
export type BuildChoice = Build | 'auto';

/** The build `choice` means on this engine. */
export async function pickBuild(choice: BuildChoice): Promise<Build> {
  if (choice !== 'auto') return choice;
  return (await relaxedSimdSupported()) ? 'relaxed' : 'release';
}

/** The single-threaded build a (possibly shared) build runs the kernels of: what a checkpoint records. */
export function kernelBuild(build: Build): Build {
  return build === 'shared' ? 'release' : build === 'shared-relaxed' ? 'relaxed' : build;
}

export function compileModule(build: Build): Promise<WebAssembly.Module> {
  let mod = moduleCache.get(build);
  if (!mod) {
    mod = (async () => {
      if (build === 'relaxed' || build === 'shared-relaxed') await enableRelaxedSimdInNode();
      return isNode ? WebAssembly.compile(await readWasm(build)) : compileFetched(build);
    })();
    moduleCache.set(build, mod);
  }
  return mod;
}

/**
 * An engine dropped without close() (a Trainer the caller forgot) stops its workers once it is garbage
 * collected, so they and the memory they share do not live on. The pool holds no reference to its engine.
 */
const closeWhenUnreachable = new FinalizationRegistry<Pool>((pool) => pool.close());

export class Engine {
  readonly k: Kernels;
  private readonly fns: KernelFn[];
  private top: number;
  /** Bumped whenever memory grows: views made before that are detached and must be re-made. */
  generation = 0;

  private constructor(
    readonly build: Build,
    instance: WebAssembly.Instance,
    /** The worker threads, or null when this engine runs on the calling thread alone. */
    readonly pool: Pool | null = null,
  ) {
    this.k = instance.exports as unknown as Kernels;
    this.fns = kernelTable(instance.exports);
    this.top = this.k.heap_base();
  }

  static async load(choice: BuildChoice = 'release', opts: LoadOptions = {}): Promise<Engine> {
    const build = await pickBuild(choice);
    if (kernelBuild(build) === 'relaxed' && !(await relaxedSimdSupported())) {
      throw new UsageError(`the ${build} build needs relaxed SIMD, which this JavaScript engine lacks (use --build release or auto)`);
    }
    const threads = opts.threads === 0 ? await autoThreads() : Math.max(1, Math.floor(opts.threads ?? 1));
    if (threads > 1 && build !== 'debug' && sharedMemorySupported()) {
      const shared: Build = build === 'relaxed' || build === 'shared-relaxed' ? 'shared-relaxed' : 'shared';
      const memory = new WebAssembly.Memory({ ...SHARED_PAGES, shared: true });
      const module = await compileModule(shared);
      const instance = await WebAssembly.instantiate(module, imports(shared, memory));
      const pool = await Pool.start(module, memory, instance.exports, threads);
      const eng = new Engine(shared, instance, pool);
      closeWhenUnreachable.register(eng, pool, pool);
      return eng;
    }
    const memory = isShared(build) ? new WebAssembly.Memory({ ...SHARED_PAGES, shared: true }) : undefined;
    return new Engine(build, await WebAssembly.instantiate(await compileModule(build), imports(build, memory)));
  }

  /** Threads the GEMMs run on, the calling one included. */
  get threads(): number {
    return this.pool?.isOpen ? this.pool.threads : 1;
  }

  /**
   * A GEMM dispatcher with its own workspaces of `wsBytes` (see gemm_ws_bytes): one on one thread, where
   * it calls the kernels; one per chunk with a pool, where it splits each large enough GEMM over the threads.
   */
  gemm(wsBytes: number): Gemm {
    if (!this.pool) return singleGemm(this.k, this.alloc(wsBytes));
    const ws: number[] = [];
    for (let t = 0; t < chunksFor(this.pool.threads); t++) ws.push(this.alloc(wsBytes));
    return pooledGemm(this.k, this.pool, ws);
  }

  /**
   * Runs parts[0..n) — lists of kernel calls that touch disjoint outputs — each on its own thread when there
   * is a pool (and it is not backing off on a busy machine), else one after another here. Results are the
   * same either way.
   */
  run(parts: OpList[], n = parts.length): void {
    const pool = this.pool;
    if (n > 1 && pool?.active) {
      for (let t = 0; t < n; t++) pool.chunk(t, parts[t]);
      pool.run(n);
    } else {
      for (let t = 0; t < n; t++) runOps(this.fns, parts[t].f, 0, parts[t].length);
    }
  }

  /** Stops the worker threads, if any (idempotent). The engine keeps working, on the calling thread. */
  close(): void {
    if (!this.pool) return;
    closeWhenUnreachable.unregister(this.pool);
    this.pool.close();
  }

  get memory(): WebAssembly.Memory {
    return this.k.memory;
  }

  /** Bytes handed out so far, from address 0. */
  get used(): number {
    return this.top;
  }

  /** The most memory can grow to: 1 GiB for the shared builds (asconfig.json), 4 GiB (wasm32's limit) otherwise. */
  get maxBytes(): number {
    return isShared(this.build) ? SHARED_PAGES.maximum * 65536 : MAX_MEMORY;
  }

  /** Reserves `bytes` (zeroed) aligned to `align`, growing memory if needed. Returns the byte address. */
  alloc(bytes: number, align = 64): number {
    const ptr = Math.ceil(this.top / align) * align;
    const end = ptr + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > this.maxBytes) {
      const mb = (b: number) => `${Math.ceil(b / 2 ** 20).toLocaleString('en')} MB`;
      throw new MemoryError(`WebAssembly memory would need ${mb(end)}, more than its limit of ${mb(this.maxBytes)}`, end, this.maxBytes);
    }
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / 65536));
      this.generation++;
    }
    this.top = end;
    new Uint8Array(this.memory.buffer, ptr, bytes).fill(0);
    return ptr;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }
  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.memory.buffer, ptr, length);
  }
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }
}

function imports(build: Build, memory?: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      ...(memory && { memory }),
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`barenet wasm (${build}) aborted at ${line}:${col}`);
      },
    },
  };
}
