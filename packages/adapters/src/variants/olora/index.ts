import {
  AdapterInitError,
  type AdapterVariant,
  addScaled,
  multiply,
  reducedQr,
  registerAdapterVariant,
  roundThroughDtype,
  sliceColumns,
  sliceRows,
} from "../../variant-api.js";

/**
 * OLoRA (Büyükakyüz 2024), as PEFT's `olora_init`, written only against the public variant API:
 * Q, R = qr(W) in float32 (W as stored: PEFT applies no fan_in_fan_out transpose here), B₀ = Q[:, :r],
 * A₀ = R[:r], residual W − s·B₀A₀ from the unrounded factors; the factors are then rounded through the base dtype.
 */
export const oloraVariant: AdapterVariant = {
  name: "olora",
  description: "OLoRA: orthonormal QR factors of W; moves s·B₀A₀ out of W",
  handles: (init) => init === "olora",
  readsBaseWeight: true,
  movesBaseWeight: true,
  initialize({ moduleName, r, scaling, weight }) {
    if (weight === undefined) throw new AdapterInitError(`OLoRA needs the base weight of "${moduleName}"`);
    const values = weight.values;
    const limit = Math.min(values.rows, values.columns);
    if (r > limit) {
      throw new AdapterInitError(
        `OLoRA rank ${r} exceeds min(out, in) = ${limit} of "${moduleName}" [${values.rows}, ${values.columns}]`,
      );
    }
    const { q, r: upper } = reducedQr(values);
    const loraB = sliceColumns(q, 0, r);
    const loraA = sliceRows(upper, 0, r);
    return {
      loraA: roundThroughDtype(loraA, weight.dtype),
      loraB: roundThroughDtype(loraB, weight.dtype),
      residual: addScaled(values, multiply(loraB, loraA), -scaling),
    };
  },
};

registerAdapterVariant(oloraVariant);
