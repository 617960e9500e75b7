import { cast, type RandomGenerator, type Tensor } from "@peftjs/tensor";
import { pissaIterations } from "../../config/lora-config.js";
import { AdapterInitError } from "../../errors.js";
import { randomizedSvdOfTensor, truncatedSvdOfTensor } from "../../math/decompositions.js";
import { roundThroughDtype } from "../../math/dtype-rounding.js";
import { matrixToTensor, subtractScaledProductFrom } from "../../math/host-tensor.js";
import { type Matrix, scaleColumns, scaleRows, transpose } from "../../math/matrix.js";
import type { BaseWeight, InitMethod } from "../registry.js";

/** A 24-bit seed for the randomized SVD's test matrix, drawn from the adapter's stream (one per module). */
function drawSeed(generator: RandomGenerator): number {
  return Math.floor((generator.uniformValues(1, 0, 1)[0] as number) * 2 ** 24);
}

/**
 * W (oriented as PEFT factorises it) as a float32 tensor on the backend, and whether the caller owns it: the
 * model's own weight tensor when there is one and no transpose is needed (a 16-bit weight is widened on the
 * backend), else an upload of the host values.
 */
function weightOnBackend(weight: BaseWeight, fanInFanOut: boolean): { input: Tensor; owned: boolean } {
  if (!fanInFanOut && weight.tensor !== undefined) {
    if (weight.tensor.dtype === "float32") return { input: weight.tensor, owned: false };
    return { input: cast(weight.tensor, "float32"), owned: true };
  }
  return { input: matrixToTensor(fanInFanOut ? transpose(weight.values) : weight.values), owned: true };
}

/**
 * PiSSA (Meng et al. 2024), as PEFT's `pissa_init`: on W (transposed first with fan_in_fan_out), in float32,
 * W ≈ U_r S_r V_rᵀ (exact top-r SVD for `"pissa"`, randomized SVD with q = r and K power iterations for
 * `"pissa_niter_K"`), S' = S_r / s, A₀ = √S'·V_rᵀ, B₀ = U_r·√S', so s·B₀A₀ is the best rank-r part of W, and the
 * residual is W − s·B₀A₀ (from the unrounded factors). On a half-precision base the factors are then rounded
 * through the base dtype, as PEFT's move to the base layer's dtype does. The residual is skipped when the caller
 * does not need it (overlay mode).
 */
export const pissaInit: InitMethod = {
  name: "pissa",
  description:
    "PiSSA: principal singular values and vectors (exact or randomized SVD); moves s·B₀A₀ out of W",
  handles: (init) => init === "pissa" || pissaIterations(init) !== undefined,
  examples: ["pissa", "pissa_niter_2"],
  readsBaseWeight: true,
  movesBaseWeight: true,
  initialize({ moduleName, init, r, scaling, weight, fanInFanOut, generator, residualNeeded }) {
    if (weight === undefined) throw new AdapterInitError(`PiSSA needs the base weight of "${moduleName}"`);
    const [rows, columns] = fanInFanOut
      ? [weight.values.columns, weight.values.rows]
      : [weight.tensor?.shape[0] ?? weight.values.rows, weight.tensor?.shape[1] ?? weight.values.columns];
    const limit = Math.min(rows, columns);
    if (r > limit) {
      throw new AdapterInitError(
        `PiSSA rank ${r} exceeds min(out, in) = ${limit} of "${moduleName}" [${rows}, ${columns}]`,
      );
    }
    const iterations = pissaIterations(init);
    // W is on the backend once (the model's own tensor where possible): the decomposition's products and the
    // residual both read it.
    const { input, owned } = weightOnBackend(weight, fanInFanOut);
    let loraA: Matrix;
    let loraB: Matrix;
    let residualOriented: Matrix | undefined;
    try {
      const factors =
        iterations === undefined
          ? truncatedSvdOfTensor(input, r)
          : randomizedSvdOfTensor(input, r, iterations, drawSeed(generator));
      const root = Float32Array.from(factors.singularValues, (value) => Math.sqrt(value / scaling));
      loraA = scaleRows(factors.rightTransposed, root);
      loraB = scaleColumns(factors.left, root);
      if (residualNeeded !== false)
        residualOriented = subtractScaledProductFrom(input, loraB, loraA, scaling);
    } finally {
      if (owned) input.dispose();
    }
    return {
      loraA: roundThroughDtype(loraA, weight.dtype),
      loraB: roundThroughDtype(loraB, weight.dtype),
      residual:
        residualOriented === undefined
          ? undefined
          : fanInFanOut
            ? transpose(residualOriented)
            : residualOriented,
    };
  },
};
