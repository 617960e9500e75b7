import type { Tensor } from "@peftjs/tensor";
import { readMatrix, rowsAsColumns, toMatrix, toTensor } from "./convert.js";
import { thinSvd } from "./internal/svd-core.js";

/** A thin singular value decomposition A = U·diag(S)·Vᵀ of an m × n matrix, k = min(m, n). */
export interface SvdResult {
  /** U, m × k, orthonormal columns (left singular vectors). */
  readonly u: Tensor;
  /** S, length k, non-negative and descending. */
  readonly s: Tensor;
  /** Vᵀ, k × n, orthonormal rows (right singular vectors), as torch.linalg.svd's `Vh`. */
  readonly vt: Tensor;
}

/**
 * Thin SVD (`torch.linalg.svd(A, full_matrices=False)`), computed in float64: Householder
 * bidiagonalisation (after a QR step when m ≥ 1.6·n; through Aᵀ when m < n) and implicit-shift
 * Golub–Kahan QR on the bidiagonal. Singular values are accurate to float64 round-off relative to σ₁, so
 * float32 inputs lose nothing even when ill-conditioned. Singular vectors are unique only up to sign (and a
 * rotation within repeated singular values): compare products, not factors.
 *
 * @param a A 2-D float32 tensor of shape [m, n]; rank-deficient, 1 × n, n × 1 and zero matrices all work.
 * @throws LinalgShapeError / NonFiniteInputError for invalid input.
 */
export function svd(a: Tensor): SvdResult {
  const input = readMatrix("svd", a);
  const { ut, s, vt } = thinSvd(toMatrix(input));
  return { u: rowsAsColumns(ut), s: toTensor(s, [s.length]), vt: toTensor(vt.data, [vt.rows, vt.cols]) };
}
