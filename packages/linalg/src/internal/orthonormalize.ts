import type { Matrix } from "./matrix.js";
import { householderQrOfColumns } from "./qr-core.js";

/**
 * Orthonormal rows spanning the rows of `vectors` (count × length, count ≤ length): the Q of a Householder
 * QR of vectorsᵀ, returned as Qᵀ. This is torch.linalg.qr(X).Q for X = vectorsᵀ, signs included.
 */
export function orthonormalRows(vectors: Matrix): Matrix {
  return householderQrOfColumns(vectors).qt;
}
