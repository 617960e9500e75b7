import type { LoraFactors } from "../adapter.js";
import { truncatedSvd } from "../math/decompositions.js";
import { frobeniusNorm, type Matrix, multiply, sliceColumns, transpose } from "../math/matrix.js";

/**
 * How much of an unconverted PiSSA adapter's lora_A lies in the top-r right singular subspace of a base weight:
 * ‖A·V_r‖²_F / ‖A‖²_F ∈ [0, 1]. PiSSA starts from A₀ = √S'·V_rᵀ of the ORIGINAL W, and training moves A only a
 * little, so on the original base the share is close to 1; on the residual W − s·B₀A₀ the top-r subspace is the
 * next one (orthogonal to V_r) and the share is close to 0.
 */
export function pissaSubspaceShare(loraA: Matrix, weight: Matrix): number {
  const r = loraA.rows;
  const { rightTransposed } = truncatedSvd(weight, r);
  const projected = multiply(loraA, transpose(rightTransposed));
  const total = frobeniusNorm(loraA);
  return total === 0 ? 0 : (frobeniusNorm(projected) / total) ** 2;
}

/**
 * The OLoRA analogue: OLoRA's B₀ = Q_r spans the first r columns of the original W (W = QR), so those columns
 * keep a share ‖W[:, :r]‖_F / (‖W‖_F·√(r/in)) of order 1 on the original base, while on the residual with
 * s = 1 they vanish (W_res[:, :r] = (1 − s)·W[:, :r]). With s ≠ 1 the residual cannot be told apart this way.
 */
export function oloraLeadingColumnsShare(factors: LoraFactors, weight: Matrix): number {
  const r = factors.loraA.rows;
  const leading = frobeniusNorm(sliceColumns(weight, 0, r));
  const average = frobeniusNorm(weight) * Math.sqrt(r / weight.columns);
  return average === 0 ? 0 : leading / average;
}
