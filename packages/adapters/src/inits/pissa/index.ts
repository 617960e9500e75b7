import type { RandomGenerator } from "@peftjs/tensor";
import { pissaIterations } from "../../config/lora-config.js";
import { AdapterInitError } from "../../errors.js";
import { randomizedSvdOfTensor, truncatedSvdOfTensor } from "../../math/decompositions.js";
import { roundThroughDtype } from "../../math/dtype-rounding.js";
import { matrixToTensor, subtractScaledProductFrom } from "../../math/host-tensor.js";
import { type Matrix, scaleColumns, scaleRows, transpose } from "../../math/matrix.js";
import type { InitMethod } from "../registry.js";

/** A 24-bit seed for the randomized SVD's test matrix, drawn from the adapter's stream (one per module). */
function drawSeed(generator: RandomGenerator): number {
  return Math.floor((generator.uniformValues(1, 0, 1)[0] as number) * 2 ** 24);
}

/**
 * PiSSA (Meng et al. 2024), as PEFT's `pissa_init`: on W (transposed first with fan_in_fan_out), in float32,
 * W ≈ U_r S_r V_rᵀ (exact top-r SVD for `"pissa"`, randomized SVD with q = r and K power iterations for
 * `"pissa_niter_K"`), S' = S_r / s, A₀ = √S'·V_rᵀ, B₀ = U_r·√S', so s·B₀A₀ is the best rank-r part of W, and the
 * residual is W − s·B₀A₀ (from the unrounded factors). On a half-precision base the factors are then rounded
 * through the base dtype, as PEFT's move to the base layer's dtype does.
 */
export const pissaInit: InitMethod = {
  name: "pissa",
  description:
    "PiSSA: principal singular values and vectors (exact or randomized SVD); moves s·B₀A₀ out of W",
  handles: (init) => init === "pissa" || pissaIterations(init) !== undefined,
  examples: ["pissa", "pissa_niter_2"],
  readsBaseWeight: true,
  movesBaseWeight: true,
  initialize({ moduleName, init, r, scaling, weight, fanInFanOut, generator }) {
    if (weight === undefined) throw new AdapterInitError(`PiSSA needs the base weight of "${moduleName}"`);
    const oriented = fanInFanOut ? transpose(weight.values) : weight.values;
    const limit = Math.min(oriented.rows, oriented.columns);
    if (r > limit) {
      throw new AdapterInitError(
        `PiSSA rank ${r} exceeds min(out, in) = ${limit} of "${moduleName}" [${oriented.rows}, ${oriented.columns}]`,
      );
    }
    const iterations = pissaIterations(init);
    // W goes to the backend once: the decomposition's products and the residual both read that copy.
    const input = matrixToTensor(oriented);
    let loraA: Matrix;
    let loraB: Matrix;
    let residualOriented: Matrix;
    try {
      const factors =
        iterations === undefined
          ? truncatedSvdOfTensor(input, r)
          : randomizedSvdOfTensor(input, r, iterations, drawSeed(generator));
      const root = Float32Array.from(factors.singularValues, (value) => Math.sqrt(value / scaling));
      loraA = scaleRows(factors.rightTransposed, root);
      loraB = scaleColumns(factors.left, root);
      residualOriented = subtractScaledProductFrom(input, loraB, loraA, scaling);
    } finally {
      input.dispose();
    }
    return {
      loraA: roundThroughDtype(loraA, weight.dtype),
      loraB: roundThroughDtype(loraB, weight.dtype),
      residual: fanInFanOut ? transpose(residualOriented) : residualOriented,
    };
  },
};
