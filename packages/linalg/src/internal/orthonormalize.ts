import { type Matrix, transposeMatrix } from "./matrix.js";
import { householderQr } from "./qr-core.js";

/**
 * Orthonormal rows spanning the rows of `vectors` (count × length, count ≤ length): the Q of a Householder
 * QR of vectorsᵀ, returned as Qᵀ. This is torch.linalg.qr(X).Q for X = vectorsᵀ, signs included.
 */
export function orthonormalRows(vectors: Matrix): Matrix {
  return householderQr(transposeMatrix(vectors)).qt;
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
 * Orthonormal rows spanning the part of `vectors` orthogonal to the orthonormal rows of `basis`
 * (block classical Gram–Schmidt applied twice, "twice is enough", then QR). Rows that vanish in the
 * projection (the Krylov space is exhausted) are replaced by rows of `fallback()` and the step repeated,
 * so the result always has `vectors.rows` orthonormal rows orthogonal to `basis`.
 */
export function orthonormalizeAgainst(
  vectors: Matrix,
  basis: Matrix,
  fallback: (count: number) => Matrix,
): Matrix {
  let current: Matrix = { rows: vectors.rows, cols: vectors.cols, data: new Float64Array(vectors.data) };
  for (let attempt = 0; attempt < 4; attempt++) {
    const before = rowNorms(current);
    projectOut(current, basis);
    projectOut(current, basis);
    const after = rowNorms(current);
    const replacement = fallback(current.rows);
    let replaced = false;
    for (let r = 0; r < current.rows; r++) {
      // A row that lost all but ~1e-10 of its norm carries no reliable new direction.
      if (!((after[r] as number) > 1e-10 * (before[r] as number)) || (after[r] as number) === 0) {
        current.data.set(
          replacement.data.subarray(r * current.cols, (r + 1) * current.cols),
          r * current.cols,
        );
        replaced = true;
      }
    }
    if (replaced) continue;
    const orthonormal = orthonormalRows(current);
    projectOut(orthonormal, basis);
    const norms = rowNorms(orthonormal);
    if (norms.every((norm) => norm > 0.5)) {
      current = orthonormalRows(orthonormal);
      return current;
    }
    current = orthonormal;
  }
  return orthonormalRows(current);
}
