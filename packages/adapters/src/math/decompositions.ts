import { qr, svd, svdLowRank, svdTopK } from "@peftjs/linalg";
import type { Tensor } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
import { matrixToTensor, takeMatrix } from "./host-tensor.js";
import type { Matrix } from "./matrix.js";

// Bridges between this package's float32 matrices and @peftjs/linalg's tensor decompositions (computed in
// float64 there). SVD and QR factors are unique only up to sign: compare products, not factors.

/** A (truncated) SVD a ≈ left · diag(singularValues) · rightTransposed, singular values descending. */
export interface SvdFactors {
  /** U_k, [rows, k]. */
  readonly left: Matrix;
  /** S_k, descending, non-negative. */
  readonly singularValues: Float32Array;
  /** V_kᵀ, [k, columns]. */
  readonly rightTransposed: Matrix;
}

/** A reduced QR factorisation a = q · r. */
export interface QrFactors {
  /** Q, [rows, k] with orthonormal columns, k = min(rows, columns). */
  readonly q: Matrix;
  /** R, [k, columns], upper triangular (trapezoidal when wide). */
  readonly r: Matrix;
}

function takeVector(value: Tensor): Float32Array {
  const result = value.toFloat32Array();
  value.dispose();
  return result;
}

function firstColumns(a: Matrix, count: number): Matrix {
  if (count === a.columns) return a;
  const data = new Float32Array(a.rows * count);
  for (let i = 0; i < a.rows; i++) data.set(a.data.subarray(i * a.columns, i * a.columns + count), i * count);
  return { rows: a.rows, columns: count, data };
}

/**
 * From this smaller dimension on, a top-k SVD with k ≤ dimension/8 runs block Lanczos (@peftjs/linalg's
 * `svdTopK`) instead of the dense float64 SVD: at 192 × 576 and k = 16 that is ~10× faster, and the gap grows
 * as min(m, n)² · max(m, n) against a basis of a few times k.
 */
const topKThreshold = 128;

/**
 * The top-k singular triplets of `a` (all min(rows, columns) of them when k is larger), as the leading part of
 * `torch.linalg.svd(full_matrices=False)` (PEFT's `"pissa"` and `svd` combination). Small matrices take the full
 * thin SVD; from min(rows, columns) ≥ 128 with k ≤ min(rows, columns)/8 @peftjs/linalg's `svdTopK` gives them
 * with every ‖Aᵀuᵢ − σᵢvᵢ‖ and ‖A·vᵢ − σᵢuᵢ‖ ≤ 1e-6·σ₁, measured on the returned factors; should it not get
 * there (a rank below k with float32 products, say) the dense SVD is taken instead.
 */
export function truncatedSvd(a: Matrix, k: number): SvdFactors {
  const input = matrixToTensor(a);
  try {
    return truncatedSvdOfTensor(input, k);
  } finally {
    input.dispose();
  }
}

/**
 * {@link truncatedSvd} of a 2-D float32 tensor already on the backend (not released), so that a caller that
 * needs the matrix again (PiSSA's residual) uploads it once.
 */
export function truncatedSvdOfTensor(input: Tensor, k: number): SvdFactors {
  if (!Number.isInteger(k) || k <= 0)
    throw new AdapterShapeError(`SVD rank must be a positive integer, got ${k}`);
  const columns = input.shape[1] as number;
  const smaller = Math.min(input.shape[0] as number, columns);
  if (smaller >= topKThreshold && k * 8 <= smaller) {
    // large layer, small rank: block Lanczos to 1e-6·σ₁ instead of a full SVD (falls back when it stalls)
    const result = svdTopK(input, k, { tolerance: 1e-6 });
    if (result.converged) {
      return {
        left: takeMatrix(result.u),
        singularValues: takeVector(result.s),
        rightTransposed: takeMatrix(result.vt),
      };
    }
    for (const value of [result.u, result.s, result.vt]) value.dispose();
  }
  const { u, s, vt } = svd(input);
  const left = takeMatrix(u);
  const singularValues = takeVector(s);
  const rightTransposed = takeMatrix(vt);
  const count = Math.min(k, singularValues.length);
  return {
    left: firstColumns(left, count),
    singularValues: singularValues.slice(0, count),
    rightTransposed: {
      rows: count,
      columns,
      data: rightTransposed.data.slice(0, count * columns),
    },
  };
}

/**
 * Reduced Householder QR with LAPACK's (torch.linalg.qr's) conventions: R's diagonal is −sign(α)·‖x‖ per
 * reflector, no sign normalisation (PEFT's OLoRA uses the factors as they come).
 */
export function reducedQr(a: Matrix): QrFactors {
  const input = matrixToTensor(a);
  const { q, r } = qr(input);
  input.dispose();
  return { q: takeMatrix(q), r: takeMatrix(r) };
}

/**
 * Randomized SVD with the semantics of `torch.svd_lowrank(a, q, niter)` (Halko, Martinsson & Tropp 2009), as
 * PEFT's `pissa_niter_K` calls it (q = r, no oversampling). Seeded, hence reproducible — but not torch's random
 * stream, so factors differ from PEFT's while the quality is the same.
 */
export function randomizedSvd(a: Matrix, q: number, iterations: number, seed: number): SvdFactors {
  const input = matrixToTensor(a);
  try {
    return randomizedSvdOfTensor(input, q, iterations, seed);
  } finally {
    input.dispose();
  }
}

/**
 * {@link randomizedSvd} of a 2-D float32 tensor already on the backend (not released): its products are
 * backend GEMMs on that one upload.
 */
export function randomizedSvdOfTensor(
  input: Tensor,
  q: number,
  iterations: number,
  seed: number,
): SvdFactors {
  const { u, s, v } = svdLowRank(input, q, { niter: iterations, seed });
  const right = takeMatrix(v);
  // V [n, q] → Vᵀ [q, n]
  const rightTransposed = new Float32Array(right.data.length);
  for (let i = 0; i < right.rows; i++) {
    for (let j = 0; j < right.columns; j++)
      rightTransposed[j * right.rows + i] = right.data[i * right.columns + j] as number;
  }
  return {
    left: takeMatrix(u),
    singularValues: takeVector(s),
    rightTransposed: { rows: right.columns, columns: right.rows, data: rightTransposed },
  };
}
