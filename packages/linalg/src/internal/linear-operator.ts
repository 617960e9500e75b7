import type { Matrix } from "./matrix.js";

/**
 * A matrix A (rows × cols) seen only through products with sets of vectors. Vector sets are row-major
 * matrices whose rows are the vectors, so every kernel below streams contiguous rows.
 */
export interface LinearOperator {
  readonly rows: number;
  readonly cols: number;
  /** Rows of the result are A·x for each row x of `vectors` (count × cols → count × rows). */
  apply(vectors: Matrix): Matrix;
  /** Rows of the result are Aᵀ·y for each row y of `vectors` (count × rows → count × cols). */
  applyTransposed(vectors: Matrix): Matrix;
}

/** The operator of a dense row-major matrix held in a float32 or float64 array. */
export function denseOperator(rows: number, cols: number, data: Float32Array | Float64Array): LinearOperator {
  return {
    rows,
    cols,
    apply: (vectors) => multiplyRowsByVectors(data, rows, cols, vectors),
    applyTransposed: (vectors) => multiplyVectorsByRows(data, rows, cols, vectors),
  };
}

/** The operator of Aᵀ, sharing A's products with the roles swapped. */
export function transposedOperator(operator: LinearOperator): LinearOperator {
  return {
    rows: operator.cols,
    cols: operator.rows,
    apply: (vectors) => operator.applyTransposed(vectors),
    applyTransposed: (vectors) => operator.apply(vectors),
  };
}

/**
 * out[r][i] = A[i,:]·x_r: each row of A (in cache) is dotted with four vectors at a time so one load of
 * A[i,k] feeds four multiply-adds.
 */
function multiplyRowsByVectors(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  vectors: Matrix,
): Matrix {
  const count = vectors.rows;
  const x = vectors.data;
  const out = new Float64Array(count * rows);
  for (let i = 0; i < rows; i++) {
    const rowOffset = i * cols;
    let r = 0;
    for (; r + 3 < count; r += 4) {
      const x0 = r * cols;
      const x1 = x0 + cols;
      const x2 = x1 + cols;
      const x3 = x2 + cols;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < cols; k++) {
        const value = a[rowOffset + k] as number;
        s0 += value * (x[x0 + k] as number);
        s1 += value * (x[x1 + k] as number);
        s2 += value * (x[x2 + k] as number);
        s3 += value * (x[x3 + k] as number);
      }
      out[r * rows + i] = s0;
      out[(r + 1) * rows + i] = s1;
      out[(r + 2) * rows + i] = s2;
      out[(r + 3) * rows + i] = s3;
    }
    for (; r < count; r++) {
      const x0 = r * cols;
      let s0 = 0;
      for (let k = 0; k < cols; k++) s0 += (a[rowOffset + k] as number) * (x[x0 + k] as number);
      out[r * rows + i] = s0;
    }
  }
  return { rows: count, cols: rows, data: out };
}

/**
 * out[r][:] = Σ_i y_r[i]·A[i,:] (the rows of Yᵀ·A): for each row of A, four output rows are updated with
 * one pass, so A is read once in total.
 */
function multiplyVectorsByRows(
  a: Float32Array | Float64Array,
  rows: number,
  cols: number,
  vectors: Matrix,
): Matrix {
  const count = vectors.rows;
  const y = vectors.data;
  const out = new Float64Array(count * cols);
  for (let i = 0; i < rows; i++) {
    const rowOffset = i * cols;
    let r = 0;
    for (; r + 3 < count; r += 4) {
      const c0 = y[r * rows + i] as number;
      const c1 = y[(r + 1) * rows + i] as number;
      const c2 = y[(r + 2) * rows + i] as number;
      const c3 = y[(r + 3) * rows + i] as number;
      const o0 = r * cols;
      const o1 = o0 + cols;
      const o2 = o1 + cols;
      const o3 = o2 + cols;
      for (let k = 0; k < cols; k++) {
        const value = a[rowOffset + k] as number;
        out[o0 + k] = (out[o0 + k] as number) + c0 * value;
        out[o1 + k] = (out[o1 + k] as number) + c1 * value;
        out[o2 + k] = (out[o2 + k] as number) + c2 * value;
        out[o3 + k] = (out[o3 + k] as number) + c3 * value;
      }
    }
    for (; r < count; r++) {
      const c0 = y[r * rows + i] as number;
      if (c0 === 0) continue;
      const o0 = r * cols;
      for (let k = 0; k < cols; k++)
        out[o0 + k] = (out[o0 + k] as number) + c0 * (a[rowOffset + k] as number);
    }
  }
  return { rows: count, cols, data: out };
}

/**
 * Where the large products A·X and Aᵀ·X run: `"float64"` in this package's float64 kernels (the most
 * accurate), `"backend"` through @peftjs/tensor's `matmul` on the active backend in float32 (the wasm SIMD
 * GEMM: much faster on large matrices), `"auto"` = `"backend"` unless the active backend is the plain `js` one.
 */
export type ProductMode = "auto" | "float64" | "backend";
