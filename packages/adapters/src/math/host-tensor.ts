import { matmul, scale, sub, type Tensor, tensor, tidy } from "@peftjs/tensor";
import type { Matrix } from "./matrix.js";

// The one bridge between host matrices (float64-accumulated math: inits, conversion, combination, files) and
// device tensors (forward, merge, training). Crossing it is explicit: a copy to or from the active backend.

/** A float32 tensor holding a matrix's values (a host-to-device copy). */
export function matrixToTensor(value: Matrix): Tensor {
  return tensor(value.data, [value.rows, value.columns]);
}

/** A 2-D tensor's values as a matrix (a device-to-host read). */
export function tensorToMatrix(value: Tensor): Matrix {
  return { rows: value.shape[0]!, columns: value.shape[1]!, data: value.toFloat32Array() };
}

/** {@link tensorToMatrix}, then releases the tensor. */
export function takeMatrix(value: Tensor): Matrix {
  const result = tensorToMatrix(value);
  value.dispose();
  return result;
}

/**
 * `a − factor·(b·c)` computed on the active backend in float32, as PEFT computes an init's residual
 * (`weight − scaling · lora_B @ lora_A`): `(factor·b)·c` is one backend GEMM (wasm SIMD) instead of a host
 * float64 loop over `rows · columns · rank` products, which dominated a PiSSA/OLoRA init of a real model.
 */
export function subtractScaledProduct(a: Matrix, b: Matrix, c: Matrix, factor: number): Matrix {
  const input = matrixToTensor(a);
  try {
    return subtractScaledProductFrom(input, b, c, factor);
  } finally {
    input.dispose();
  }
}

/** {@link subtractScaledProduct} with `a` a 2-D float32 tensor already on the backend (not released). */
export function subtractScaledProductFrom(a: Tensor, b: Matrix, c: Matrix, factor: number): Matrix {
  return takeMatrix(tidy(() => sub(a, matmul(scale(matrixToTensor(b), factor), matrixToTensor(c)))));
}
