// Shared test helpers: load a build, put arrays into linear memory, compare against references.
import { Engine, type Build } from '../src/wasm/engine.js';
import { Rng } from '../src/rng.js';
import { Network, type NetworkOptions } from '../src/model/network.js';
import type { Dense } from '../src/model/dense.js';
import { denseSpec } from '../src/model/spec.js';

export const builds: Build[] = ['debug', 'release'];

export function loadEngine(build: Build = 'release'): Promise<Engine> {
  return Engine.load(build);
}

/** Copies data into fresh memory and returns its address. */
export function putF32(eng: Engine, data: ArrayLike<number>): number {
  const p = eng.alloc(data.length * 4);
  eng.f32(p, data.length).set(data);
  return p;
}

export function putU8(eng: Engine, data: ArrayLike<number>): number {
  const p = eng.alloc(data.length);
  eng.u8(p, data.length).set(data);
  return p;
}

export function putI32(eng: Engine, data: ArrayLike<number>): number {
  const p = eng.alloc(data.length * 4);
  eng.i32(p, data.length).set(data);
  return p;
}

/** Uniform floats in [lo, hi), rounded to f32, from a seeded generator. */
export function randomF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng.nextFloat();
  return out;
}

/** Largest |a−b| / max(|b|, floor) over the arrays. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(e <= worst)) worst = e; // NaN propagates as the worst
  }
  return worst;
}

/** An MLP as the network of dense layers it is: `input` features in a row, hidden widths, classes. */
export interface MlpShape {
  input: number;
  hidden: number[];
  classes: number;
}
export function mlpNetwork(eng: Engine, arch: MlpShape, opts: NetworkOptions): Network {
  return new Network(eng, { spec: denseSpec(arch.hidden), input: { c: 1, h: 1, w: arch.input }, classes: arch.classes }, opts);
}
/** The network's dense layers (all its layers with parameters, for an MLP). */
export const denseLayers = (model: Network): Dense[] => model.paramLayers as Dense[];

/** Index of the first element whose f32 bit patterns differ (so +0 ≠ −0), −1 if
 *  none, −2 if the lengths differ. Float64 values are rounded to f32 first. */
export function firstBitDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  const x = new Uint32Array(Float32Array.from(a).buffer);
  const y = new Uint32Array(Float32Array.from(b).buffer);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Largest |a − b| / max(|a|, |b|) over the arrays (0 where both are 0): a gradient against its finite differences. */
export function worstRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const scale = Math.max(Math.abs(a[i]), Math.abs(b[i]));
    const e = scale === 0 ? 0 : Math.abs(a[i] - b[i]) / scale;
    if (!(e <= worst)) worst = e; // NaN propagates as the worst
  }
  return worst;
}

/** max |a − r| / max |r| over one parameter group. */
export function groupError(a: ArrayLike<number>, r: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < r.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - r[i]));
    scale = Math.max(scale, Math.abs(r[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
