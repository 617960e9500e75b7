import type { Tensor } from "@peftjs/tensor";
import { readMatrix, rowsAsColumns, toMatrix, toTensor } from "./convert.js";
import { householderQr } from "./internal/qr-core.js";

/** The reduced QR factors of an m × n matrix, k = min(m, n). */
export interface QrResult {
  /** Q, m × k, with orthonormal columns. */
  readonly q: Tensor;
  /** R, k × n, upper triangular (upper trapezoidal when n > m). */
  readonly r: Tensor;
}

/**
 * Reduced Householder QR, A = Q·R, computed in float64 and returned as float32.
 *
 * Sign convention: that of LAPACK `geqrf` + `orgqr`, hence of `torch.linalg.qr(A, mode="reduced")` and
 * `numpy.linalg.qr`: no sign normalisation. Each reflector maps its column x onto β·e₁ with
 * β = −sign(x₁)·‖x‖ (sign(0) = +), so R[j][j] is negative when the pivot entry is positive, and the
 * reflector is skipped (R[j][j] = x₁, of either sign) when x is already zero below the pivot. OLoRA's
 * B₀ = Q[:, :r], A₀ = R[:r] therefore reproduce PEFT's factors, not just their product.
 *
 * @param a A 2-D float32 tensor of shape [m, n].
 * @throws LinalgShapeError / NonFiniteInputError for invalid input.
 */
export function qr(a: Tensor): QrResult {
  const input = readMatrix("qr", a);
  const { qt, r } = householderQr(toMatrix(input));
  return { q: rowsAsColumns(qt), r: toTensor(r.data, [r.rows, r.cols]) };
}
