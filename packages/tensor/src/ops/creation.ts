import type { DType, TensorValues } from "../backend/backend.js";
import { makeTensor } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { assertValidShape, formatShape, sizeOfShape } from "./shape-utils.js";

function allocate(dtype: DType, size: number): TensorValues {
  return dtype === "int32" ? new Int32Array(size) : new Float32Array(size);
}

function assertDtypeName(operation: string, dtype: string): asserts dtype is DType {
  if (dtype !== "float32" && dtype !== "int32") {
    throw new TensorArgumentError(`${operation}: dtype must be "float32" or "int32", got "${dtype}"`);
  }
}

/**
 * A tensor from flat row-major values (copied; later changes to `values` do not affect the tensor).
 *
 * @param values - the elements; their count must equal the product of `shape`.
 * @param shape - extents of each axis; `[]` for a scalar.
 * @param dtype - defaults to `"int32"` for an `Int32Array`, else `"float32"`. int32 values are truncated toward zero.
 * @throws ShapeError when the number of values does not match the shape.
 */
export function tensor(values: ArrayLike<number>, shape: readonly number[], dtype?: DType): Tensor {
  const resolved: DType = dtype ?? (values instanceof Int32Array ? "int32" : "float32");
  assertDtypeName("tensor", resolved);
  assertValidShape("tensor", shape);
  const size = sizeOfShape(shape);
  if (values.length !== size) {
    throw new ShapeError(
      `tensor: ${values.length} values do not fill shape ${formatShape(shape)} (${size} elements)`,
    );
  }
  const data = allocate(resolved, size);
  if (resolved === "int32") {
    for (let index = 0; index < size; index++) data[index] = Math.trunc(values[index]!);
  } else {
    for (let index = 0; index < size; index++) data[index] = values[index]!;
  }
  return makeTensor(data, shape, resolved);
}

/** A rank-0 tensor holding `value`. */
export function scalar(value: number, dtype: DType = "float32"): Tensor {
  return tensor([value], [], dtype);
}

/** A tensor of `shape` with every element equal to `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "float32"): Tensor {
  assertDtypeName("full", dtype);
  assertValidShape("full", shape);
  const data = allocate(dtype, sizeOfShape(shape));
  data.fill(value);
  return makeTensor(data, shape, dtype);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], dtype: DType = "float32"): Tensor {
  return full(shape, 0, dtype);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], dtype: DType = "float32"): Tensor {
  return full(shape, 1, dtype);
}

/** The `n × n` identity matrix (float32). */
export function eye(n: number): Tensor {
  assertValidShape("eye", [n]);
  const data = new Float32Array(n * n);
  for (let index = 0; index < n; index++) data[index * n + index] = 1;
  return makeTensor(data, [n, n], "float32");
}

/** `[start, start + step, ...)` up to but excluding `stop`, as in `torch.arange`. */
export function arange(start: number, stop: number, step = 1, dtype: DType = "float32"): Tensor {
  if (step === 0 || !Number.isFinite(step))
    throw new TensorArgumentError(`arange: step must be a non-zero finite number, got ${step}`);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  const data = allocate(dtype, count);
  for (let index = 0; index < count; index++) data[index] = start + index * step;
  return makeTensor(data, [count], dtype);
}
