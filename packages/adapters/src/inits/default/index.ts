import { kaimingUniformBounds } from "@peftjs/tensor";
import { matrix, zeroMatrix } from "../../math/matrix.js";
import type { InitMethod } from "../registry.js";

/**
 * PEFT's default (`init_lora_weights: true`), `reset_lora_parameters`: A ~ kaiming-uniform(a = √5) =
 * U(−1/√in, 1/√in), B = 0, so a fresh adapter changes nothing.
 */
export const defaultInit: InitMethod = {
  name: "default",
  description: "kaiming-uniform A, zero B (the PEFT default, init_lora_weights true)",
  handles: (init) => init === true,
  examples: [true],
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize({ r, inFeatures, outFeatures, generator }) {
    const [low, high] = kaimingUniformBounds(inFeatures);
    return {
      loraA: matrix(r, inFeatures, generator.uniformValues(r * inFeatures, low, high)),
      loraB: zeroMatrix(outFeatures, r),
    };
  },
};
