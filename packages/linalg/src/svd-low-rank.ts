import type { Tensor } from "@peftjs/tensor";
import { readShape, rowsAsColumns, toTensor } from "./convert.js";
import { backendRandomizedSvd } from "./internal/backend-randomized-svd.js";
import { gaussianSource } from "./internal/gaussian.js";
import { productValidation } from "./internal/krylov-space.js";
import { denseOperator, type ProductMode } from "./internal/linear-operator.js";
import { randomizedSvd } from "./internal/randomized-svd.js";
import { checkInteger, checkProductMode } from "./options.js";

/** Options of {@link svdLowRank}. */
export interface SvdLowRankOptions {
  /** Number of power (subspace) iterations, as torch's `niter`. Default 2 (torch's default). */
  readonly niter?: number;
  /** Seed of the Gaussian test matrix (@peftjs/tensor's generator). Default 0. */
  readonly seed?: number;
  /**
   * Where the products with A run (see {@link ProductMode}). Default `"auto"`: the active @peftjs/tensor
   * backend's float32 `matmul` when that is wasm or gpu (as torch computes in float32), float64 kernels on
   * the plain `js` backend.
   */
  readonly products?: ProductMode;
}

/** torch.svd_lowrank's (U, S, V): note V, not Vᵀ. */
export interface SvdLowRankResult {
  /** U, m × q, orthonormal columns. */
  readonly u: Tensor;
  /** S, length q, descending. */
  readonly s: Tensor;
  /** V, n × q, orthonormal columns, so A ≈ U·diag(S)·Vᵀ. */
  readonly v: Tensor;
}

/**
 * Randomised SVD with exactly the steps of `torch.svd_lowrank(A, q, niter, M=None)` (Halko, Martinsson &
 * Tropp 2009): a wide A is handled as Aᵀ; R = randn(n, q); Q = qr(A·R).Q; `niter` times
 * Q = qr(Aᵀ·Q).Q then Q = qr(A·Q).Q; finally (Û, S, Vᵀ) = svd(Qᵀ·A) and U = Q·Û. No oversampling:
 * PEFT's `init_lora_weights="pissa_niter_K"` calls it with q = r and niter = K. The Gaussian matrix comes
 * from @peftjs/tensor's Philox generator seeded with `seed`, so a seed gives the same factors on every
 * platform (torch's own random stream is not reproduced). Computed in float64, returned as float32.
 *
 * @param a A 2-D float32 tensor [m, n].
 * @param q Rank of the approximation, 1 ≤ q ≤ min(m, n).
 */
export function svdLowRank(a: Tensor, q: number, options: SvdLowRankOptions = {}): SvdLowRankResult {
  const input = readShape("svdLowRank", a);
  checkInteger("svdLowRank", "q", q, 1, Math.min(input.rows, input.cols));
  const niter = checkInteger("svdLowRank", "niter", options.niter ?? 2, 0, 1e6);
  const gaussian = gaussianSource(options.seed ?? 0);
  const validation = productValidation("svdLowRank", a, checkProductMode("svdLowRank", options.products));
  const result =
    validation.onBackend === false
      ? randomizedSvd(denseOperator(input.rows, input.cols, validation.values), q, niter, gaussian)
      : backendRandomizedSvd(a, q, niter, gaussian, validation.check);
  return { u: rowsAsColumns(result.ut), s: toTensor(result.s, [q]), v: rowsAsColumns(result.vt) };
}
