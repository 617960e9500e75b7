import { AdapterShapeError } from "../errors.js";

/**
 * A dense row-major float32 matrix: the form adapter factors and weight deltas take in this package
 * (lora_A is [r, in], lora_B is [out, r], a Linear weight is [out, in]). Treated as immutable: every function
 * here returns a new matrix.
 */
export interface Matrix {
  /** Number of rows. */
  readonly rows: number;
  /** Number of columns. */
  readonly columns: number;
  /** `rows * columns` values, row-major. */
  readonly data: Float32Array;
}

/** A matrix over `data` (not copied); throws when the length is not rows × columns. */
export function matrix(rows: number, columns: number, data: Float32Array | ArrayLike<number>): Matrix {
  if (data.length !== rows * columns) {
    throw new AdapterShapeError(
      `a ${rows}×${columns} matrix needs ${rows * columns} values, got ${data.length}`,
    );
  }
  return { rows, columns, data: data instanceof Float32Array ? data : Float32Array.from(data) };
}

/** An all-zero matrix. */
export function zeroMatrix(rows: number, columns: number): Matrix {
  return { rows, columns, data: new Float32Array(rows * columns) };
}

function assertSameShape(a: Matrix, b: Matrix, what: string): void {
  if (a.rows !== b.rows || a.columns !== b.columns) {
    throw new AdapterShapeError(
      `${what}: shapes [${a.rows}, ${a.columns}] and [${b.rows}, ${b.columns}] differ`,
    );
  }
}

/**
 * a · b, accumulated in float64 and rounded once to float32. Each entry is a dot product over k in ascending
 * order, starting from 0 and skipping zero factors of `a` (so a zero never multiplies an infinity of `b`): the
 * columns of `b` are copied once into contiguous float64 rows so that the inner loop reads both operands in
 * sequence and keeps the sum in a register (adapter products have a short inner dimension, the rank).
 */
export function multiply(a: Matrix, b: Matrix): Matrix {
  if (a.columns !== b.rows) {
    throw new AdapterShapeError(`cannot multiply [${a.rows}, ${a.columns}] by [${b.rows}, ${b.columns}]`);
  }
  const inner = a.columns;
  const columns = b.columns;
  const result = new Float32Array(a.rows * columns);
  const bColumns = new Float64Array(columns * inner);
  for (let k = 0; k < inner; k++) {
    const offset = k * columns;
    for (let j = 0; j < columns; j++) bColumns[j * inner + k] = b.data[offset + j] as number;
  }
  const aRow = new Float64Array(inner);
  for (let i = 0; i < a.rows; i++) {
    let hasZero = false;
    for (let k = 0; k < inner; k++) {
      const factor = a.data[i * inner + k] as number;
      aRow[k] = factor;
      if (factor === 0) hasZero = true;
    }
    const rowOffset = i * columns;
    for (let j = 0; j < columns; j++) {
      const offset = j * inner;
      let sum = 0;
      if (hasZero) {
        for (let k = 0; k < inner; k++) {
          const factor = aRow[k] as number;
          if (factor !== 0) sum += factor * (bColumns[offset + k] as number);
        }
      } else {
        for (let k = 0; k < inner; k++) sum += (aRow[k] as number) * (bColumns[offset + k] as number);
      }
      result[rowOffset + j] = sum;
    }
  }
  return { rows: a.rows, columns, data: result };
}

/** The transpose. */
export function transpose(a: Matrix): Matrix {
  const result = new Float32Array(a.data.length);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < a.columns; j++) result[j * a.rows + i] = a.data[i * a.columns + j] as number;
  }
  return { rows: a.columns, columns: a.rows, data: result };
}

/** factor · a. */
export function scale(a: Matrix, factor: number): Matrix {
  const result = new Float32Array(a.data.length);
  for (let i = 0; i < result.length; i++) result[i] = (a.data[i] as number) * factor;
  return { rows: a.rows, columns: a.columns, data: result };
}

/** a + factor · b (elementwise, computed in float64, rounded once). */
export function addScaled(a: Matrix, b: Matrix, factor = 1): Matrix {
  assertSameShape(a, b, "addScaled");
  const result = new Float32Array(a.data.length);
  for (let i = 0; i < result.length; i++) result[i] = (a.data[i] as number) + factor * (b.data[i] as number);
  return { rows: a.rows, columns: a.columns, data: result };
}

/** Stacks matrices vertically (all must have the same number of columns). */
export function concatRows(parts: readonly Matrix[]): Matrix {
  const first = parts[0];
  if (first === undefined) throw new AdapterShapeError("concatRows needs at least one matrix");
  const rows = parts.reduce((sum, part) => {
    if (part.columns !== first.columns) {
      throw new AdapterShapeError(`concatRows: ${part.columns} columns where ${first.columns} were expected`);
    }
    return sum + part.rows;
  }, 0);
  const result = new Float32Array(rows * first.columns);
  let offset = 0;
  for (const part of parts) {
    result.set(part.data, offset);
    offset += part.data.length;
  }
  return { rows, columns: first.columns, data: result };
}

/** Places matrices side by side (all must have the same number of rows). */
export function concatColumns(parts: readonly Matrix[]): Matrix {
  return transpose(concatRows(parts.map(transpose)));
}

/** Rows [start, start + count). */
export function sliceRows(a: Matrix, start: number, count: number): Matrix {
  if (start < 0 || count < 0 || start + count > a.rows) {
    throw new AdapterShapeError(`rows [${start}, ${start + count}) are outside a ${a.rows}-row matrix`);
  }
  return {
    rows: count,
    columns: a.columns,
    data: a.data.slice(start * a.columns, (start + count) * a.columns),
  };
}

/** Columns [start, start + count). */
export function sliceColumns(a: Matrix, start: number, count: number): Matrix {
  return transpose(sliceRows(transpose(a), start, count));
}

/** Multiplies row i by `factors[i]`. */
export function scaleRows(a: Matrix, factors: ArrayLike<number>): Matrix {
  const { rows, columns, data } = a;
  const result = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) {
    const factor = factors[i] as number;
    for (let j = i * columns, end = j + columns; j < end; j++) result[j] = (data[j] as number) * factor;
  }
  return { rows, columns, data: result };
}

/** Multiplies column j by `factors[j]`. */
export function scaleColumns(a: Matrix, factors: ArrayLike<number>): Matrix {
  const { rows, columns, data } = a;
  const result = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) {
    const row = i * columns;
    for (let j = 0; j < columns; j++) result[row + j] = (data[row + j] as number) * (factors[j] as number);
  }
  return { rows, columns, data: result };
}

/** Frobenius norm ‖a‖_F, accumulated in float64. */
export function frobeniusNorm(a: Matrix): number {
  let sum = 0;
  for (const value of a.data) sum += value * value;
  return Math.sqrt(sum);
}

/** ‖a − b‖_F / ‖b‖_F (0 when both are zero). */
export function relativeError(a: Matrix, b: Matrix): number {
  assertSameShape(a, b, "relativeError");
  let difference = 0;
  let reference = 0;
  for (let i = 0; i < a.data.length; i++) {
    const delta = (a.data[i] as number) - (b.data[i] as number);
    difference += delta * delta;
    reference += (b.data[i] as number) ** 2;
  }
  if (reference === 0) return difference === 0 ? 0 : Number.POSITIVE_INFINITY;
  return Math.sqrt(difference / reference);
}

/** max |a − b| over all entries. */
export function maxAbsDifference(a: Matrix, b: Matrix): number {
  assertSameShape(a, b, "maxAbsDifference");
  let max = 0;
  for (let i = 0; i < a.data.length; i++)
    max = Math.max(max, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return max;
}

/** True when every entry is finite. */
export function isAllFinite(a: Matrix): boolean {
  for (const value of a.data) if (!Number.isFinite(value)) return false;
  return true;
}
