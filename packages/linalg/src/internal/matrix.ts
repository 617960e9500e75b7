/**
 * A dense row-major matrix of float64 values: element (i, j) lives at `data[i * cols + j]`.
 * The numerical core works on this plain structure; the public API converts from and to tensors.
 */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** The transpose, as a new matrix (blocked so both sides stay in cache). */
export function transposeMatrix(a: Matrix): Matrix {
  const { rows, cols, data } = a;
  const out = new Float64Array(rows * cols);
  const block = 32;
  for (let i0 = 0; i0 < rows; i0 += block) {
    const i1 = Math.min(i0 + block, rows);
    for (let j0 = 0; j0 < cols; j0 += block) {
      const j1 = Math.min(j0 + block, cols);
      for (let i = i0; i < i1; i++) {
        const rowOffset = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = data[rowOffset + j] as number;
      }
    }
  }
  return { rows: cols, cols: rows, data: out };
}

/**
 * C = A · B for row-major A (m × k) and B (k × n). The i-k-j loop order streams rows of B and C, and
 * four rows of A are processed together so each loaded row of B is used four times.
 */
export function multiplyMatrices(a: Matrix, b: Matrix): Matrix {
  const m = a.rows;
  const inner = a.cols;
  const n = b.cols;
  const out = new Float64Array(m * n);
  const aData = a.data;
  const bData = b.data;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const c0 = i * n;
    const c1 = c0 + n;
    const c2 = c1 + n;
    const c3 = c2 + n;
    const a0 = i * inner;
    const a1 = a0 + inner;
    const a2 = a1 + inner;
    const a3 = a2 + inner;
    for (let k = 0; k < inner; k++) {
      const x0 = aData[a0 + k] as number;
      const x1 = aData[a1 + k] as number;
      const x2 = aData[a2 + k] as number;
      const x3 = aData[a3 + k] as number;
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const bOffset = k * n;
      for (let j = 0; j < n; j++) {
        const y = bData[bOffset + j] as number;
        out[c0 + j] = (out[c0 + j] as number) + x0 * y;
        out[c1 + j] = (out[c1 + j] as number) + x1 * y;
        out[c2 + j] = (out[c2 + j] as number) + x2 * y;
        out[c3 + j] = (out[c3 + j] as number) + x3 * y;
      }
    }
  }
  for (; i < m; i++) {
    const c0 = i * n;
    const a0 = i * inner;
    for (let k = 0; k < inner; k++) {
      const x0 = aData[a0 + k] as number;
      if (x0 === 0) continue;
      const bOffset = k * n;
      for (let j = 0; j < n; j++) out[c0 + j] = (out[c0 + j] as number) + x0 * (bData[bOffset + j] as number);
    }
  }
  return { rows: m, cols: n, data: out };
}

/** The Frobenius norm ‖A‖_F = sqrt(Σ a_ij²), accumulated with scaling so it cannot overflow. */
export function frobeniusNormOf(values: ArrayLike<number>): number {
  let scale = 0;
  let sumOfSquares = 1;
  for (let i = 0; i < values.length; i++) {
    const value = Math.abs(values[i] as number);
    if (value === 0) continue;
    if (scale < value) {
      const ratio = scale / value;
      sumOfSquares = 1 + sumOfSquares * ratio * ratio;
      scale = value;
    } else {
      const ratio = value / scale;
      sumOfSquares += ratio * ratio;
    }
  }
  return scale * Math.sqrt(sumOfSquares);
}

/**
 * The indices of `values` in descending order of value, ties in index order (a stable insertion sort: the
 * lengths here are ranks, and a plain loop is fast from its first call, where `sort()` with a comparator runs
 * slowly until V8 has optimised both).
 */
export function descendingOrder(values: Float64Array): Int32Array {
  const order = new Int32Array(values.length);
  for (let i = 0; i < order.length; i++) {
    let j = i;
    for (; j > 0 && (values[order[j - 1] as number] as number) < (values[i] as number); j--) {
      order[j] = order[j - 1] as number;
    }
    order[j] = i;
  }
  return order;
}
