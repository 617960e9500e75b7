import { makeView, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";

/**
 * The same values as `a` (a view, no copy) through which no gradient flows: inside
 * {@link valueAndGradients} the result is treated as a constant (PyTorch's `detach()`).
 */
export function stopGradient(a: Tensor): Tensor {
  return runOperation("stopGradient", [a], {}, () => makeView(a, a.shape));
}
