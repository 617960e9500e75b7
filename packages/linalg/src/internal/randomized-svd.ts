import type { GaussianSource } from "./gaussian.js";
import { type LinearOperator, transposedOperator } from "./linear-operator.js";
import { multiplyMatrices, transposeMatrix } from "./matrix.js";
import { orthonormalRows } from "./orthonormalize.js";
import { type SvdFactors, thinSvd } from "./svd-core.js";

/**
 * torch.svd_lowrank(A, q, niter) (Halko, Martinsson & Tropp 2009, Algorithms 4.4 and 5.1), step for step:
 * a wide A is transposed first; R ~ N(0, 1) of shape n × q; Q = qr(A·R).Q; `niter` times
 * Q = qr(Aᵀ·Q).Q, Q = qr(A·Q).Q; then B = Qᵀ·A, (Û, S, Vᵀ) = svd(B) and U = Q·Û (swapped back for wide A).
 * Factors are returned as rows (`ut` is Uᵀ, `vt` is Vᵀ) with k = q rows each.
 */
export function randomizedSvd(
  operator: LinearOperator,
  rank: number,
  powerIterations: number,
  gaussian: GaussianSource,
): SvdFactors {
  if (operator.rows < operator.cols) {
    const result = randomizedSvd(transposedOperator(operator), rank, powerIterations, gaussian);
    return { ut: result.vt, s: result.s, vt: result.ut };
  }
  // R is drawn as torch's randn(n, q); its columns are the test vectors, i.e. the rows of Rᵀ.
  const testVectors = transposeMatrix(gaussian(operator.cols, rank));
  let basis = orthonormalRows(operator.apply(testVectors));
  for (let iteration = 0; iteration < powerIterations; iteration++) {
    basis = orthonormalRows(operator.applyTransposed(basis));
    basis = orthonormalRows(operator.apply(basis));
  }
  // Rows of Qᵀ·A are Aᵀ·q_r: the small matrix B (q × n) whose SVD gives the factors.
  const projected = operator.applyTransposed(basis);
  const small = thinSvd(projected);
  return { ut: multiplyMatrices(small.ut, basis), s: small.s, vt: small.vt };
}
