import { add, clamp, concat, div, mul, reshape, scalar, sqrt, sum, type Tensor, tidy } from "@peftjs/tensor";
import { ModelInputError } from "../errors.js";

/** The result of {@link clipGradientNorm}. */
export interface ClippedGradients {
  /** The gradients, scaled by `min(1, maxNorm / (totalNorm + 1e-6))` (new tensors). */
  readonly gradients: Map<string, Tensor>;
  /** The L2 norm of all gradients together, before clipping: a scalar tensor on the device. */
  readonly totalNorm: Tensor;
}

/**
 * The L2 norm of all gradients together, `‖(‖g₁‖, ‖g₂‖, ...)‖`, as `clip_grad_norm_` computes it (float32, a
 * norm of the per-tensor norms), as a scalar tensor: computed on the device, read by nobody until asked.
 */
export function totalGradientNorm(gradients: ReadonlyMap<string, Tensor>): Tensor {
  return tidy(() => {
    const norms = [...gradients.values()].map((gradient) => reshape(sqrt(sum(mul(gradient, gradient))), [1]));
    if (norms.length === 0) return scalar(0);
    const stacked = concat(norms, 0);
    return sqrt(sum(mul(stacked, stacked)));
  });
}

/**
 * `torch.nn.utils.clip_grad_norm_` (L2): `totalNorm = ‖(‖g₁‖, ‖g₂‖, ...)‖`, and every gradient is multiplied
 * by `min(1, maxNorm / (totalNorm + 1e-6))` — on the device, without reading the norm back.
 *
 * @throws ModelInputError for a negative or non-finite `maxNorm`.
 */
export function clipGradientNorm(gradients: ReadonlyMap<string, Tensor>, maxNorm: number): ClippedGradients {
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) {
    throw new ModelInputError(`maxNorm must be a finite number ≥ 0, got ${maxNorm}`);
  }
  const totalNorm = totalGradientNorm(gradients);
  const names = [...gradients.keys()];
  const scaled = tidy(() => {
    const coefficient = clamp(div(Math.fround(maxNorm), add(totalNorm, Math.fround(1e-6))), -Infinity, 1);
    return names.map((name) => mul(gradients.get(name)!, coefficient));
  });
  return { gradients: new Map(names.map((name, index) => [name, scaled[index]!])), totalNorm };
}
