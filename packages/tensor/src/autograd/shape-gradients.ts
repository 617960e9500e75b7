/**
 * Shape helpers for gradient rules: summing a broadcast gradient back to an input's shape, and spreading a
 * reduced gradient over the reduced axes. Built from public ops (backward runs with recording off).
 */
import type { Tensor } from "../engine/tensor.js";
import { add } from "../ops/arithmetic.js";
import { zeros } from "../ops/creation.js";
import { reshape } from "../ops/layout.js";
import { sum } from "../ops/reduction.js";
import { sizeOfShape } from "../ops/shape-utils.js";

function sameShape(left: readonly number[], right: readonly number[]): boolean {
  return left.length === right.length && left.every((extent, axis) => extent === right[axis]);
}

/**
 * Sums `gradient` (of a broadcast result's shape) back to `shape`, the shape of an operand before NumPy
 * broadcasting: over the leading axes the operand lacked and over the axes where it had extent 1.
 */
export function sumToShape(gradient: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(gradient.shape, shape)) return gradient;
  let result = gradient;
  const extra = gradient.rank - shape.length;
  if (extra > 0) {
    const rest = gradient.shape.slice(extra);
    result = sum(reshape(result, [sizeOfShape(gradient.shape.slice(0, extra)), ...rest]), 0);
  }
  for (let axis = 0; axis < shape.length; axis++) {
    if (shape[axis] === 1 && result.shape[axis] !== 1) result = sum(result, axis, true);
  }
  return reshape(result, shape);
}

/**
 * Spreads the gradient of a reduction (`sum`, `mean`, `max`) back over the reduced axis: reshapes it to the
 * kept-dimensions shape, then broadcasts to `shape`.
 *
 * @param axis - the reduced axis (non-negative), or undefined when every element was reduced.
 */
export function broadcastReduced(
  gradient: Tensor,
  shape: readonly number[],
  axis: number | undefined,
): Tensor {
  const keptShape = shape.map((extent, index) => (axis === undefined || index === axis ? 1 : extent));
  return add(zeros(shape), reshape(gradient, keptShape));
}

/** Sums a `[...batch, rows, columns]` tensor over its leading axes to `[rows, columns]` (identity for rank 2). */
export function sumLeadingAxes(gradient: Tensor, rank: number): Tensor {
  if (gradient.rank === rank) return gradient;
  const trailing = gradient.shape.slice(gradient.rank - rank);
  return sum(reshape(gradient, [-1, ...trailing]), 0);
}
