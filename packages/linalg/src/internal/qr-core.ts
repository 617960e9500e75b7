import { accumulateReflectors, type HeapReflectors } from "./heap-reflectors.js";
import { makeReflector } from "./householder.js";
import { type Matrix, transposeMatrix } from "./matrix.js";
import { createSvdKernels, type SvdKernels } from "./svd-kernels.js";

/** The reduced QR factors in float64, with Q stored transposed (rows of `qt` are the columns of Q). */
export interface QrFactors {
  /** Qᵀ, k × m with k = min(m, n): its rows are orthonormal. */
  readonly qt: Matrix;
  /** R, k × n, upper triangular (upper trapezoidal when n > m). */
  readonly r: Matrix;
}

/** Heap layout of a QR of an m × n matrix: A (m·n), scratch w (n), reflector vectors (Σ_{j<k} m − j). */
export function qrHeapLayout(
  m: number,
  n: number,
): { work: number; w: number; vectors: number; end: number } {
  const k = Math.min(m, n);
  const work = 0;
  const w = work + m * n;
  const vectors = w + n;
  return { work, w, vectors, end: vectors + k * m - (k * (k - 1)) / 2 };
}

/**
 * Householder triangularisation of the m × n matrix at `layout.work` (LAPACK geqrf): returns R (k × n, a
 * copy) and the reflectors, left on the heap. R[j][j] = β_j = −sign(α_j)·‖x_j‖ (no sign normalisation).
 */
export function factorQr(
  kernels: SvdKernels,
  m: number,
  n: number,
  layout: ReturnType<typeof qrHeapLayout>,
): { reflectors: HeapReflectors; r: Matrix } {
  const k = Math.min(m, n);
  const { work, w } = layout;
  const heap = kernels.heap;
  const reflectors: HeapReflectors = { starts: new Int32Array(k), taus: new Float64Array(k) };
  let cursor = layout.vectors;
  const column = new Float64Array(m);
  for (let j = 0; j < k; j++) {
    const length = m - j;
    const values = column.subarray(0, length);
    for (let i = 0; i < length; i++) values[i] = heap[work + (j + i) * n + j] as number;
    const { vector, tau, beta } = makeReflector(values);
    heap.set(vector, cursor);
    reflectors.starts[j] = cursor;
    reflectors.taus[j] = tau;
    cursor += length;
    heap[work + j * n + j] = beta;
    // H·A[j:, j+1:] = A − τ·v·(vᵀ·A): w = vᵀ·A two rows per pass, then row i −= τ·v_i·w.
    const width = n - j - 1;
    if (tau === 0 || width <= 0) continue;
    heap.fill(0, w, w + width);
    const first = work + j * n + j + 1;
    let i = 0;
    for (; i + 1 < length; i += 2) {
      const row = first + i * n;
      kernels.accumulatePair(w, row, row + n, vector[i] as number, vector[i + 1] as number, width);
    }
    if (i < length) kernels.accumulateRow(w, first + i * n, vector[i] as number, width);
    for (i = 0; i < length; i++) {
      const factor = tau * (vector[i] as number);
      if (factor !== 0) kernels.subtractScaled(first + i * n, w, factor, width);
    }
  }
  const r = new Float64Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < n; j++) r[i * n + j] = heap[work + i * n + j] as number;
  }
  return { reflectors, r: { rows: k, cols: n, data: r } };
}

/**
 * Reduced Householder QR (LAPACK geqrf + orgqr semantics): A = Q·R with Q m × k, R k × n, k = min(m, n).
 * No sign normalisation: R[j][j] = β_j = −sign(α_j)·‖x_j‖, as LAPACK and torch.linalg.qr produce.
 * Runs on the SVD kernels' heap (WebAssembly SIMD where available).
 */
export function householderQr(a: Matrix): QrFactors {
  const { rows: m, cols: n } = a;
  const k = Math.min(m, n);
  const layout = qrHeapLayout(m, n);
  const qt = layout.end;
  const kernels = createSvdKernels(qt + k * m, 0);
  const heap = kernels.heap;
  heap.set(a.data, layout.work);
  const { reflectors, r } = factorQr(kernels, m, n, layout);
  // Qᵀ = [I_k 0]·H_{k−1}···H_0 (each H symmetric), as orgqr forms Q.
  for (let row = 0; row < k; row++) heap[qt + row * m + row] = 1;
  accumulateReflectors(kernels, qt, k, m, reflectors, k, 0);
  return { qt: { rows: k, cols: m, data: heap.slice(qt, qt + k * m) }, r };
}

/**
 * The same reduced Householder QR (same reflectors, R and Qᵀ up to float64 round-off) of the tall m × n
 * matrix A = columnsᵀ, given by its n columns as the rows of `columns` (n ≤ m). Suited to tall-skinny A,
 * e.g. the 4096 × 16 blocks of the randomised methods: every reflector is generated from, and applied to,
 * contiguous columns (H·a_l = a_l − τ·(v·a_l)·v, one dot product and one update of length m − j), where
 * the row-major {@link householderQr} would make m short calls per reflector and need A transposed first.
 */
export function householderQrOfColumns(columns: Matrix): QrFactors {
  const { rows: n, cols: m } = columns;
  if (n > m) return householderQr(transposeMatrix(columns));
  const work = 0;
  let cursor = n * m;
  const qt = cursor + n * m - (n * (n - 1)) / 2;
  const kernels = createSvdKernels(qt + n * m, 0);
  const heap = kernels.heap;
  heap.set(columns.data, work);
  const reflectors: HeapReflectors = { starts: new Int32Array(n), taus: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const length = m - j;
    const start = work + j * m + j;
    const { vector, tau, beta } = makeReflector(heap.subarray(start, start + length));
    heap.set(vector, cursor);
    reflectors.starts[j] = cursor;
    reflectors.taus[j] = tau;
    heap[start] = beta;
    if (tau !== 0) {
      // Columns j+1 … n−1 of A, rows j … m−1: each is reflected as a whole contiguous segment.
      let l = j + 1;
      for (; l + 1 < n; l += 2)
        kernels.reflectPair(start + (l - j) * m, start + (l + 1 - j) * m, cursor, length, tau);
      if (l < n) kernels.reflectRow(start + (l - j) * m, cursor, length, tau);
    }
    cursor += length;
  }
  // R[i][l] = (column l)[i] for i ≤ l.
  const r = new Float64Array(n * n);
  for (let l = 0; l < n; l++) {
    for (let i = 0; i <= l; i++) r[i * n + l] = heap[work + l * m + i] as number;
  }
  for (let row = 0; row < n; row++) heap[qt + row * m + row] = 1;
  accumulateReflectors(kernels, qt, n, m, reflectors, n, 0);
  return { qt: { rows: n, cols: m, data: heap.slice(qt, qt + n * m) }, r: { rows: n, cols: n, data: r } };
}
