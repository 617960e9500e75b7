import type { DType } from "../backend/backend.js";
import { makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { assertDtypeName } from "./creation.js";
import { assertDtype, formatShape, normalizeAxis, sizeOfShape } from "./shape-utils.js";

/**
 * The same elements with another shape (no copy: the result shares storage). One extent may be `-1`, inferred.
 *
 * @throws ShapeError when the sizes differ or `-1` cannot be inferred.
 */
export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  let resolved = [...shape];
  if (inferred !== -1) {
    const known = sizeOfShape(shape.filter((_, axis) => axis !== inferred));
    if (shape.lastIndexOf(-1) !== inferred || known === 0 || a.size % known !== 0) {
      throw new ShapeError(
        `reshape: cannot infer -1 in ${formatShape(shape)} for ${a.size} elements of ${formatShape(a.shape)}`,
      );
    }
    resolved = shape.map((extent, axis) => (axis === inferred ? a.size / known : extent));
  }
  if (
    resolved.some((extent) => !Number.isInteger(extent) || extent < 0) ||
    sizeOfShape(resolved) !== a.size
  ) {
    throw new ShapeError(
      `reshape: cannot reshape ${formatShape(a.shape)} (${a.size} elements) to ${formatShape(shape)}`,
    );
  }
  return runOperation("reshape", [a], { shape: resolved }, () => makeView(a, resolved));
}

/**
 * Permutes axes: output axis `i` is input axis `permutation[i]`. The default reverses the axes (matrix
 * transpose for rank 2).
 *
 * @throws TensorArgumentError when `permutation` is not a permutation of `0 .. rank-1`.
 */
export function transpose(a: Tensor, permutation?: readonly number[]): Tensor {
  const resolved = permutation ?? a.shape.map((_, axis) => a.rank - 1 - axis);
  const sorted = [...resolved].sort((left, right) => left - right);
  if (resolved.length !== a.rank || sorted.some((axis, index) => axis !== index)) {
    throw new TensorArgumentError(
      `transpose: [${resolved.join(", ")}] is not a permutation of the axes of ${formatShape(a.shape)}`,
    );
  }
  return runOperation("transpose", [a], { permutation: resolved }, () => {
    if (resolved.every((axis, index) => axis === index)) return makeView(a, a.shape);
    return runKernel("transpose", [a], { permutation: resolved });
  });
}

/**
 * The box starting at `begin` with extents `size` (a `-1` extent runs to the end of the axis). Shorter
 * `begin`/`size` arrays cover the leading axes; the remaining axes are taken whole.
 *
 * @throws ShapeError when the box leaves the tensor.
 */
export function slice(a: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  if (begin.length > a.rank || (size !== undefined && size.length > a.rank)) {
    throw new ShapeError(
      `slice: begin [${begin.join(", ")}] / size [${size?.join(", ") ?? ""}] have more axes than ${formatShape(a.shape)}`,
    );
  }
  const resolvedBegin = a.shape.map((_, axis) => begin[axis] ?? 0);
  const resolvedSize = a.shape.map((extent, axis) => {
    const requested = size?.[axis] ?? -1;
    return requested === -1 ? extent - resolvedBegin[axis]! : requested;
  });
  for (let axis = 0; axis < a.rank; axis++) {
    const start = resolvedBegin[axis]!;
    const extent = resolvedSize[axis]!;
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(extent) ||
      start < 0 ||
      extent < 0 ||
      start + extent > a.shape[axis]!
    ) {
      throw new ShapeError(
        `slice: begin [${resolvedBegin.join(", ")}] size [${resolvedSize.join(", ")}] is outside ${formatShape(a.shape)} on axis ${axis}`,
      );
    }
  }
  return runOperation("slice", [a], { begin: resolvedBegin, size: resolvedSize }, () =>
    runKernel("slice", [a], { begin: resolvedBegin, size: resolvedSize }),
  );
}

/**
 * Joins tensors along `axis`; all other extents and the dtype must agree.
 *
 * @throws ShapeError naming the shapes when they do not fit.
 */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new TensorArgumentError("concat: needs at least one tensor");
  const resolvedAxis = normalizeAxis("concat", axis, first.shape);
  for (const tensor of tensors) {
    const fits =
      tensor.rank === first.rank &&
      tensor.dtype === first.dtype &&
      tensor.shape.every((extent, index) => index === resolvedAxis || extent === first.shape[index]);
    if (!fits) {
      throw new ShapeError(
        `concat: shapes ${tensors.map((item) => `${formatShape(item.shape)} ${item.dtype}`).join(", ")} do not agree outside axis ${resolvedAxis}`,
      );
    }
  }
  return runOperation("concat", tensors, { axis: resolvedAxis }, () => {
    const outer = sizeOfShape(first.shape.slice(0, resolvedAxis));
    const views = tensors.map((tensor) => makeView(tensor, [outer, tensor.size / Math.max(outer, 1) || 0]));
    const joined = runKernel("concat", views, {});
    const outputShape = [...first.shape];
    outputShape[resolvedAxis] = tensors.reduce((sum, tensor) => sum + tensor.shape[resolvedAxis]!, 0);
    const output = makeView(joined, outputShape);
    for (const view of views) view.dispose();
    joined.dispose();
    return output;
  });
}

/**
 * Embedding lookup: rows of a 2-D `table` picked by int32 `indices` of any shape; the result has shape
 * `[...indices.shape, columns]`.
 *
 * @throws ShapeError when `table` is not 2-D; DTypeError when `indices` is not int32; TensorArgumentError for an
 *   index outside the table.
 */
export function gather(table: Tensor, indices: Tensor): Tensor {
  if (table.rank !== 2)
    throw new ShapeError(`gather: table must be 2-D [rows, columns], got ${formatShape(table.shape)}`);
  assertDtype("gather", "indices", indices, "int32");
  return runOperation("gather", [table, indices], {}, () => {
    const flat = makeView(indices, [indices.size]);
    const rows = runKernel("gather", [table, flat], {});
    const output = makeView(rows, [...indices.shape, table.shape[1]!]);
    flat.dispose();
    rows.dispose();
    return output;
  });
}

/**
 * The same values as another dtype: float → int32 truncates toward zero (NaN → 0); to float16/bfloat16 rounds
 * to nearest even as torch (overflow → ±infinity); from float16/bfloat16 (and int32 → float32) is exact.
 *
 * @throws TensorArgumentError for an unknown dtype name.
 * @example
 * ```ts
 * const halved = cast(weight, "bfloat16"); // half the bytes; matmul reads it directly
 * ```
 */
export function cast(a: Tensor, dtype: DType): Tensor {
  assertDtypeName("cast", dtype);
  return runOperation("cast", [a], { dtype }, () =>
    a.dtype === dtype ? makeView(a, a.shape) : runKernel("cast", [a], { dtype }),
  );
}
