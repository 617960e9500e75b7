import type { DType, KernelAttributeMap, KernelName, StorageValues } from "../../backend/backend.js";
import { isHalfDType } from "../../dtype/dtypes.js";
import { widenHalf } from "../../dtype/half-precision.js";

/** A tensor's elements on the CPU: what the reference kernels consume and produce. */
export interface CpuTensor {
  /** Row-major elements (`Float32Array` for float32, `Int32Array` for int32, bit patterns in a `Uint16Array` for float16/bfloat16). */
  readonly values: StorageValues;
  /** Logical shape. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
}

/** A reference kernel: pure function of CPU inputs (never modified) returning a fresh CPU output. */
export type CpuKernel<K extends KernelName> = (
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap[K],
) => CpuTensor;

/** The complete table of reference kernels: every kernel name has one. */
export type CpuKernelTable = { readonly [K in KernelName]: CpuKernel<K> };

/** Number of elements of a shape (1 for a scalar `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const extent of shape) size *= extent;
  return size;
}

/** Row-major strides of a shape, in elements. */
export function shapeStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis]!;
  }
  return strides;
}

/** The i-th input of a kernel call (the engine guarantees the count, so absence is a programming error). */
export function input(inputs: readonly CpuTensor[], index: number): CpuTensor {
  const tensor = inputs[index];
  if (tensor === undefined) throw new RangeError(`kernel input ${index} is missing`);
  return tensor;
}

/** A float32 CPU tensor. */
export function float32Tensor(values: Float32Array, shape: readonly number[]): CpuTensor {
  return { values, shape, dtype: "float32" };
}

/** The values of a tensor as numbers: float16/bfloat16 bit patterns widened to a new `Float32Array`, others as they are. */
export function numericValues(tensor: CpuTensor): Float32Array | Int32Array {
  if (isHalfDType(tensor.dtype)) return widenHalf(tensor.values as Uint16Array, tensor.dtype);
  return tensor.values as Float32Array | Int32Array;
}
