// GEMM dispatch for the engine's users: `gemm.nn(m, n, k, a, b, c, accumulate)` and friends (the kernels'
// arguments, without the workspace), whatever the number of threads. (The model splits its training step
// itself, in three phases: see src/model/mlp.ts.)
// Single thread: the exports themselves, with one workspace. Pooled: a GEMM of at least MIN_PARALLEL
// multiply-adds is cut into blocks of rows or columns of C, one per thread (the caller takes block 0), each
// computed in place by the `_ld` kernel with its own workspace. The kernels' K blocking depends on k alone,
// so every element of C gets the same bits whatever the split: results are identical for any thread count.
import type { Kernels } from './kernels.js';
import { MAX_CHUNKS, OpList, type Pool } from './pool.js';

/** C[m,n] (=|+=) op(A)·op(B); addresses in linear memory, layouts as in src/wasm/kernels.ts. */
export type GemmFn = (m: number, n: number, k: number, a: number, b: number, c: number, accumulate: boolean) => void;

export interface Gemm {
  /** C[m,n] (=|+=) A[m,k] · B[k,n] */
  nn: GemmFn;
  /** C[m,n] (=|+=) A[m,k] · B[n,k]ᵀ */
  nt: GemmFn;
  /** C[m,n] (=|+=) A[k,m]ᵀ · B[k,n] */
  tn: GemmFn;
  /** nn skipping zeros of A */
  nnSparse: GemmFn;
  /** tn skipping zeros of A */
  tnSparse: GemmFn;
}

/** Below this many multiply-adds a GEMM runs on the calling thread alone (the hand-off would not pay). */
export const MIN_PARALLEL = 1 << 16;

export function singleGemm(k: Kernels, ws: number): Gemm {
  return {
    nn: (m, n, kk, a, b, c, acc) => k.gemm_nn(m, n, kk, a, b, c, acc, ws),
    nt: (m, n, kk, a, b, c, acc) => k.gemm_nt(m, n, kk, a, b, c, acc, ws),
    tn: (m, n, kk, a, b, c, acc) => k.gemm_tn(m, n, kk, a, b, c, acc, ws),
    nnSparse: (m, n, kk, a, b, c, acc) => k.gemm_nn_sparse(m, n, kk, a, b, c, acc, ws),
    tnSparse: (m, n, kk, a, b, c, acc) => k.gemm_tn_sparse(m, n, kk, a, b, c, acc, ws),
  };
}

type LdKernel = 'gemm_nn_ld' | 'gemm_nt_ld' | 'gemm_tn_ld' | 'gemm_nn_sparse_ld' | 'gemm_tn_sparse_ld';

interface Layout {
  kernel: LdKernel;
  /** A is stored [k, m] (tn) rather than [m, k]. */
  transA: boolean;
  /** B is stored [n, k] (nt) rather than [k, n]. */
  transB: boolean;
  /** The sparse kernels build per-row term lists: they split over rows only. */
  rowsOnly: boolean;
}

const layouts: Record<keyof Gemm, Layout> = {
  nn: { kernel: 'gemm_nn_ld', transA: false, transB: false, rowsOnly: false },
  nt: { kernel: 'gemm_nt_ld', transA: false, transB: true, rowsOnly: false },
  tn: { kernel: 'gemm_tn_ld', transA: true, transB: false, rowsOnly: false },
  nnSparse: { kernel: 'gemm_nn_sparse_ld', transA: false, transB: false, rowsOnly: true },
  tnSparse: { kernel: 'gemm_tn_sparse_ld', transA: true, transB: false, rowsOnly: true },
};

/**
 * Where a split of `size` rows (or columns) into up to `threads` blocks cuts, in multiples of `align`
 * (whole micro-tiles) where possible: cuts[t]..cuts[t+1] is thread t's block; fewer blocks when small.
 */
export function splitPoints(size: number, threads: number, align: number): number[] {
  const units = Math.ceil(size / align);
  const parts = Math.max(1, Math.min(threads, units));
  const cuts = [0];
  for (let t = 1; t < parts; t++) cuts.push(Math.min(size, Math.round((units * t) / parts) * align));
  cuts.push(size);
  return cuts;
}

/** Most chunks a job is split into on `threads` threads (and so the workspaces a pooled Gemm needs): one
 *  per thread, chunk t normally running on thread t with workspace t. */
export const chunksFor = (threads: number): number => Math.min(threads, MAX_CHUNKS);

/** ws: one workspace per chunk, chunksFor(pool.threads) of them. */
export function pooledGemm(k: Kernels, pool: Pool, ws: number[]): Gemm {
  const single = singleGemm(k, ws[0]);
  const ops = Array.from({ length: ws.length }, () => new OpList());
  const make = (name: keyof Gemm): GemmFn => {
    const { kernel, transA, transB, rowsOnly } = layouts[name];
    return (m, n, kk, a, b, c, acc) => {
      if (m * n * kk < MIN_PARALLEL || !pool.active) return single[name](m, n, kk, a, b, c, acc);
      const lda = transA ? m : kk;
      const ldb = transB ? kk : n;
      // Blocks of rows when there are enough: in a training step the rows of C are rows of the batch, so each
      // thread keeps working on the same rows (in its own cache) from GEMM to GEMM and in the row-wise
      // kernels between them, which split the same way. Blocks of columns (8 wide) otherwise.
      const byRows = rowsOnly || m >= n || m >= 16 * pool.threads;
      const cuts = splitPoints(byRows ? m : n, chunksFor(pool.threads), byRows ? 1 : 8);
      const chunks = cuts.length - 1;
      if (chunks < 2) return single[name](m, n, kk, a, b, c, acc);
      // Chunk t: rows or columns [lo, hi) of C, addresses moved to the block's start; a workspace per chunk.
      for (let t = 0; t < chunks; t++) {
        const lo = cuts[t];
        const len = cuts[t + 1] - lo;
        const block = byRows
          ? [len, n, kk, a + 4 * (transA ? lo : lo * lda), lda, b, ldb, c + 4 * lo * n, n]
          : [m, len, kk, a, lda, b + 4 * (transB ? lo * ldb : lo), ldb, c + 4 * lo, n];
        pool.chunk(t, ops[t].clear().push(kernel, ...block, acc ? 1 : 0, ws[t]));
      }
      pool.run(chunks);
    };
  };
  return { nn: make('nn'), nt: make('nt'), tn: make('tn'), nnSparse: make('nnSparse'), tnSparse: make('tnSparse') };
}
