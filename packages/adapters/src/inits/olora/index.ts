import {
  AdapterInitError,
  type InitMethod,
  multiply,
  reducedQr,
  roundThroughDtype,
  sliceColumns,
  subtractScaledProduct,
  transpose,
} from "../../init-api.js";

/**
 * OLoRA (Büyükakyüz 2024), as PEFT's `olora_init`, written only against the public init API:
 * Q, R = qr(W) in float32 (W as stored: PEFT applies no fan_in_fan_out transpose here), B₀ = Q[:, :r],
 * A₀ = R[:r], residual W − s·B₀A₀ from the unrounded factors (unless the caller does not need it); the factors are
 * then rounded through the base dtype.
 * Only the leading r columns are factorised (the same Q[:, :r] as LAPACK's full QR); A₀ = Q[:, :r]ᵀ·W.
 */
export const oloraInit: InitMethod = {
  name: "olora",
  description: "OLoRA: orthonormal QR factors of W; moves s·B₀A₀ out of W",
  handles: (init) => init === "olora",
  examples: ["olora"],
  readsBaseWeight: true,
  movesBaseWeight: true,
  initialize({ moduleName, r, scaling, weight, residualNeeded }) {
    if (weight === undefined) throw new AdapterInitError(`OLoRA needs the base weight of "${moduleName}"`);
    const values = weight.values;
    const limit = Math.min(values.rows, values.columns);
    if (r > limit) {
      throw new AdapterInitError(
        `OLoRA rank ${r} exceeds min(out, in) = ${limit} of "${moduleName}" [${values.rows}, ${values.columns}]`,
      );
    }
    // Householder QR is column-by-column: the first r reflectors depend only on W[:, :r], so
    // Q[:, :r] = qr(W[:, :r]).Q and R[:r] = Q[:, :r]ᵀ·W — O(m·n·r) instead of a full QR
    const loraB = reducedQr(sliceColumns(values, 0, r)).q;
    const loraA = multiply(transpose(loraB), values);
    return {
      loraA: roundThroughDtype(loraA, weight.dtype),
      loraB: roundThroughDtype(loraB, weight.dtype),
      residual: residualNeeded === false ? undefined : subtractScaledProduct(values, loraB, loraA, scaling),
    };
  },
};
