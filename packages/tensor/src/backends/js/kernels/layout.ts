import type { KernelAttributeMap } from "../../../backend/backend.js";
import { allocateStorage as allocate } from "../../../dtype/dtypes.js";
import { TensorArgumentError } from "../../../errors.js";
import { type CpuTensor, input, shapeSize, shapeStrides } from "../cpu-tensor.js";

/** Row lookup: `table[indices[i], :]` for each i. Throws for an index outside `[0, rows)`. */
export function gatherKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const table = input(inputs, 0);
  const indices = input(inputs, 1);
  const [rows, columns] = table.shape as [number, number];
  const count = indices.values.length;
  const output = allocate(table.dtype, count * columns);
  for (let position = 0; position < count; position++) {
    const row = indices.values[position]!;
    if (!(row >= 0 && row < rows)) {
      throw new TensorArgumentError(
        `gather index ${row} at position ${position} is outside the table's ${rows} rows`,
      );
    }
    output.set(table.values.subarray(row * columns, (row + 1) * columns), position * columns);
  }
  return { values: output, shape: [count, columns], dtype: table.dtype };
}

/** General axis permutation: output axis i is input axis `permutation[i]`. */
export function transposeKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["transpose"],
): CpuTensor {
  const a = input(inputs, 0);
  const permutation = attributes.permutation;
  const outputShape = permutation.map((axis) => a.shape[axis]!);
  const inputStrides = shapeStrides(a.shape);
  const strides = permutation.map((axis) => inputStrides[axis]!);
  const size = shapeSize(outputShape);
  const output = allocate(a.dtype, size);
  const rank = outputShape.length;
  if (rank === 0) {
    output.set(a.values);
    return { values: output, shape: outputShape, dtype: a.dtype };
  }
  const innerExtent = outputShape[rank - 1]!;
  const innerStride = strides[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let sourceOffset = 0;
  for (let outputOffset = 0; outputOffset < size; outputOffset += innerExtent) {
    for (let index = 0; index < innerExtent; index++)
      output[outputOffset + index] = a.values[sourceOffset + index * innerStride]!;
    for (let axis = rank - 2; axis >= 0; axis--) {
      counter[axis]!++;
      sourceOffset += strides[axis]!;
      if (counter[axis]! < outputShape[axis]!) break;
      sourceOffset -= strides[axis]! * counter[axis]!;
      counter[axis] = 0;
    }
  }
  return { values: output, shape: outputShape, dtype: a.dtype };
}

/** The box `begin .. begin + size`, copying contiguous runs of the last axis. */
export function sliceKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["slice"],
): CpuTensor {
  const a = input(inputs, 0);
  const { begin, size: extents } = attributes;
  const total = shapeSize(extents);
  const output = allocate(a.dtype, total);
  const rank = extents.length;
  if (rank === 0 || total === 0) {
    if (total === 1) output[0] = a.values[0]!;
    return { values: output, shape: [...extents], dtype: a.dtype };
  }
  const strides = shapeStrides(a.shape);
  const innerExtent = extents[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  let sourceOffset = 0;
  for (let axis = 0; axis < rank; axis++) sourceOffset += begin[axis]! * strides[axis]!;
  for (let outputOffset = 0; outputOffset < total; outputOffset += innerExtent) {
    output.set(a.values.subarray(sourceOffset, sourceOffset + innerExtent), outputOffset);
    for (let axis = rank - 2; axis >= 0; axis--) {
      counter[axis]!++;
      sourceOffset += strides[axis]!;
      if (counter[axis]! < extents[axis]!) break;
      sourceOffset -= strides[axis]! * counter[axis]!;
      counter[axis] = 0;
    }
  }
  return { values: output, shape: [...extents], dtype: a.dtype };
}

/** Concatenation of `[outer, columns_i]` inputs along axis 1. */
export function concatKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const first = input(inputs, 0);
  const outer = first.shape[0]!;
  const totalColumns = inputs.reduce((sum, part) => sum + part.shape[1]!, 0);
  const output = allocate(first.dtype, outer * totalColumns);
  let columnOffset = 0;
  for (const part of inputs) {
    const columns = part.shape[1]!;
    for (let row = 0; row < outer; row++) {
      output.set(part.values.subarray(row * columns, (row + 1) * columns), row * totalColumns + columnOffset);
    }
    columnOffset += columns;
  }
  return { values: output, shape: [outer, totalColumns], dtype: first.dtype };
}
