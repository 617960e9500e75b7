import { kaimingUniformBounds } from "@peftjs/tensor";
import type { InitLoraWeights } from "../../config/lora-config.js";
import { matrix, zeroMatrix } from "../../math/matrix.js";
import { type AdapterVariant, registerAdapterVariant } from "../registry.js";

/**
 * Plain LoRA inits, as PEFT's `reset_lora_parameters`:
 * `true`: A ~ kaiming-uniform(a = √5) = U(−1/√in, 1/√in), B = 0;
 * `"gaussian"`: A ~ N(0, (1/r)²), B = 0;
 * `false`: both keep nn.Linear's default init, A ~ U(−1/√in, 1/√in), B ~ U(−1/√r, 1/√r) (a non-zero start, for tests).
 */
export const loraVariant: AdapterVariant = {
  name: "lora",
  description:
    "LoRA with kaiming-uniform, gaussian or random init (the adapter starts at zero except for false)",
  handles: (init: InitLoraWeights) => init === true || init === false || init === "gaussian",
  readsBaseWeight: false,
  movesBaseWeight: false,
  initialize({ init, r, inFeatures, outFeatures, generator }) {
    const [lowA, highA] = kaimingUniformBounds(inFeatures);
    const loraA =
      init === "gaussian"
        ? matrix(r, inFeatures, generator.normalValues(r * inFeatures, 0, 1 / r))
        : matrix(r, inFeatures, generator.uniformValues(r * inFeatures, lowA, highA));
    if (init !== false) return { loraA, loraB: zeroMatrix(outFeatures, r) };
    const [lowB, highB] = kaimingUniformBounds(r);
    return { loraA, loraB: matrix(outFeatures, r, generator.uniformValues(outFeatures * r, lowB, highB)) };
  },
};

registerAdapterVariant(loraVariant);
