import { linear } from "@peftjs/nn";
import {
  add,
  div,
  matmul,
  mul,
  scale,
  scaleRows,
  sqrt,
  stopGradient,
  sub,
  sum,
  type Tensor,
} from "@peftjs/tensor";
import { LORA_A, LORA_B } from "../../layer/parameter-keys.js";
import type { LoraVariant, VariantContext } from "../registry.js";

/**
 * PEFT's name of DoRA's trainable magnitude `m` `[out]`. In a file its key is `<module>.lora_magnitude_vector`
 * (no `.weight`; see `layer/parameter-keys.ts`), in a model `lora_magnitude_vector.<adapter>.weight`.
 */
export const LORA_MAGNITUDE_VECTOR = "lora_magnitude_vector";

/** ‖V‖ per output row of a `[out, in]` matrix: `sqrt(Σ_j V[i, j]²)`, `[out]` (torch.linalg.norm(V, dim=1)). */
function rowNorms(matrix: Tensor): Tensor {
  return sqrt(sum(mul(matrix, matrix), 1));
}

/** The direction update s·B·A `[out, in]`. */
function loraWeight(context: VariantContext): Tensor {
  const a = context.parameters.get(LORA_A)!;
  const b = context.parameters.get(LORA_B)!;
  return scale(matmul(b, a), context.scaling);
}

/**
 * DoRA (Liu et al. 2024, "Weight-Decomposed Low-Rank Adaptation"), as PEFT 0.21's `DoraLinearLayer`: the
 * adapted weight is split into a trainable magnitude `m` (one value per output row) and a direction
 * `W + s·B·A` normalised per output row,
 *
 *   W' = (m / n) ⊙_rows (W + s·B·A),  n = ‖W + s·B·A‖ per output row, **detached** (paper §4.3: n is treated
 *   as a constant, so no gradient flows through it; B·A inside n is detached too, as PEFT does).
 *
 * The forward is PEFT's, `y = result + (m/n − 1)·base + (m/n)·s·B·A·x`, where `base` is the layer's output
 * without its bias (`result − b`) — or, when dropout is active in training, `W·dropout(x)`, exactly as PEFT
 * recomputes it. `m` starts at ‖W + s·B₀A₀‖ (= ‖W‖ per row for B₀ = 0), so a fresh adapter is the identity.
 * W is the weight the adapter stands on (`W − s·B₀A₀` for a PiSSA/OLoRA adapter, PEFT's residual).
 * Merging writes `(m/n) ⊙_rows (W + s·B·A)`, with n from the weight it merges into, as PEFT's `merge_safe`.
 */
export const doraVariant: LoraVariant = {
  name: "dora",
  description: "DoRA: W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row (norm detached)",
  configField: "use_dora",
  extraParameters: [LORA_MAGNITUDE_VECTOR],
  extraParameterShape(_parameter, layer) {
    return [layer.outFeatures];
  },
  initializeExtras(context) {
    const norms = rowNorms(add(context.baseWeight(), loraWeight(context)));
    return new Map([[LORA_MAGNITUDE_VECTOR, norms]]);
  },
  forward(context, input, result) {
    const a = context.parameters.get(LORA_A)!;
    const b = context.parameters.get(LORA_B)!;
    const magnitude = context.parameters.get(LORA_MAGNITUDE_VECTOR)!;
    const weight = context.baseWeight();
    const norm = stopGradient(rowNorms(add(weight, stopGradient(loraWeight(context)))));
    // m / n, [out]: broadcast over the last axis of [batch, sequence, out]
    const factor = div(magnitude, norm);
    const x = context.dropout(input);
    // PEFT reuses the layer's output unless dropout changed x (then W·dropout(x), no bias)
    const base = x !== input ? linear(x, weight) : context.baseBias ? sub(result, context.baseBias) : result;
    const loraResult = scale(linear(linear(x, a), b), context.scaling);
    return add(result, add(mul(sub(factor, 1), base), mul(factor, loraResult)));
  },
  merge(context, weight) {
    const magnitude = context.parameters.get(LORA_MAGNITUDE_VECTOR)!;
    const direction = add(weight, loraWeight(context));
    return scaleRows(direction, div(magnitude, rowNorms(direction)));
  },
};
