import type { Tensor } from "@peftjs/tensor";
import { readMatrix, toMatrix } from "./convert.js";
import { LinalgShapeError } from "./errors.js";
import { frobeniusNormOf, type Matrix, multiplyMatrices, transposeMatrix } from "./internal/matrix.js";
import { orthonormalRows } from "./internal/orthonormalize.js";
import { thinSvd } from "./internal/svd-core.js";

/**
 * max |(XᵀX − I)_ij| for the columns of X (or |(XXᵀ − I)_ij| for its rows with `along: "rows"`), in float64:
 * how far a factor such as U or Q (columns) or Vᵀ (rows) is from orthonormal.
 */
export function orthonormalityError(x: Tensor, along: "columns" | "rows" = "columns"): number {
  const matrix = toMatrix(readMatrix("orthonormalityError", x));
  const vectors = along === "columns" ? transposeMatrix(matrix) : matrix;
  const gram = multiplyMatrices(vectors, transposeMatrix(vectors));
  let worst = 0;
  for (let i = 0; i < gram.rows; i++) {
    for (let j = 0; j < gram.cols; j++) {
      worst = Math.max(worst, Math.abs((gram.data[i * gram.cols + j] as number) - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

/**
 * ‖A − U·diag(S)·Vᵀ‖_F / ‖A‖_F in float64, with U [m, k], S [k] and Vᵀ [k, n] (pass `v` transposed for
 * svdLowRank's V). Returns the absolute error when A = 0.
 */
export function reconstructionError(a: Tensor, u: Tensor, s: Tensor, vt: Tensor): number {
  const target = toMatrix(readMatrix("reconstructionError", a));
  const left = toMatrix(readMatrix("reconstructionError", u));
  const right = toMatrix(readMatrix("reconstructionError", vt));
  const values = s.toFloat32Array();
  const k = values.length;
  if (left.rows !== target.rows || left.cols !== k || right.rows !== k || right.cols !== target.cols) {
    throw new LinalgShapeError(
      `reconstructionError: A [${target.rows}, ${target.cols}] does not match U [${left.rows}, ${left.cols}], ` +
        `S [${k}], Vᵀ [${right.rows}, ${right.cols}]`,
    );
  }
  const scaled: Matrix = { rows: left.rows, cols: k, data: new Float64Array(left.data) };
  for (let i = 0; i < left.rows; i++) {
    for (let j = 0; j < k; j++)
      scaled.data[i * k + j] = (scaled.data[i * k + j] as number) * (values[j] as number);
  }
  const product = multiplyMatrices(scaled, right);
  const difference = new Float64Array(target.data.length);
  for (let i = 0; i < difference.length; i++)
    difference[i] = (target.data[i] as number) - (product.data[i] as number);
  const norm = frobeniusNormOf(target.data);
  const error = frobeniusNormOf(difference);
  return norm > 0 ? error / norm : error;
}

/**
 * Principal angles (radians, largest first, as scipy.linalg.subspace_angles) between the column spaces of
 * X [m, p] and Y [m, q], min(p, q) of them. Both are orthonormalised by QR first. Small angles are taken
 * from the sines (singular values of Y_o − X_o·X_oᵀ·Y_o) and large ones from the cosines (of X_oᵀ·Y_o), so
 * both ends are accurate (Knyazev & Argentati 2002).
 */
export function subspaceAngles(x: Tensor, y: Tensor): Float64Array {
  const first = toMatrix(readMatrix("subspaceAngles", x));
  const second = toMatrix(readMatrix("subspaceAngles", y));
  if (first.rows !== second.rows) {
    throw new LinalgShapeError(
      `subspaceAngles: X [${first.rows}, ${first.cols}] and Y [${second.rows}, ${second.cols}] need the same row count`,
    );
  }
  // Work with the wider basis as X so the sines below measure the narrower one leaving span(X).
  const [narrow, wide] = first.cols <= second.cols ? [first, second] : [second, first];
  const wideRows = orthonormalRows(transposeMatrix(wide));
  const narrowRows = orthonormalRows(transposeMatrix(narrow));
  const count = narrowRows.rows;
  const cosineMatrix = multiplyMatrices(narrowRows, transposeMatrix(wideRows));
  const cosines = thinSvd(cosineMatrix).s;
  const residual: Matrix = {
    rows: count,
    cols: narrowRows.cols,
    data: new Float64Array(narrowRows.data),
  };
  const projection = multiplyMatrices(cosineMatrix, wideRows);
  for (let i = 0; i < residual.data.length; i++)
    residual.data[i] = (residual.data[i] as number) - (projection.data[i] as number);
  const sines = thinSvd(residual).s;
  const angles = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    // Both lists descend: the i-th largest sine belongs with the i-th smallest cosine.
    const sine = Math.min(1, sines[i] as number);
    const cosine = Math.min(1, cosines[count - 1 - i] as number);
    angles[i] = Math.atan2(sine, cosine);
  }
  return angles;
}
