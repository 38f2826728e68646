// The convolution kernels (assembly/conv.ts) against their float64 twins (src/reference/conv.ts) over a
// covering set of shapes, in every build, within per-element rounding bounds; then their bit-level contract (the
// kernels never build the im2col matrix, but their sums are its GEMMs'): forward = im2col + gemm_nn_ld (= the
// sparse GEMM) + bias_relu_forward whatever the zeros hint (none, blank rows, zeros anywhere) or the split of rows over calls; the weight gradient =
// gemm_tn_ld over im2col whatever the split of its rows and the zero-skipping hints; the input gradient =
// gemm_nt_ld + col2im (f32, in order) + the mask whatever the split of rows and the hint. Every output and the workspace (sized by
// conv2d_ws_bytes) have guard bytes after them that must stay untouched.
import { describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { Rng } from '../src/rng.js';
import {
  col2im, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeometry, convWords, im2col, patchSize,
  type ConvGeometry,
} from '../src/reference/conv.js';
import { f32 as roundF32, reluBackward } from '../src/reference/kernels.js';
import { firstBitDiff, putF32, putI32, randomF32 } from './helpers.js';

const allBuilds: Build[] = ['debug', 'release', 'relaxed'];
const U = 2 ** -24;
const GUARD = 64;
const GUARD_BYTE = 0xa5;

/** [H, W, C, CO, k, stride, pad, batch]: k 1, 2, 3, 5; stride 1–3; pad 0–2 (< k); channels 1, 3, 5, 7, 16 in
 *  and out; 5×7 and 28×28 images and odd others (1×1, 2×9, 9×2, 13×13); batch 1 and 33 (and 2–7); the B5
 *  and B6 layers. Each value meets several others; not the whole product. */
const cases: [number, number, number, number, number, number, number, number][] = [
  [5, 7, 1, 1, 1, 1, 0, 1], [5, 7, 3, 5, 1, 2, 0, 33], [5, 7, 1, 3, 2, 1, 0, 1], [5, 7, 3, 7, 2, 1, 1, 33],
  [5, 7, 5, 3, 2, 2, 1, 2], [5, 7, 7, 16, 3, 1, 1, 1], [5, 7, 16, 5, 3, 2, 2, 33], [5, 7, 1, 7, 3, 3, 0, 33],
  [5, 7, 3, 1, 3, 3, 2, 1], [5, 7, 5, 16, 5, 1, 2, 1], [5, 7, 7, 3, 5, 2, 1, 33], [5, 7, 16, 1, 5, 3, 2, 4],
  [5, 7, 1, 5, 5, 1, 0, 33],
  [28, 28, 1, 6, 5, 1, 0, 33], [12, 12, 6, 16, 5, 1, 0, 33], [28, 28, 1, 32, 3, 1, 0, 1], [13, 13, 32, 64, 3, 1, 0, 2],
  [28, 28, 3, 5, 3, 2, 1, 33], [28, 28, 16, 7, 3, 1, 1, 2], [28, 28, 5, 3, 1, 1, 0, 33], [28, 28, 7, 16, 2, 2, 0, 1],
  [28, 28, 1, 1, 5, 3, 2, 33], [28, 28, 16, 16, 5, 2, 2, 1], [28, 28, 3, 1, 2, 3, 1, 33], [28, 28, 1, 16, 3, 3, 1, 4],
  [1, 1, 3, 5, 1, 1, 0, 33], [1, 1, 7, 3, 3, 1, 1, 2], [2, 9, 5, 7, 3, 1, 2, 3], [9, 2, 16, 3, 2, 1, 1, 1],
  [6, 6, 7, 7, 5, 3, 1, 33], [11, 4, 3, 16, 2, 2, 1, 33], [4, 11, 16, 1, 1, 3, 0, 5], [7, 5, 5, 5, 5, 2, 0, 1],
  [13, 13, 1, 3, 5, 2, 2, 33], [13, 13, 16, 5, 2, 1, 0, 2], [3, 3, 7, 1, 3, 1, 0, 33], [3, 3, 1, 16, 2, 1, 1, 1],
  [10, 10, 3, 3, 3, 1, 2, 7], [17, 5, 5, 1, 3, 2, 0, 1], [8, 8, 7, 5, 1, 1, 0, 2],
];

/** γ(n) = n·u/(1 − n·u): a float32 sum of n terms is within γ(n)·Σ|terms| of the exact value (Higham §3.1). */
const gamma = (n: number) => (n * U) / (1 - n * U);

/** Every |got − ref| ≤ γ(terms)·abs (abs: the same sum over |terms|), naming the first element outside. */
function expectWithin(got: ArrayLike<number>, ref: ArrayLike<number>, abs: ArrayLike<number>, terms: number, what: string): void {
  expect(got.length, what).toBe(ref.length);
  const g = gamma(terms);
  for (let i = 0; i < ref.length; i++) {
    const bound = g * abs[i] + 1e-30;
    if (!(Math.abs(got[i] - ref[i]) <= bound)) expect.fail(`${what}[${i}] = ${got[i]}, reference ${ref[i]}, bound ${bound}`);
  }
}

/** An array with `zeros` of its elements set to 0 (an image's blank pixels). */
function withZeros(a: Float32Array, zeros: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  for (let i = 0; i < a.length; i++) if (rng.nextFloat() < zeros) a[i] = 0;
  return a;
}

/** Memory for one kernel call: regions followed by guard bytes, checked afterwards. */
class Arena {
  private guards: number[] = [];
  constructor(readonly eng: Engine) {}
  /** `floats` f32 (filled with `data`, else NaN: an output must not be read before it is written) + a guard. */
  f32(floats: number, data?: ArrayLike<number>): number {
    const p = this.eng.alloc(floats * 4 + GUARD);
    const view = this.eng.f32(p, floats);
    if (data) view.set(data);
    else view.fill(NaN);
    this.guard(p + floats * 4);
    return p;
  }
  bytes(n: number): number {
    const p = this.eng.alloc(n + GUARD);
    this.guard(p + n);
    return p;
  }
  private guard(p: number): void {
    this.eng.u8(p, GUARD).fill(GUARD_BYTE);
    this.guards.push(p);
  }
  expectGuardsIntact(): void {
    for (const p of this.guards) expect(this.eng.u8(p, GUARD).every((b) => b === GUARD_BYTE), `guard at ${p}`).toBe(true);
  }
}

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  /** The previous layer's ReLU output, laid out as x (half zeros). */
  mask: Float32Array;
}

/** Random inputs; `zeros` of x and `dyZeros` of dy set to 0 (blank pixels, a max pool's gradient). */
function inputs(g: ConvGeometry, rows: number, seed: number, zeros = 0, dyZeros = 0): Inputs {
  const xs = rows * g.h * g.w * g.c;
  return {
    x: withZeros(randomF32(xs, seed), zeros, seed + 5),
    w: randomF32(patchSize(g) * g.co, seed + 1),
    b: randomF32(g.co, seed + 2),
    dy: withZeros(randomF32(rows * g.oh * g.ow * g.co, seed + 3), dyZeros, seed + 6),
    mask: randomF32(xs, seed + 4).map((v) => Math.max(v, 0)),
  };
}

/** A batch's inputs, its im2col matrix (the twin's) and its sizes. */
function batch(g: ConvGeometry, rows: number, seed: number, zeros: number, dyZeros = 0) {
  const inp = inputs(g, rows, seed, zeros, dyZeros);
  const K = patchSize(g);
  const M = rows * g.oh * g.ow;
  const colData = new Float32Array(M * K);
  im2col(g, rows, inp.x, colData);
  return { inp, K, M, colData };
}

/** The kernels' results for one batch: y, dx, dw. */
interface Outputs {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

interface RunOptions {
  relu: boolean;
  /** x mostly zeros (the first layer on images): the forward skips blank patch rows, the weight gradient blank patches. */
  sparse: boolean;
  /** The forward's zeros hint (0 none, 1 blank rows, 2 zeros anywhere); default: 1 when sparse, else 0. */
  zeros?: number;
  /** The backward passes skip zeros of dy (the weight gradient from dy's lists, where they pay, built per row block). */
  sparseDy?: boolean;
  useMask: boolean;
  /** Row splits [k0, k1) of the weight gradient, one call each. */
  kSplits?: [number, number][];
  /** Rows per forward and input-gradient call (the host splitting its batch), each call on its own slice. */
  rowSplit?: number;
}

function runConv(eng: Engine, g: ConvGeometry, rows: number, inp: Inputs, o: RunOptions): Outputs {
  const a = new Arena(eng);
  const K = patchSize(g);
  const M = rows * g.oh * g.ow;
  const gp = putI32(eng, convWords(g));
  const wsBytes = eng.k.conv2d_ws_bytes(gp);
  expect(wsBytes).toBeGreaterThan(0);
  const ws = a.bytes(wsBytes);
  const x = a.f32(inp.x.length, inp.x);
  const w = a.f32(inp.w.length, inp.w);
  const b = a.f32(inp.b.length, inp.b);
  const dy = a.f32(inp.dy.length, inp.dy);
  const mask = o.useMask ? a.f32(inp.mask.length, inp.mask) : 0;
  const y = a.f32(M * g.co);
  const dx = a.f32(inp.x.length);
  const [xs, ys] = [g.h * g.w * g.c * 4, g.oh * g.ow * g.co * 4]; // bytes per sample
  const step = o.rowSplit ?? rows;
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r = Math.min(step, rows - r0);
    eng.k.conv2d_forward(gp, r, x + r0 * xs, w, b, y + r0 * ys, o.relu, o.zeros ?? (o.sparse ? 1 : 0), ws);
    eng.k.conv2d_backward_input(gp, r, dy + r0 * ys, w, dx + r0 * xs, mask && mask + r0 * xs, o.sparseDy ?? false, ws);
  }
  const listBytes = o.sparseDy ? eng.k.conv2d_dy_lists_bytes(gp, rows, o.sparse) : 0;
  const lists = listBytes ? a.bytes(listBytes) : 0;
  if (lists) {
    // Listed block by block, last block first: the lists may be built in any order, by any split.
    for (let r0 = Math.floor((rows - 1) / step) * step; r0 >= 0; r0 -= step) {
      eng.k.conv2d_dy_lists(gp, Math.min(step, rows - r0), x + r0 * xs, dy + r0 * ys, o.sparse, lists, rows, r0, ws);
    }
  }
  const dw = a.f32(K * g.co);
  for (const [k0, k1] of o.kSplits ?? [[0, K]]) eng.k.conv2d_backward_weight(gp, rows, x, dy, dw, k0, k1, o.sparse, lists, ws);
  a.expectGuardsIntact();
  // Inputs are read, never written.
  for (const [p, data] of [[x, inp.x], [w, inp.w], [b, inp.b], [dy, inp.dy]] as const) {
    expect(firstBitDiff(eng.f32(p, data.length), data)).toBe(-1);
  }
  return { y: eng.f32(y, M * g.co).slice(), dx: eng.f32(dx, inp.x.length).slice(), dw: eng.f32(dw, K * g.co).slice() };
}

/** The forward's contract from the GEMM kernels themselves: im2col, gemm_nn_ld, bias_relu_forward (checked to equal
 *  gemm_nn_sparse_ld, which skips the zeros). */
function forwardContract(eng: Engine, g: ConvGeometry, inp: Inputs, K: number, M: number, colData: Float32Array, relu: boolean): Float32Array {
  const expected: Float32Array[] = [];
  for (const gemm of ['gemm_nn_ld', 'gemm_nn_sparse_ld'] as const) {
    const a = new Arena(eng);
    const col = a.f32(M * K, colData);
    const w = a.f32(inp.w.length, inp.w);
    const b = a.f32(inp.b.length, inp.b);
    const y = a.f32(M * g.co);
    const ws = a.bytes(eng.k.gemm_ws_bytes(M, g.co, K));
    eng.k[gemm](M, g.co, K, col, K, w, g.co, y, g.co, false, ws);
    eng.k.bias_relu_forward(y, 0, b, M, g.co, relu);
    a.expectGuardsIntact();
    expected.push(eng.f32(y, M * g.co).slice());
  }
  expect(firstBitDiff(expected[0], expected[1]), 'dense = sparse GEMM').toBe(-1);
  return expected[0];
}

/** Float64 references and their absolute-value twins (the scale of each element's rounding error). */
function references(g: ConvGeometry, rows: number, inp: Inputs, relu: boolean, useMask: boolean) {
  const abs = (v: Float32Array) => Float64Array.from(v, Math.abs);
  const M = rows * g.oh * g.ow;
  const y = new Float64Array(M * g.co);
  const yAbs = new Float64Array(M * g.co);
  conv2dForward(g, rows, inp.x, inp.w, inp.b, y, relu);
  conv2dForward(g, rows, abs(inp.x), abs(inp.w), abs(inp.b), yAbs, false);
  const dx = new Float64Array(inp.x.length);
  const dxAbs = new Float64Array(inp.x.length);
  conv2dBackwardInput(g, rows, inp.dy, inp.w, dx, useMask ? inp.mask : null);
  conv2dBackwardInput(g, rows, abs(inp.dy), abs(inp.w), dxAbs, null);
  const dw = new Float64Array(patchSize(g) * g.co);
  const dwAbs = new Float64Array(dw.length);
  conv2dBackwardWeight(g, rows, inp.x, inp.dy, dw);
  conv2dBackwardWeight(g, rows, abs(inp.x), abs(inp.dy), dwAbs);
  return { y, yAbs, dx, dxAbs, dw, dwAbs };
}

// References are computed once per case and shared by the builds.
const refCache = new Map<number, { inp: Inputs; ref: ReturnType<typeof references> }>();
function caseData(i: number) {
  let d = refCache.get(i);
  if (!d) {
    const [h, w, c, co, k, s, p, rows] = cases[i];
    const g = convGeometry(h, w, c, co, k, s, p);
    // Every third case is sparse (80% zero inputs, as MNIST's 81%), run with the sparse hint; of the others, one in
    // two has a gradient 75% zeros (a max pool's), run with the sparseDy hint, the other x half zeros (a ReLU and
    // pool's output), run with the forward's scattered-zeros hint.
    const inp = inputs(g, rows, 1000 + 31 * i, [0.8, 0, 0.5][i % 3], i % 3 === 1 ? 0.75 : 0);
    d = { inp, ref: references(g, rows, inp, i % 2 === 0, i % 4 < 2) };
    refCache.set(i, d);
  }
  return d;
}

for (const build of allBuilds) {
  describe(`conv kernels vs float64 twins (${build})`, () => {
    it.each(cases.map((c, i) => [i, ...c] as const))(
      'case %i: %i×%i×%i → %i, k=%i s=%i p=%i, batch %i',
      async (i, h, w, c, co, k, s, p, rows) => {
        const eng = await Engine.load(build);
        const g = convGeometry(h, w, c, co, k, s, p);
        const { inp, ref } = caseData(i);
        const relu = i % 2 === 0;
        const useMask = i % 4 < 2;
        // The batch in one call, or split into calls of 1, 2 or 5 samples.
        const rowSplit = [rows, 1, 2, 5][i % 4];
        const K = patchSize(g);
        const out = runConv(eng, g, rows, inp, { relu, sparse: i % 3 === 0, zeros: i % 3 === 2 ? 2 : undefined, sparseDy: i % 3 === 1, rowSplit, useMask });
        expectWithin(out.y, ref.y, ref.yAbs, K + 2, 'y');
        expectWithin(out.dx, ref.dx, ref.dxAbs, g.co + g.k * g.k, 'dx');
        expectWithin(out.dw, ref.dw, ref.dwAbs, rows * g.oh * g.ow + 1, 'dw');
        // Not vacuous: the outputs are not all zero, and the ReLU and the mask zeroed some.
        expect(out.y.some((v) => v !== 0) && out.dw.some((v) => v !== 0)).toBe(true);
        if (relu) expect(out.y.some((v) => v === 0)).toBe(true);
        if (useMask) {
          const masked = out.dx.filter((_, j) => !(inp.mask[j] > 0));
          expect(masked.length).toBeGreaterThan(0);
          expect(masked.every((v) => Object.is(v, 0)), 'dx = +0 where mask ≤ 0').toBe(true);
        }
      },
    );
  });

  describe(`conv kernels: bits (${build})`, () => {
    // (geometry, batch, zero fraction of x): MNIST-like B5 conv1, strided and padded odd channels, even k with pad,
    // CO = 9 (a partial 8-channel block), B5 conv2, B6 conv1 (sparse, four blocks), B6 conv2 (K = 288: the GEMMs
    // sum it in two K blocks through C), and one padded input channel to 5 outputs on rows of 13 pixels.
    const exact: [ConvGeometry, number, number][] = [
      [convGeometry(28, 28, 1, 6, 5, 1, 0), 5, 0.8],
      [convGeometry(9, 7, 3, 5, 3, 2, 1), 4, 0.5],
      [convGeometry(6, 5, 7, 16, 2, 1, 1), 3, 0],
      [convGeometry(13, 13, 16, 9, 3, 1, 0), 3, 0.3],
      [convGeometry(12, 12, 6, 16, 5, 1, 0), 3, 0.5],
      [convGeometry(28, 28, 1, 32, 3, 1, 0), 3, 0.8],
      [convGeometry(13, 13, 32, 64, 3, 1, 0), 2, 0.5],
      [convGeometry(11, 13, 1, 5, 3, 1, 1), 3, 0.6], // one channel, 13 wide: pixel-lane tiles overlapping, padded
    ];

    it.each(exact.map((e, i) => [i, ...e] as const))(
      'case %i: forward = im2col, gemm_nn_ld or gemm_nn_sparse_ld, bias_relu_forward, whatever the zeros hint and row split',
      async (i, g, rows, zeros) => {
        const eng = await Engine.load(build);
        const { inp, K, M, colData } = batch(g, rows, 77 + i, zeros);
        for (const relu of [false, true]) {
          const expected = forwardContract(eng, g, inp, K, M, colData, relu);
          for (const hint of [0, 1, 2]) {
            // The host splitting its batch: one call, or calls of 1 or 2 samples.
            for (const rowSplit of [rows, 1, 2]) {
              const out = runConv(eng, g, rows, inp, { relu, sparse: false, zeros: hint, rowSplit, useMask: false });
              expect(firstBitDiff(out.y, expected), `relu=${relu} zeros=${hint} rowSplit=${rowSplit}`).toBe(-1);
            }
          }
        }
      },
    );

    // The forward skipping zeros anywhere (a ReLU and max pool's output): B5 and B6 conv2, strided and padded odd
    // channels (CO not a multiple of 4: w packed), even k with pad, CO = 9 and 1, rows of one output pixel (a pair of
    // the same pixel), more than MR vectors of channels (strips), one input channel; x 0% (the tiled path runs below
    // half zeros), 70% and 100% zeros.
    const scattered: [ConvGeometry, number][] = [
      [convGeometry(12, 12, 6, 16, 5, 1, 0), 3],
      [convGeometry(13, 13, 32, 64, 3, 1, 0), 2],
      [convGeometry(9, 7, 3, 5, 3, 2, 1), 4],
      [convGeometry(6, 5, 7, 16, 2, 1, 1), 3],
      [convGeometry(13, 13, 16, 9, 3, 1, 0), 3],
      [convGeometry(7, 3, 5, 1, 3, 1, 0), 5],
      [convGeometry(5, 9, 4, 28, 5, 2, 2), 2],
      [convGeometry(11, 13, 1, 5, 3, 1, 1), 3],
      [convGeometry(8, 8, 12, 44, 3, 3, 1), 2],
    ];
    it.each(scattered.flatMap((e, i) => [0, 0.7, 1].map((zeros) => [i, zeros, ...e] as const)))(
      'case %i, %f zeros: forward skipping zeros anywhere = im2col, gemm_nn_ld, bias_relu_forward, whatever the row split',
      async (i, zeros, g, rows) => {
        const eng = await Engine.load(build);
        const { inp, K, M, colData } = batch(g, rows, 300 + i, zeros);
        for (const relu of [false, true]) {
          const expected = forwardContract(eng, g, inp, K, M, colData, relu);
          // Not vacuous: the bias (x all zeros) or sums of nonzero terms.
          if (!relu) expect(expected.some((v) => v !== 0)).toBe(true);
          for (const rowSplit of [rows, 1, 2]) {
            const out = runConv(eng, g, rows, inp, { relu, sparse: false, zeros: 2, rowSplit, useMask: false });
            expect(firstBitDiff(out.y, expected), `relu=${relu} rowSplit=${rowSplit}`).toBe(-1);
          }
        }
      },
    );

    it.each(exact.map((e, i) => [i, ...e] as const))(
      'case %i: weight gradient = gemm_tn_ld (lda = K), whatever the split of its rows and the hints',
      async (i, g, rows, zeros) => {
        const eng = await Engine.load(build);
        const { inp, K, M, colData } = batch(g, rows, 91 + i, zeros, i % 2 ? 0.75 : 0);
        const a = new Arena(eng);
        const col = a.f32(M * K, colData);
        const dy = a.f32(inp.dy.length, inp.dy);
        const dw = a.f32(K * g.co);
        eng.k.gemm_tn_ld(K, g.co, M, col, K, dy, g.co, dw, g.co, false, a.bytes(eng.k.gemm_ws_bytes(K, g.co, M)));
        a.expectGuardsIntact();
        const want = eng.f32(dw, K * g.co).slice();
        const third = Math.max(1, Math.floor(K / 3));
        const splits: [number, number][][] = [
          [[0, K]],
          [[0, third], [third, K]],
          [[K - 1, K], [third, K - 1], [0, third], [2, 2]], // out of order, with an empty range
          Array.from({ length: K }, (_, k): [number, number] => [k, k + 1]),
        ];
        for (const [sparse, sparseDy] of [[false, false], [true, false], [false, true], [true, true]]) {
          for (const kSplits of splits) {
            // (dy's lists built in blocks of 2 rows, or 1 with a split)
            const out = runConv(eng, g, rows, inp, { relu: true, sparse, sparseDy, useMask: false, kSplits, rowSplit: kSplits.length > 1 ? 1 : 2 });
            expect(firstBitDiff(out.dw, want), `sparse=${sparse} sparseDy=${sparseDy} splits ${JSON.stringify(kSplits.slice(0, 4))}`).toBe(-1);
          }
        }
        // The lists are used where they pay: padded images never, narrow patch rows only on sparse images.
        const gp = putI32(eng, convWords(g));
        const kC = g.k * g.c;
        for (const sparse of [false, true]) {
          const pays = g.pad === 0 && (kC >= 8 || (sparse && kC >= 4));
          expect(eng.k.conv2d_dy_lists_bytes(gp, rows, sparse) > 0, `sparse=${sparse}`).toBe(pays);
        }
      },
    );

    it.each(exact.map((e, i) => [i, ...e] as const))(
      'case %i: input gradient = gemm_nt_ld then col2im in order (f32) then the mask, whatever the row split and hint',
      async (i, g, rows) => {
        const eng = await Engine.load(build);
        const inp = inputs(g, rows, 57 + i, 0, i % 2 ? 0 : 0.75);
        const K = patchSize(g);
        const M = rows * g.oh * g.ow;
        const a = new Arena(eng);
        const dy = a.f32(inp.dy.length, inp.dy);
        const w = a.f32(inp.w.length, inp.w);
        const dcol = a.f32(M * K);
        eng.k.gemm_nt_ld(M, K, g.co, dy, g.co, w, g.co, dcol, K, false, a.bytes(eng.k.gemm_ws_bytes(M, K, g.co)));
        a.expectGuardsIntact();
        const unmasked = new Float32Array(inp.x.length);
        col2im(g, rows, eng.f32(dcol, M * K), unmasked, roundF32);
        const masked = unmasked.slice();
        reluBackward(masked, inp.mask, masked.length);
        for (const useMask of [false, true]) {
          for (const sparseDy of [false, true]) {
            for (const rowSplit of [rows, 1, 2]) {
              const out = runConv(eng, g, rows, inp, { relu: false, sparse: false, sparseDy, rowSplit, useMask });
              expect(firstBitDiff(out.dx, useMask ? masked : unmasked), `mask=${useMask} sparseDy=${sparseDy} rowSplit=${rowSplit}`).toBe(-1);
            }
          }
        }
      },
    );

    it('conv2d_ws_bytes is the same in every build (the host plans memory before it picks one)', async () => {
      const eng = await Engine.load(build);
      const release = await Engine.load('release');
      for (const [h, w, c, co, k, s, p] of cases) {
        const words = convWords(convGeometry(h, w, c, co, k, s, p));
        expect(eng.k.conv2d_ws_bytes(putI32(eng, words))).toBe(release.k.conv2d_ws_bytes(putI32(release, words)));
      }
    });
  });
}

describe('conv kernels: debug-build argument checks', () => {
  it('abort on inconsistent geometry, a bad weight-row range, rows < 1 or an unknown zeros hint', async () => {
    const eng = await Engine.load('debug');
    const g = convGeometry(6, 6, 2, 3, 3, 1, 1);
    const inp = inputs(g, 2, 5);
    const K = patchSize(g);
    const x = putF32(eng, inp.x);
    const w = putF32(eng, inp.w);
    const b = putF32(eng, inp.b);
    const y = eng.alloc(2 * 36 * 3 * 4);
    const dw = eng.alloc(K * 3 * 4);
    const good = putI32(eng, convWords(g));
    const ws = eng.alloc(eng.k.conv2d_ws_bytes(good));
    eng.k.conv2d_forward(good, 2, x, w, b, y, true, 0, ws); // the valid call runs
    const bad = (words: number[]) => putI32(eng, words);
    const words = convWords(g);
    const wrongOH = bad(words.map((v, i) => (i === 7 ? v + 1 : v)));
    const padTooLarge = bad([6, 6, 2, 3, 3, 1, 3, 10, 10]);
    expect(() => eng.k.conv2d_forward(wrongOH, 2, x, w, b, y, true, 0, ws)).toThrow(/aborted/);
    expect(() => eng.k.conv2d_forward(padTooLarge, 2, x, w, b, y, true, 2, ws)).toThrow(/aborted/);
    expect(() => eng.k.conv2d_forward(good, 0, x, w, b, y, true, 0, ws)).toThrow(/aborted/);
    expect(() => eng.k.conv2d_forward(good, 2, x, w, b, y, true, 3, ws)).toThrow(/aborted/); // no such zeros hint
    expect(() => eng.k.conv2d_backward_weight(good, 2, x, y, dw, 0, K + 1, false, ws)).toThrow(/aborted/);
    expect(() => eng.k.conv2d_backward_weight(good, 2, x, y, dw, 3, 2, false, ws)).toThrow(/aborted/);
    expect(() => eng.k.conv2d_ws_bytes(wrongOH)).toThrow(/aborted/);
  });
});
