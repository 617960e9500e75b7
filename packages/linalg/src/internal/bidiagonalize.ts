import { accumulateReflectors, type HeapReflectors } from "./heap-reflectors.js";
import { makeReflector } from "./householder.js";
import type { SvdKernels } from "./svd-kernels.js";

/** Where {@link bidiagonalize} finds its input and leaves Uᵀ and Vᵀ: heap indices of row-major matrices. */
export interface BidiagonalLayout {
  /** The m × n input, overwritten. */
  readonly work: number;
  /** Uᵀ, n × m, on return. */
  readonly ut: number;
  /** Vᵀ, n × n, on return. */
  readonly vt: number;
  /** n scratch values. */
  readonly scratch: number;
  /** Room for the reflector vectors: {@link bidiagonalReflectorElements} values. */
  readonly reflectors: number;
}

/** Heap values the reflector vectors of an m × n bidiagonalisation take: Σ_j (m − j) + Σ_{j<n−2} (n − 1 − j). */
export function bidiagonalReflectorElements(m: number, n: number): number {
  const right = Math.max(0, n - 2);
  return n * m - (n * (n - 1)) / 2 + right * (n - 1) - (right * (right - 1)) / 2;
}

/**
 * Householder bidiagonalisation A = U·B·Vᵀ of the m × n (m ≥ n) matrix at `layout.work` (Golub–Kahan):
 * left reflector j zeroes column j below the diagonal, right reflector j zeroes row j right of the
 * superdiagonal. Returns B's diagonal and superdiagonal and leaves Uᵀ (n × m) and Vᵀ (n × n) on the heap.
 */
export function bidiagonalize(
  kernels: SvdKernels,
  m: number,
  n: number,
  layout: BidiagonalLayout,
): { diagonal: Float64Array; superDiagonal: Float64Array } {
  const { heap } = kernels;
  const { work, scratch: w } = layout;
  const diagonal = new Float64Array(n);
  const superDiagonal = new Float64Array(n);
  const left: HeapReflectors = { starts: new Int32Array(n), taus: new Float64Array(n) };
  const right: HeapReflectors = { starts: new Int32Array(n), taus: new Float64Array(n) };
  let cursor = layout.reflectors;
  const column = new Float64Array(m);
  for (let j = 0; j < n; j++) {
    // Left reflector: zero column j below the diagonal.
    const length = m - j;
    const columnValues = column.subarray(0, length);
    for (let i = 0; i < length; i++) columnValues[i] = heap[work + (j + i) * n + j] as number;
    const leftReflector = makeReflector(columnValues);
    const leftVector = leftReflector.vector;
    const leftTau = leftReflector.tau;
    heap.set(leftVector, cursor);
    left.starts[j] = cursor;
    left.taus[j] = leftTau;
    cursor += length;
    diagonal[j] = leftReflector.beta;
    const start = j + 1;
    const width = n - start;
    if (width === 0) break;
    // w = vᵀ·A[j:, j+1:], two rows per pass over w; then row j −= τ·w (v[0] = 1).
    heap.fill(0, w, w + width);
    if (leftTau !== 0) {
      let i = 0;
      for (; i + 1 < length; i += 2) {
        const row = work + (j + i) * n + start;
        kernels.accumulatePair(w, row, row + n, leftVector[i] as number, leftVector[i + 1] as number, width);
      }
      if (i < length) kernels.accumulateRow(w, work + (j + i) * n + start, leftVector[i] as number, width);
      kernels.subtractScaled(work + j * n + start, w, leftTau, width);
    }
    let rightTau = 0;
    let rightVector = -1;
    if (j < n - 2) {
      // Right reflector: zero row j right of the superdiagonal.
      const rightReflector = makeReflector(heap.slice(work + j * n + start, work + j * n + n));
      heap.set(rightReflector.vector, cursor);
      right.starts[j] = cursor;
      right.taus[j] = rightReflector.tau;
      rightVector = cursor;
      rightTau = rightReflector.tau;
      cursor += width;
      superDiagonal[j] = rightReflector.beta;
    } else {
      superDiagonal[j] = heap[work + j * n + start] as number;
    }
    // One pass over rows j+1..m−1: finish the left update, then apply the right reflector to the same row.
    for (let i = j + 1; i < m; i++) {
      const row = work + i * n + start;
      const factor = leftTau * (leftVector[i - j] as number);
      if (rightTau === 0) {
        if (factor !== 0) kernels.subtractScaled(row, w, factor, width);
      } else {
        kernels.updateAndReflect(row, w, factor, rightVector, rightTau, width);
      }
    }
  }
  // Uᵀ = [I_n 0]·H_{n−1}···H_0 and Vᵀ = G_{n−3}···G_0 restricted to rows/columns 1…n−1.
  for (let r = 0; r < n; r++) heap[layout.ut + r * m + r] = 1;
  accumulateReflectors(kernels, layout.ut, n, m, left, n, 0);
  for (let r = 0; r < n; r++) heap[layout.vt + r * n + r] = 1;
  accumulateReflectors(kernels, layout.vt, n, n, right, Math.max(0, n - 2), 1);
  return { diagonal, superDiagonal };
}
