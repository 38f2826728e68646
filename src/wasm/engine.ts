// Loads the barenet WebAssembly module with the plain WebAssembly API and hands out memory.
// Memory is planned up front by the host: `alloc` bumps a pointer above the module's heap base and
// grows memory only while a model and its data are being set up, never per training step.
import type { Kernels } from './kernels.js';

export type Build = 'release' | 'relaxed' | 'debug';

const wasmUrls: Record<Build, URL> = {
  release: new URL('../../build/release.wasm', import.meta.url),
  relaxed: new URL('../../build/relaxed.wasm', import.meta.url),
  debug: new URL('../../build/debug.wasm', import.meta.url),
};

const isNode = typeof process !== 'undefined' && !!process.versions?.node;
const moduleCache = new Map<Build, Promise<WebAssembly.Module>>();

async function readWasm(build: Build): Promise<Uint8Array<ArrayBuffer>> {
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(wasmUrls[build]));
  }
  return new Uint8Array(await (await fetchWasm(build)).arrayBuffer());
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

/** True when this engine can compile the relaxed-SIMD build. */
export async function relaxedSimdSupported(): Promise<boolean> {
  await enableRelaxedSimdInNode();
  return WebAssembly.validate(await readWasm('relaxed'));
}

export function compileModule(build: Build): Promise<WebAssembly.Module> {
  let mod = moduleCache.get(build);
  if (!mod) {
    mod = (async () => {
      if (build === 'relaxed') await enableRelaxedSimdInNode();
      return isNode ? WebAssembly.compile(await readWasm(build)) : compileFetched(build);
    })();
    moduleCache.set(build, mod);
  }
  return mod;
}

export class Engine {
  readonly k: Kernels;
  private top: number;
  /** Bumped whenever memory grows: views made before that are detached and must be re-made. */
  generation = 0;

  private constructor(readonly build: Build, instance: WebAssembly.Instance) {
    this.k = instance.exports as unknown as Kernels;
    this.top = this.k.heap_base();
  }

  static async load(build: Build = 'release'): Promise<Engine> {
    const instance = await WebAssembly.instantiate(await compileModule(build), {
      env: {
        abort(_msg: number, _file: number, line: number, col: number) {
          throw new Error(`barenet wasm (${build}) aborted at ${line}:${col}`);
        },
      },
    });
    return new Engine(build, instance);
  }

  get memory(): WebAssembly.Memory {
    return this.k.memory;
  }

  /** Bytes handed out so far, from address 0. */
  get used(): number {
    return this.top;
  }

  /** Reserves `bytes` (zeroed) aligned to `align`, growing memory if needed. Returns the byte address. */
  alloc(bytes: number, align = 64): number {
    const ptr = Math.ceil(this.top / align) * align;
    const end = ptr + bytes;
    const have = this.memory.buffer.byteLength;
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
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }
}
