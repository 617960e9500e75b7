import { linear } from "@peftjs/nn";
import { add, matmul, scale } from "@peftjs/tensor";
import { LORA_A, LORA_B } from "../../layer/parameter-keys.js";
import type { LoraVariant } from "../registry.js";

/**
 * Plain LoRA (Hu et al. 2021), PEFT's default: `y = result + s·B·(A·dropout(x))`; merging adds `s·B·A`
 * to the weight. The bias is untouched.
 */
export const plainVariant: LoraVariant = {
  name: "plain",
  description: "LoRA: y = W·x + b + s·B·A·x; merged weight W + s·B·A",
  extraParameters: [],
  forward(context, input, result) {
    const a = context.parameters.get(LORA_A)!;
    const b = context.parameters.get(LORA_B)!;
    return add(result, scale(linear(linear(context.dropout(input), a), b), context.scaling));
  },
  merge(context, weight) {
    const a = context.parameters.get(LORA_A)!;
    const b = context.parameters.get(LORA_B)!;
    return add(weight, scale(matmul(b, a), context.scaling));
  },
};
