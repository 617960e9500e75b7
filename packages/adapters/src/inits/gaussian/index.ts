import { matrix, zeroMatrix } from "../../math/matrix.js";
import type { InitMethod } from "../registry.js";

/** PEFT's `init_lora_weights: "gaussian"`: A ~ N(0, (1/r)²), B = 0. */
export const gaussianInit: InitMethod = {
  name: "gaussian",
  description: "Gaussian A with standard deviation 1/r, zero B",
  handles: (init) => init === "gaussian",
  examples: ["gaussian"],
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize({ r, inFeatures, outFeatures, generator }) {
    return {
      loraA: matrix(r, inFeatures, generator.normalValues(r * inFeatures, 0, 1 / r)),
      loraB: zeroMatrix(outFeatures, r),
    };
  },
};
