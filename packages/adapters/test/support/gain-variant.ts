import { linear } from "@peftjs/nn";
import { add, matmul, mul, ones, scale, scaleRows } from "@peftjs/tensor";
import { LORA_A, LORA_B, type LoraVariant } from "../../src/index.js";

/** The test variant's extra parameter: a gain per output row, `[out]`. */
export const GAIN = "lora_test_gain";

/**
 * A test-only LoRA variant with DoRA's shape — an extra trainable parameter per module, a forward that is not
 * plain LoRA's, a merge that is not W + s·B·A — so the shared table proves the seam a variant folder plugs
 * into: `y = result + g ⊙ s·B·A·x`, merged `W + diag(g)·s·B·A`, `g` starting at ones (so a fresh adapter
 * still starts at the base output). Selected by `"use_test_gain": true` in the config.
 */
export const gainVariant: LoraVariant = {
  name: "test-gain",
  description: "test only: LoRA with a trainable gain per output row",
  configField: "use_test_gain",
  extraParameters: [GAIN],
  initializeExtras: (context) => new Map([[GAIN, ones([context.parameters.get(LORA_B)!.shape[0]!])]]),
  forward(context, input, result) {
    const a = context.parameters.get(LORA_A)!;
    const b = context.parameters.get(LORA_B)!;
    const delta = scale(linear(linear(context.dropout(input), a), b), context.scaling);
    return add(result, mul(delta, context.parameters.get(GAIN)!));
  },
  merge(context, weight) {
    const a = context.parameters.get(LORA_A)!;
    const b = context.parameters.get(LORA_B)!;
    return add(weight, scaleRows(scale(matmul(b, a), context.scaling), context.parameters.get(GAIN)!));
  },
};
