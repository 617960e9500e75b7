import type { DType } from "../backend/backend.js";
import type { Tensor } from "../engine/tensor.js";
import { DTypeError, ShapeError, TensorArgumentError } from "../errors.js";

/** `[2, 3]` style rendering of a shape for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** Number of elements of a shape (1 for `[]`). */
export function sizeOfShape(shape: readonly number[]): number {
  let size = 1;
  for (const extent of shape) size *= extent;
  return size;
}

/** @throws TensorArgumentError unless every extent is a non-negative integer. */
export function assertValidShape(operation: string, shape: readonly number[]): void {
  for (const extent of shape) {
    if (!Number.isInteger(extent) || extent < 0) {
      throw new TensorArgumentError(
        `${operation}: shape ${formatShape(shape)} has an invalid extent ${extent}`,
      );
    }
  }
}

/**
 * Resolves a possibly negative axis (`-1` is the last) against a rank.
 *
 * @throws TensorArgumentError when the axis is outside `[-rank, rank)`.
 */
export function normalizeAxis(operation: string, axis: number, shape: readonly number[]): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new TensorArgumentError(
      `${operation}: axis ${axis} is out of range for shape ${formatShape(shape)} (rank ${rank})`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * NumPy broadcasting of two shapes: align on the right; each pair of extents must be equal or contain a 1.
 *
 * @throws ShapeError naming both shapes when they do not broadcast.
 */
export function broadcastShapes(
  operation: string,
  left: readonly number[],
  right: readonly number[],
): number[] {
  const rank = Math.max(left.length, right.length);
  const output = new Array<number>(rank);
  for (let index = 1; index <= rank; index++) {
    const leftExtent = left[left.length - index] ?? 1;
    const rightExtent = right[right.length - index] ?? 1;
    if (leftExtent !== rightExtent && leftExtent !== 1 && rightExtent !== 1) {
      throw new ShapeError(
        `${operation}: shapes ${formatShape(left)} and ${formatShape(right)} do not broadcast (axis ${rank - index} of the result: ${leftExtent} vs ${rightExtent})`,
      );
    }
    output[rank - index] = leftExtent === 1 ? rightExtent : leftExtent;
  }
  return output;
}

/** @throws DTypeError when the tensor's dtype is not `dtype`. */
export function assertDtype(operation: string, name: string, tensor: Tensor, dtype: DType): void {
  if (tensor.dtype !== dtype) {
    throw new DTypeError(
      `${operation}: ${name} must be ${dtype}, got ${tensor.dtype} of shape ${formatShape(tensor.shape)}`,
    );
  }
}

/** @throws DTypeError unless the tensor is floating point (float32, float16 or bfloat16). */
export function assertFloat(operation: string, name: string, tensor: Tensor): void {
  if (tensor.dtype === "int32") {
    throw new DTypeError(
      `${operation}: ${name} must be a floating-point tensor (float32, float16 or bfloat16), got int32 of shape ${formatShape(tensor.shape)}`,
    );
  }
}

/** @throws ShapeError unless the two shapes are identical. */
export function assertSameShape(operation: string, left: Tensor, right: Tensor): void {
  if (left.rank !== right.rank || left.shape.some((extent, axis) => extent !== right.shape[axis])) {
    throw new ShapeError(
      `${operation}: shapes ${formatShape(left.shape)} and ${formatShape(right.shape)} must be equal`,
    );
  }
}

/** @throws TensorArgumentError unless `value` is a finite number. */
export function assertFiniteNumber(operation: string, name: string, value: number): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TensorArgumentError(`${operation}: ${name} must be a finite number, got ${value}`);
  }
}
