import type { Matrix } from "./matrix.js";
import { householderQrOfColumns } from "./qr-core.js";

/**
 * Orthonormal rows spanning the rows of `vectors` (count × length, count ≤ length): the Q of a Householder
 * QR of vectorsᵀ, returned as Qᵀ. This is torch.linalg.qr(X).Q for X = vectorsᵀ, signs included.
 */
export function orthonormalRows(vectors: Matrix): Matrix {
  return householderQrOfColumns(vectors).qt;
}

/** Removes from each row of `vectors` its components along the (orthonormal) rows of `basis`: X −= (X·Bᵀ)·B. */
export function projectOut(vectors: Matrix, basis: Matrix): void {
  const length = vectors.cols;
  const x = vectors.data;
  const b = basis.data;
  for (let r = 0; r < vectors.rows; r++) {
    const xOffset = r * length;
    for (let j = 0; j < basis.rows; j++) {
      const bOffset = j * length;
      let dot = 0;
      for (let i = 0; i < length; i++) dot += (x[xOffset + i] as number) * (b[bOffset + i] as number);
      if (dot === 0) continue;
      for (let i = 0; i < length; i++)
        x[xOffset + i] = (x[xOffset + i] as number) - dot * (b[bOffset + i] as number);
    }
  }
}

/** Euclidean norms of the rows of a matrix. */
export function rowNorms(vectors: Matrix): Float64Array {
  const norms = new Float64Array(vectors.rows);
  for (let r = 0; r < vectors.rows; r++) {
    let sum = 0;
    for (let i = 0; i < vectors.cols; i++) {
      const value = vectors.data[r * vectors.cols + i] as number;
      sum += value * value;
    }
    norms[r] = Math.sqrt(sum);
  }
  return norms;
}

/**
 * Orthonormal rows spanning the part of `vectors` orthogonal to the orthonormal rows of `basis`: block
 * classical Gram–Schmidt applied twice ("twice is enough"), then Householder QR. When a direction vanishes
 * (the Krylov space is exhausted, |R_jj| ≤ 1e-10 of the row's original norm) that row is replaced by a row
 * of `fallback(count)` and the step repeated, so the result always has `vectors.rows` orthonormal rows
 * orthogonal to `basis`.
 */
export function orthonormalizeAgainst(
  vectors: Matrix,
  basis: Matrix,
  fallback: (count: number) => Matrix,
): Matrix {
  const current: Matrix = { rows: vectors.rows, cols: vectors.cols, data: new Float64Array(vectors.data) };
  for (let attempt = 0; ; attempt++) {
    const before = rowNorms(current);
    projectOut(current, basis);
    projectOut(current, basis);
    const { qt, r } = householderQrOfColumns(current);
    const largest = Math.max(...before);
    const vanished: number[] = [];
    for (let j = 0; j < current.rows; j++) {
      if (!(Math.abs(r.data[j * r.cols + j] as number) > 1e-10 * largest)) vanished.push(j);
    }
    if (vanished.length === 0 || attempt === 3) return qt;
    const replacement = fallback(current.rows);
    for (const j of vanished) {
      current.data.set(replacement.data.subarray(j * current.cols, (j + 1) * current.cols), j * current.cols);
    }
  }
}
