import { frobeniusNorm, scale, type Tensor } from "@peftjs/tensor";
import { ModelInputError } from "../errors.js";

/** The result of {@link clipGradientNorm}. */
export interface ClippedGradients {
  /** The gradients, scaled by `min(1, maxNorm / (totalNorm + 1e-6))` (new tensors). */
  readonly gradients: Map<string, Tensor>;
  /** The L2 norm of all gradients together, before clipping. */
  readonly totalNorm: number;
}

/** The L2 norm of all gradients together, `‖(‖g₁‖, ‖g₂‖, ...)‖`, as `clip_grad_norm_` computes it (float32). */
export function totalGradientNorm(gradients: ReadonlyMap<string, Tensor>): number {
  let sumOfSquares = 0;
  for (const gradient of gradients.values()) {
    const norm = Math.fround(frobeniusNorm(gradient));
    sumOfSquares += norm * norm;
  }
  return Math.fround(Math.sqrt(sumOfSquares));
}

/**
 * `torch.nn.utils.clip_grad_norm_` (L2): `totalNorm = ‖(‖g₁‖, ‖g₂‖, ...)‖`, and when it exceeds `maxNorm`
 * every gradient is multiplied by `maxNorm / (totalNorm + 1e-6)` (the coefficient is clamped to 1).
 *
 * @throws ModelInputError for a negative or non-finite `maxNorm`.
 */
export function clipGradientNorm(gradients: ReadonlyMap<string, Tensor>, maxNorm: number): ClippedGradients {
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) {
    throw new ModelInputError(`maxNorm must be a finite number ≥ 0, got ${maxNorm}`);
  }
  const totalNorm = totalGradientNorm(gradients);
  const coefficient = Math.min(1, Math.fround(maxNorm / Math.fround(totalNorm + 1e-6)));
  const clipped = new Map<string, Tensor>();
  for (const [name, gradient] of gradients) clipped.set(name, scale(gradient, coefficient));
  return { gradients: clipped, totalNorm };
}
