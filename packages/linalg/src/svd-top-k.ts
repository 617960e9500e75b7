import type { Tensor } from "@peftjs/tensor";
import { readShape, rowsAsColumns, toTensor } from "./convert.js";
import { blockLanczosTopK } from "./internal/block-lanczos.js";
import { gaussianSource } from "./internal/gaussian.js";
import { chooseKrylovSpace } from "./internal/krylov-space.js";
import type { ProductMode } from "./internal/linear-operator.js";
import { checkInteger, checkPositive, checkProductMode } from "./options.js";
import type { SvdResult } from "./svd.js";

/** Default {@link SvdTopKOptions.blockSize}. */
const defaultBlockSize = 4;
/** Basis size beyond which the iteration restarts thickly (never reached for min(m, n) ≤ 512). */
const defaultMaxBasisSize = 512;

/** Options of {@link svdTopK}. */
export interface SvdTopKOptions {
  /**
   * Convergence threshold on the relative residual: accept when ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ ≤ tolerance·σ₁ for every
   * returned triplet, measured on the returned factors (A·vᵢ = σᵢ·uᵢ holds by construction; for a wide A the
   * two swap roles). Then |σᵢ − σᵢ*| ≤ tolerance·σ₁ and the angle between the returned and the true leading
   * subspace is at most about tolerance·σ₁ / (σ_k − σ_{k+1}). Default 1e-6.
   */
  readonly tolerance?: number;
  /** Most block steps (each costs one product with Aᵀ and one with A). Default 300. */
  readonly maxIterations?: number;
  /**
   * Vectors added per step. Default 4: the fewest products and the smallest basis on flat spectra. A singular
   * value repeated more than `blockSize` times among the leading ones may be found with too small a
   * multiplicity (as with any Krylov method from a random start): raise it for such matrices.
   */
  readonly blockSize?: number;
  /** Seed of the random starting block (@peftjs/tensor's generator). Default 0. */
  readonly seed?: number;
  /**
   * Where the products with A run (see {@link ProductMode}). Default `"auto"`: the active @peftjs/tensor
   * backend's float32 `matmul` when that is wasm or gpu, float64 kernels on the plain `js` backend.
   */
  readonly products?: ProductMode;
}

/** The leading k singular triplets and how the iteration ended. */
export interface SvdTopKResult extends SvdResult {
  /** Block steps taken. */
  readonly iterations: number;
  /** Measured max ‖Aᵀ·uᵢ − σᵢ·vᵢ‖ / σ₁ of the returned triplets (0 for the zero matrix). */
  readonly residual: number;
  /** True when `residual ≤ tolerance` (or the Krylov space became the whole space, which is exact). */
  readonly converged: boolean;
}

/**
 * The k leading singular triplets A ≈ U_k·diag(S_k)·V_kᵀ to a stated tolerance, at a fraction of the cost
 * of a full SVD: block Lanczos on AᵀA or AAᵀ (the smaller) with full re-orthogonalisation, Rayleigh–Ritz on
 * its banded projection, and acceptance on the residual measured on the returned factors. The engine of
 * PiSSA on large layers. When the iteration stops at `maxIterations` (or at the round-off floor) without
 * reaching the tolerance, the best triplets so far are returned with `converged: false` and their residual.
 *
 * @param a A 2-D float32 tensor [m, n].
 * @param k Number of triplets, 1 ≤ k ≤ min(m, n).
 * @returns U [m, k], S [k] descending, Vᵀ [k, n], plus `iterations`, `residual`, `converged`.
 */
export function svdTopK(a: Tensor, k: number, options: SvdTopKOptions = {}): SvdTopKResult {
  const input = readShape("svdTopK", a);
  const smaller = Math.min(input.rows, input.cols);
  checkInteger("svdTopK", "k", k, 1, smaller);
  const tolerance = checkPositive("svdTopK", "tolerance", options.tolerance ?? 1e-6);
  const maxIterations = checkInteger("svdTopK", "maxIterations", options.maxIterations ?? 300, 1, 1e9);
  const blockSize = checkInteger("svdTopK", "blockSize", options.blockSize ?? defaultBlockSize, 1, 1e9);
  const seed = options.seed ?? 0;
  const space = chooseKrylovSpace("svdTopK", a, checkProductMode("svdTopK", options.products));
  let result: ReturnType<typeof blockLanczosTopK>;
  try {
    result = blockLanczosTopK(
      space,
      { rank: k, blockSize, maxBasisSize: defaultMaxBasisSize, tolerance, maxIterations },
      gaussianSource(seed),
    );
  } finally {
    space.dispose();
  }
  return {
    u: rowsAsColumns(result.ut),
    s: toTensor(result.s, [k]),
    vt: toTensor(result.vt.data, [k, input.cols]),
    iterations: result.iterations,
    residual: result.residual,
    converged: result.converged,
  };
}
