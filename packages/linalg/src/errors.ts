import { PeftjsError } from "@peftjs/io";

/** An input matrix has the wrong rank or an empty axis, e.g. `svd: expected a 2-D matrix, got shape [3]`. */
export class LinalgShapeError extends PeftjsError {
  constructor(message: string) {
    super("linalg_shape", message);
  }
}

/** An input holds NaN or ±Infinity; the message names the first offending row and column. */
export class NonFiniteInputError extends PeftjsError {
  /** Row of the first non-finite element. */
  readonly row: number;
  /** Column of the first non-finite element. */
  readonly column: number;

  constructor(operation: string, shape: readonly number[], row: number, column: number, value: number) {
    super(
      "linalg_non_finite",
      `${operation}: input of shape [${shape.join(", ")}] holds ${value} at row ${row}, column ${column}`,
    );
    this.row = row;
    this.column = column;
  }
}

/** A size, count or option is out of range, e.g. `svdTopK: k = 20 exceeds min(m, n) = 16`. */
export class LinalgArgumentError extends PeftjsError {
  constructor(message: string) {
    super("linalg_argument", message);
  }
}

/** An iteration that always converges in exact arithmetic did not (a defect worth reporting). */
export class ConvergenceError extends PeftjsError {
  constructor(message: string) {
    super("linalg_convergence", message);
  }
}
