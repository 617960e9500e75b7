/**
 * The engine computes in float32: ops other than `matmul`, `cast` and the layout ops widen float16/bfloat16
 * inputs to float32 before their kernels run (the result is float32), as torch's type promotion does for a
 * mixed float32/bfloat16 op. The widened copies are temporaries, released as soon as the kernel has run.
 */

import { isHalfDType } from "../dtype/dtypes.js";
import { runKernel } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";

/** `tensor` widened to float32 when it is float16/bfloat16 (a new tensor the caller disposes), else itself. */
export function widenIfHalf(tensor: Tensor): Tensor {
  return isHalfDType(tensor.dtype) ? runKernel("cast", [tensor], { dtype: "float32" }) : tensor;
}

/**
 * Runs `compute` on `inputs` with every float16/bfloat16 one widened to float32, then releases the widened
 * copies (never the inputs themselves).
 */
export function withWidenedInputs(inputs: readonly Tensor[], compute: (widened: Tensor[]) => Tensor): Tensor {
  const widened = inputs.map(widenIfHalf);
  try {
    return compute(widened);
  } finally {
    widened.forEach((tensor, index) => {
      if (tensor !== inputs[index]) tensor.dispose();
    });
  }
}
