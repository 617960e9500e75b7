import type { DType, HalfDType, StorageValues } from "../backend/backend.js";
import { dtypes, isDType, isHalfDType } from "../dtype/dtypes.js";
import { halfBitsOf, narrowToHalf } from "../dtype/half-precision.js";
import { makeTensor } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { assertValidShape, formatShape, sizeOfShape } from "./shape-utils.js";

/** @throws TensorArgumentError unless `dtype` names a dtype. */
export function assertDtypeName(operation: string, dtype: unknown): asserts dtype is DType {
  if (!isDType(dtype)) {
    throw new TensorArgumentError(
      `${operation}: dtype must be one of ${dtypes.map((name) => `"${name}"`).join(", ")}, got "${String(dtype)}"`,
    );
  }
}

/** Storage for `values` as `dtype`: int32 truncates toward zero, 16-bit types round to nearest even. */
function storageFor(values: ArrayLike<number>, dtype: DType): StorageValues {
  if (isHalfDType(dtype)) return narrowToHalf(values, dtype);
  // Same-typed arrays copy at memcpy speed (a weight matrix's upload) instead of element by element.
  if (dtype === "float32" && values instanceof Float32Array) return values.slice();
  if (dtype === "int32" && values instanceof Int32Array) return values.slice();
  // Other arrays convert in the engine (a float64 host matrix of an SVD, a plain array): one native loop
  // instead of an element-by-element JavaScript loop over a polymorphic ArrayLike.
  if (dtype === "float32") return new Float32Array(values);
  const data = new Int32Array(values.length);
  for (let index = 0; index < values.length; index++) data[index] = Math.trunc(values[index]!);
  return data;
}

/**
 * A tensor from flat row-major values (copied; later changes to `values` do not affect the tensor).
 *
 * @param values - the elements; their count must equal the product of `shape`.
 * @param shape - extents of each axis; `[]` for a scalar.
 * @param dtype - defaults to `"int32"` for an `Int32Array`, else `"float32"`. int32 values are truncated toward
 *   zero; `"float16"`/`"bfloat16"` values are rounded to nearest even, as torch (`tensorFromBits` takes bit
 *   patterns instead).
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
  return makeTensor(storageFor(values, resolved), shape, resolved);
}

/**
 * A float16 or bfloat16 tensor from the bit patterns of its elements (copied), e.g. the `Uint16Array` view of a
 * checkpoint's BF16 bytes: no rounding, no float32 copy.
 *
 * @throws TensorArgumentError when `dtype` is not a 16-bit type; ShapeError when the count does not match.
 * @example
 * ```ts
 * const weight = tensorFromBits(Uint16Array.of(0x3f80, 0xc000), [2], "bfloat16"); // [1, -2]
 * ```
 */
export function tensorFromBits(bits: Uint16Array, shape: readonly number[], dtype: HalfDType): Tensor {
  if (dtype !== "float16" && dtype !== "bfloat16") {
    throw new TensorArgumentError(
      `tensorFromBits: dtype must be "float16" or "bfloat16", got "${String(dtype)}"`,
    );
  }
  assertValidShape("tensorFromBits", shape);
  const size = sizeOfShape(shape);
  if (bits.length !== size) {
    throw new ShapeError(
      `tensorFromBits: ${bits.length} values do not fill shape ${formatShape(shape)} (${size} elements)`,
    );
  }
  return makeTensor(bits.slice(), shape, dtype);
}

/** A rank-0 tensor holding `value`. */
export function scalar(value: number, dtype: DType = "float32"): Tensor {
  return tensor([value], [], dtype);
}

/** A tensor of `shape` with every element equal to `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "float32"): Tensor {
  assertDtypeName("full", dtype);
  assertValidShape("full", shape);
  const size = sizeOfShape(shape);
  if (isHalfDType(dtype))
    return makeTensor(new Uint16Array(size).fill(halfBitsOf(value, dtype)), shape, dtype);
  const data = dtype === "int32" ? new Int32Array(size) : new Float32Array(size);
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
  assertDtypeName("arange", dtype);
  const count = Math.max(0, Math.ceil((stop - start) / step));
  const values = Array.from({ length: count }, (_, index) => start + index * step);
  return makeTensor(storageFor(values, dtype), [count], dtype);
}
