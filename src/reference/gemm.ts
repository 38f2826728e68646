// Float64 reference twins of the WebAssembly GEMMs: plain triple loops, row-major, no blocking.
// They are the oracle for tests; `absSum` also returns Σ|a·b| per element, the scale of float32 rounding error.

/** C[m,n] (=|+=) A[m,k] · B[k,n] */
export function gemmNN(m: number, n: number, k: number, a: ArrayLike<number>, b: ArrayLike<number>,
  c: Float64Array, accumulate = false): Float64Array {
  return gemmStrided(m, n, k, a, k, 1, b, n, 1, c, accumulate);
}

/** C[m,n] (=|+=) A[m,k] · B[n,k]ᵀ */
export function gemmNT(m: number, n: number, k: number, a: ArrayLike<number>, b: ArrayLike<number>,
  c: Float64Array, accumulate = false): Float64Array {
  return gemmStrided(m, n, k, a, k, 1, b, 1, k, c, accumulate);
}

/** C[m,n] (=|+=) A[k,m]ᵀ · B[k,n] */
export function gemmTN(m: number, n: number, k: number, a: ArrayLike<number>, b: ArrayLike<number>,
  c: Float64Array, accumulate = false): Float64Array {
  return gemmStrided(m, n, k, a, 1, m, b, n, 1, c, accumulate);
}

export type Layout = 'nn' | 'nt' | 'tn';

/** The reference for a layout by name. */
export const gemmRef: Record<Layout, typeof gemmNN> = { nn: gemmNN, nt: gemmNT, tn: gemmTN };

/**
 * Σ_p |op(A)[i,p]·op(B)[p,j]| (+ |C0| when accumulating) for every element: a float32 sum of these terms in
 * any order is within about (k+1)·2⁻²⁴ of this magnitude from the exact value.
 */
export function gemmAbsSum(layout: Layout, m: number, n: number, k: number, a: ArrayLike<number>,
  b: ArrayLike<number>, c0?: ArrayLike<number>): Float64Array {
  const abs = (x: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, Math.abs);
  const out = c0 ? abs(c0) : new Float64Array(m * n);
  return gemmRef[layout](m, n, k, abs(a), abs(b), out, true);
}

// C[m,n] (=|+=) op(A)[m,k] · op(B)[k,n], with op(A)[i,p] = a[i·ai + p·ap] and op(B)[p,j] = b[p·bp + j·bj].
function gemmStrided(m: number, n: number, k: number, a: ArrayLike<number>, ai: number, ap: number,
  b: ArrayLike<number>, bp: number, bj: number, c: Float64Array, accumulate: boolean): Float64Array {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = accumulate ? c[i * n + j] : 0;
      for (let p = 0; p < k; p++) s += a[i * ai + p * ap] * b[p * bp + j * bj];
      c[i * n + j] = s;
    }
  }
  return c;
}
