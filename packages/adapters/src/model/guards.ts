import type { LoraFactors } from "../adapter.js";
import { truncatedSvd } from "../math/decompositions.js";
import { frobeniusNorm, type Matrix, multiply, sliceColumns, transpose } from "../math/matrix.js";

// The math checks that tell an original base from a PiSSA/OLoRA residual when a file carries no fingerprint
// (PEFT's files), with their thresholds, named and justified in one place.

/**
 * The least mean {@link pissaSubspaceShare} over an unconverted PiSSA adapter's modules for the base to count
 * as the original: per module the share is ≥ 0.82 on the original base and ≤ 0.024 on the residual in every
 * PEFT fixture (means ≥ 0.93 and ≤ 0.008); randomized inits with few iterations on flat spectra score lower
 * on the original, ~0.5. So 0.2 separates the two with a wide margin on both sides.
 */
export const PISSA_SUBSPACE_SHARE_THRESHOLD = 0.2;

/**
 * The least {@link oloraLeadingColumnsShare} of any module for the base to count as OLoRA's original: the
 * leading r columns keep a share of order 1 on the original base (0.78–1.40 over the olora fixture's 20
 * modules) and vanish on a residual with s = 1 (≤ 6.2e-7, float32 round-off), so 0.05 separates them.
 */
export const OLORA_LEADING_COLUMNS_THRESHOLD = 0.05;

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
