// A network described as text (`--arch SPEC`): a preset, or hidden layers separated by commas.
//   conv<K>x<K>:<out>[/s<stride>][/p<padding>]   Conv2d, then ReLU            e.g. conv5x5:6, conv3x3:16/s2/p1
//   maxpool<K>[/s<stride>]                       MaxPool2d (stride K)         e.g. maxpool2
//   dense:<units>                                Linear, then ReLU            e.g. dense:128
//   dropout:<p>                                  inverted dropout in training e.g. dropout:0.5
// The output layer (dense to the classes, no ReLU) is added at the end. Shapes follow PyTorch's Conv2d and
// MaxPool2d (floor of the output size); a dense layer after a spatial one flattens it in (channels, rows, cols)
// order. Pure: parsing and shape arithmetic only, shared by the CLI, the library, checkpoints and export.
import { UsageError } from '../errors.js';

export type LayerSpec =
  | { kind: 'conv'; size: number; out: number; stride: number; pad: number }
  | { kind: 'maxpool'; size: number; stride: number }
  | { kind: 'dense'; units: number }
  | { kind: 'dropout'; p: number };

/** An activation's shape per sample: channels × rows × cols (a dense layer's output is units × 1 × 1). */
export interface Shape {
  c: number;
  h: number;
  w: number;
}

export const PRESETS = {
  mlp: 'dense:256,dense:128',
  lenet5: 'conv5x5:6,maxpool2,conv5x5:16,maxpool2,dense:120,dense:84',
  convnet: 'conv3x3:32,maxpool2,conv3x3:64,maxpool2,dropout:0.5',
} as const;
export type PresetName = keyof typeof PRESETS;

/** Most hidden layers a spec may have (each is a few kernel calls per thread and training phase). */
export const MAX_LAYERS = 24;
/** Largest kernel, window, stride or padding accepted. */
const MAX_WINDOW = 64;

const isPreset = (s: string): s is PresetName => Object.hasOwn(PRESETS, s);

/** The spec a preset names, or the spec itself. */
export function expandPreset(spec: string): string {
  const s = spec.trim();
  return isPreset(s) ? PRESETS[s] : s;
}

/** The preset whose expansion this canonical spec is, if any. */
export function presetOf(spec: string): PresetName | null {
  const canon = formatSpec(parseSpec(spec));
  return (Object.keys(PRESETS) as PresetName[]).find((p) => PRESETS[p] === canon) ?? null;
}

/** A positive decimal integer (no signs, exponents, hex or leading zeros), or null. */
function decimal(s: string | undefined): number | null {
  if (s === undefined || !/^[1-9][0-9]*$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

function bad(token: string, why: string, layer?: number): UsageError {
  return new UsageError(`--arch: '${token}'${layer ? ` (layer ${layer})` : ''} ${why}`);
}

function parseToken(token: string): LayerSpec {
  let m = /^conv([0-9]+)x([0-9]+):([0-9]+)((?:\/[a-z][0-9]*)*)$/.exec(token);
  if (m) {
    const [kh, kw, out] = [decimal(m[1]), decimal(m[2]), decimal(m[3])];
    if (kh === null || kw === null || out === null) throw bad(token, 'needs positive whole numbers, e.g. conv5x5:6');
    if (kh !== kw) throw bad(token, `has a ${kh}×${kw} kernel; barenet's kernels are square (conv${kh}x${kh})`);
    if (kh > MAX_WINDOW) throw bad(token, `has a ${kh}×${kh} kernel; at most ${MAX_WINDOW}`);
    const opts = options(token, m[4], ['s', 'p']);
    const stride = opts.s ?? 1;
    const pad = opts.p ?? 0;
    if (stride < 1) throw bad(token, 'has stride 0; the stride is at least 1');
    if (pad >= kh) throw bad(token, `pads ${pad} with a ${kh}×${kh} kernel; padding must be smaller than the kernel`);
    return { kind: 'conv', size: kh, out, stride, pad };
  }
  m = /^maxpool([0-9]+)((?:\/[a-z][0-9]*)*)$/.exec(token);
  if (m) {
    const size = decimal(m[1]);
    if (size === null || size > MAX_WINDOW) throw bad(token, `needs a window from 1 to ${MAX_WINDOW}, e.g. maxpool2`);
    const stride = options(token, m[2], ['s']).s ?? size;
    if (stride < 1) throw bad(token, 'has stride 0; the stride is at least 1');
    return { kind: 'maxpool', size, stride };
  }
  m = /^dense:(.*)$/.exec(token);
  if (m) {
    const units = decimal(m[1]);
    if (units === null) throw bad(token, 'needs a positive whole number of units, e.g. dense:128');
    return { kind: 'dense', units };
  }
  m = /^dropout:(.*)$/.exec(token);
  if (m) {
    const p = /^(0|0?\.[0-9]+|[0-9]*\.?[0-9]+(e-?[0-9]+)?)$/i.test(m[1]) ? Number(m[1]) : NaN;
    if (!(p >= 0 && p < 1)) throw bad(token, 'needs a drop probability from 0 to below 1, e.g. dropout:0.5');
    return { kind: 'dropout', p };
  }
  const known = `a preset (${Object.keys(PRESETS).join(', ')}) or layers conv<K>x<K>:<out>[/s<S>][/p<P>], maxpool<K>, dense:<units>, dropout:<p>`;
  throw bad(token, `is not a layer; SPEC is ${known}`);
}

/** `/s2/p1` → { s: 2, p: 1 }: each option once, from `allowed`, a whole number ≥ 0. */
function options(token: string, text: string, allowed: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split('/').slice(1)) {
    const key = part[0];
    const value = part.slice(1);
    const n = value === '0' ? 0 : decimal(value);
    if (!allowed.includes(key)) throw bad(token, `has an unknown option /${part} (options: ${allowed.map((a) => '/' + a + 'N').join(', ')})`);
    if (key in out) throw bad(token, `gives /${key} twice`);
    if (n === null || n > MAX_WINDOW) throw bad(token, `has /${part}; the value is a whole number from 0 to ${MAX_WINDOW}`);
    out[key] = n;
  }
  return out;
}

/** The hidden layers of a spec or preset (the output layer is not part of it). '' is no hidden layer. */
export function parseSpec(spec: string): LayerSpec[] {
  const text = expandPreset(spec);
  if (text === '') return [];
  const tokens = text.split(',').map((t) => t.trim());
  if (tokens.length > MAX_LAYERS) throw new UsageError(`--arch: ${tokens.length} layers; at most ${MAX_LAYERS}`);
  return tokens.map((t) => {
    if (t === '') throw new UsageError(`--arch: an empty layer in '${spec}' (two commas, or a comma at an end)`);
    return parseToken(t);
  });
}

/** The canonical text of hidden layers: what checkpoints, --json and the model line show. */
export function formatSpec(layers: readonly LayerSpec[]): string {
  return layers
    .map((L) => {
      switch (L.kind) {
        case 'conv':
          return `conv${L.size}x${L.size}:${L.out}${L.stride !== 1 ? `/s${L.stride}` : ''}${L.pad !== 0 ? `/p${L.pad}` : ''}`;
        case 'maxpool':
          return `maxpool${L.size}${L.stride !== L.size ? `/s${L.stride}` : ''}`;
        case 'dense':
          return `dense:${L.units}`;
        case 'dropout':
          return `dropout:${L.p}`;
      }
    })
    .join(',');
}

/** Hidden widths as a spec: `--layers 256,128` is `dense:256,dense:128`. */
export function denseSpec(hidden: readonly number[]): string {
  return hidden.map((u) => `dense:${u}`).join(',');
}

/** The hidden widths of a dense-only spec, or null when it has other layers. */
export function denseWidths(layers: readonly LayerSpec[]): number[] | null {
  return layers.every((L) => L.kind === 'dense') ? layers.map((L) => (L as { units: number }).units) : null;
}

export const flat = (s: Shape): number => s.c * s.h * s.w;
/** channels×rows×cols */
export const shapeText = (s: Shape): string => `${s.c}×${s.h}×${s.w}`;

/**
 * Each hidden layer's output shape, then the output layer's ([classes]); a spec that cannot work for this
 * input is refused, naming the token and the shapes.
 */
export function planShapes(layers: readonly LayerSpec[], input: Shape, classes: number): Shape[] {
  const shapes: Shape[] = [];
  let s = input;
  let afterDense = false;
  for (const [i, L] of layers.entries()) {
    s = outputShape(L, s, afterDense, i + 1);
    afterDense ||= L.kind === 'dense';
    shapes.push(s);
  }
  shapes.push({ c: classes, h: 1, w: 1 });
  return shapes;
}

function outputShape(L: LayerSpec, s: Shape, afterDense: boolean, n: number): Shape {
  const token = formatSpec([L]);
  if ((L.kind === 'conv' || L.kind === 'maxpool') && afterDense) {
    throw bad(token, `follows a dense layer (${s.c} features); convolution and pooling need an image, so put them before the dense layers`, n);
  }
  switch (L.kind) {
    case 'dense':
      return { c: L.units, h: 1, w: 1 };
    case 'dropout':
      return s;
    case 'conv': {
      const reach = L.size - 2 * L.pad;
      if (s.h < reach || s.w < reach) throw bad(token, `needs an input of at least ${reach}×${reach} pixels, and gets ${shapeText(s)} (channels×rows×cols)`, n);
      const oh = Math.floor((s.h + 2 * L.pad - L.size) / L.stride) + 1;
      const ow = Math.floor((s.w + 2 * L.pad - L.size) / L.stride) + 1;
      return { c: L.out, h: oh, w: ow };
    }
    case 'maxpool': {
      if (s.h < L.size || s.w < L.size) throw bad(token, `needs an input of at least ${L.size}×${L.size} pixels, and gets ${shapeText(s)} (channels×rows×cols): it would leave 0×0`, n);
      return { c: s.c, h: Math.floor((s.h - L.size) / L.stride) + 1, w: Math.floor((s.w - L.size) / L.stride) + 1 };
    }
  }
}
