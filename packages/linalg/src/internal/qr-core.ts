import { applyReflectorLeft, applyReflectorsToRows, makeReflector, type Reflector } from "./householder.js";
import type { Matrix } from "./matrix.js";

/** The reduced QR factors in float64, with Q stored transposed (rows of `qt` are the columns of Q). */
export interface QrFactors {
  /** Qᵀ, k × m with k = min(m, n): its rows are orthonormal. */
  readonly qt: Matrix;
  /** R, k × n, upper triangular (upper trapezoidal when n > m). */
  readonly r: Matrix;
}

/**
 * Reduced Householder QR (LAPACK geqrf + orgqr semantics): A = Q·R with Q m × k, R k × n, k = min(m, n).
 * No sign normalisation: R[j][j] = β_j = −sign(α_j)·‖x_j‖, as LAPACK and torch.linalg.qr produce.
 */
export function householderQr(a: Matrix): QrFactors {
  const { rows: m, cols: n } = a;
  const k = Math.min(m, n);
  const work = new Float64Array(a.data);
  const reflectors: Reflector[] = [];
  const scratch = new Float64Array(n);
  const column = new Float64Array(m);
  for (let j = 0; j < k; j++) {
    const length = m - j;
    const values = column.subarray(0, length);
    for (let i = 0; i < length; i++) values[i] = work[(j + i) * n + j] as number;
    const reflector = makeReflector(values);
    reflectors.push(reflector);
    work[j * n + j] = reflector.beta;
    for (let i = 1; i < length; i++) work[(j + i) * n + j] = 0;
    applyReflectorLeft(work, n, reflector, j, j + 1, scratch);
  }
  const r = new Float64Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < n; j++) r[i * n + j] = work[i * n + j] as number;
  }
  return { qt: formTransposedQ(reflectors, m, k), r: { rows: k, cols: n, data: r } };
}

/**
 * Qᵀ = [I_k 0]·H_{k−1}···H_0 (each H symmetric), built by applying the reflectors from the right to the rows
 * of [I_k 0] in reverse order. Rows r < j are still unit vectors with zeros where H_j acts, so they are skipped.
 */
export function formTransposedQ(reflectors: readonly Reflector[], m: number, k: number): Matrix {
  const data = new Float64Array(k * m);
  for (let r = 0; r < k; r++) data[r * m + r] = 1;
  applyReflectorsToRows(data, k, m, reflectors, 0);
  return { rows: k, cols: m, data };
}
