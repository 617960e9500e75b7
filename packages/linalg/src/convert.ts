import { type Tensor, tensor } from "@peftjs/tensor";
import { LinalgShapeError, NonFiniteInputError } from "./errors.js";
import type { Matrix } from "./internal/matrix.js";

/** A validated 2-D input: its shape and a float32 copy of its elements (row-major). */
export interface MatrixInput {
  readonly rows: number;
  readonly cols: number;
  readonly values: Float32Array;
}

/**
 * Checks that `a` is a non-empty 2-D tensor and returns its shape, without reading its elements.
 * @throws LinalgShapeError for another rank or an empty axis.
 */
export function readShape(operation: string, a: Tensor): { readonly rows: number; readonly cols: number } {
  if (a.rank !== 2) {
    throw new LinalgShapeError(`${operation}: expected a 2-D matrix, got shape [${a.shape.join(", ")}]`);
  }
  const rows = a.shape[0] as number;
  const cols = a.shape[1] as number;
  if (rows === 0 || cols === 0) {
    throw new LinalgShapeError(`${operation}: the matrix of shape [${rows}, ${cols}] is empty`);
  }
  return { rows, cols };
}

/**
 * Checks that `a` is a non-empty 2-D tensor with finite elements and reads it back.
 * @throws LinalgShapeError for another rank or an empty axis.
 * @throws NonFiniteInputError naming the first NaN/±Infinity by row and column.
 */
export function readMatrix(operation: string, a: Tensor): MatrixInput {
  const { rows, cols } = readShape(operation, a);
  const values = a.toFloat32Array();
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    // value − value is NaN exactly for NaN and ±Infinity.
    if (value - value !== 0) {
      throw new NonFiniteInputError(operation, a.shape, Math.floor(i / cols), i % cols, value);
    }
  }
  return { rows, cols, values };
}

/** A float64 copy of a validated input for the dense factorisations. */
export function toMatrix(input: MatrixInput): Matrix {
  return { rows: input.rows, cols: input.cols, data: Float64Array.from(input.values) };
}

/** A float32 tensor of the given row-major float64 values. */
export function toTensor(values: Float64Array, shape: readonly number[]): Tensor {
  return tensor(Float32Array.from(values), shape);
}

/** A float32 tensor [cols, rows] of a matrix given as rows, i.e. the matrix whose columns are those rows. */
export function rowsAsColumns(rowsMatrix: Matrix): Tensor {
  const { rows, cols, data } = rowsMatrix;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c] as number;
  }
  return tensor(out, [cols, rows]);
}
