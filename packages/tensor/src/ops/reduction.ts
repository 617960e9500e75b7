import type { KernelName } from "../backend/backend.js";
import { makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError } from "../errors.js";
import { assertFloat, formatShape, normalizeAxis, sizeOfShape } from "./shape-utils.js";
import { widenIfHalf } from "./widen.js";

type ReductionKernel = Extract<KernelName, "sum" | "max" | "argmax">;

/** Output shape of reducing `axis` (or every axis when `axis` is undefined). */
function reducedShape(shape: readonly number[], axis: number | undefined, keepDims: boolean): number[] {
  if (axis === undefined) return keepDims ? shape.map(() => 1) : [];
  return keepDims
    ? shape.map((extent, index) => (index === axis ? 1 : extent))
    : shape.filter((_, index) => index !== axis);
}

function reduce(
  name: string,
  kernel: ReductionKernel,
  a: Tensor,
  axis: number | undefined,
  keepDims: boolean,
): Tensor {
  assertFloat(name, "input", a);
  const resolved = axis === undefined ? undefined : normalizeAxis(name, axis, a.shape);
  const reducedSize = resolved === undefined ? a.size : a.shape[resolved]!;
  if ((kernel === "max" || kernel === "argmax") && reducedSize === 0) {
    throw new ShapeError(`${name}: cannot reduce an empty axis of ${formatShape(a.shape)}`);
  }
  return runOperation(name, [a], { axis: resolved, keepDims }, () => {
    const outer = resolved === undefined ? 1 : sizeOfShape(a.shape.slice(0, resolved));
    const inner = resolved === undefined ? 1 : sizeOfShape(a.shape.slice(resolved + 1));
    const widened = widenIfHalf(a);
    const view = makeView(widened, [outer, reducedSize, inner]);
    const reduced = runKernel(kernel, [view], {});
    view.dispose();
    if (widened !== a) widened.dispose();
    const output = makeView(reduced, reducedShape(a.shape, resolved, keepDims));
    reduced.dispose();
    return output;
  });
}

/**
 * Sum over `axis` (negative counts from the end), or over every element when `axis` is omitted.
 *
 * @param keepDims - keep the reduced axis with extent 1.
 */
export function sum(a: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce("sum", "sum", a, axis, keepDims);
}

/** Mean over `axis`, or over every element when `axis` is omitted (sum, then divided by the count). */
export function mean(a: Tensor, axis?: number, keepDims = false): Tensor {
  assertFloat("mean", "input", a);
  const resolved = axis === undefined ? undefined : normalizeAxis("mean", axis, a.shape);
  const count = resolved === undefined ? a.size : a.shape[resolved]!;
  return runOperation("mean", [a], { axis: resolved, keepDims }, () => {
    const total = reduce("sum", "sum", a, resolved, keepDims);
    const output = runKernel("scale", [total], { factor: 1 / count });
    total.dispose();
    return output;
  });
}

/** Maximum over `axis`, or over every element when `axis` is omitted. NaN propagates. */
export function max(a: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce("max", "max", a, axis, keepDims);
}

/** Index (int32) of the first maximum over `axis`, or into the flattened tensor when `axis` is omitted. */
export function argmax(a: Tensor, axis?: number, keepDims = false): Tensor {
  return reduce("argmax", "argmax", a, axis, keepDims);
}
