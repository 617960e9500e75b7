import { kaimingUniformBounds } from "@peftjs/tensor";
import { matrix } from "../../math/matrix.js";
import type { InitMethod } from "../registry.js";

/**
 * PEFT's `init_lora_weights: false`: both factors keep nn.Linear's default init, A ~ U(−1/√in, 1/√in),
 * B ~ U(−1/√r, 1/√r): a non-zero start, for tests.
 */
export const randomInit: InitMethod = {
  name: "random",
  description:
    "the uniform init of nn.Linear for A and B (init_lora_weights false: the adapter starts non-zero)",
  handles: (init) => init === false,
  examples: [false],
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize({ r, inFeatures, outFeatures, generator }) {
    const [lowA, highA] = kaimingUniformBounds(inFeatures);
    const loraA = matrix(r, inFeatures, generator.uniformValues(r * inFeatures, lowA, highA));
    const [lowB, highB] = kaimingUniformBounds(r);
    return { loraA, loraB: matrix(outFeatures, r, generator.uniformValues(outFeatures * r, lowB, highB)) };
  },
};
