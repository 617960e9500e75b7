import type { DType, KernelAttributeMap, StorageValues, TensorValues } from "../../../backend/backend.js";
import { isHalfDType } from "../../../dtype/dtypes.js";
import { narrowToHalf } from "../../../dtype/half-precision.js";
import {
  type CpuTensor,
  float32Tensor,
  input,
  numericValues,
  shapeSize,
  shapeStrides,
} from "../cpu-tensor.js";

/** A binary elementwise operation in float32 (JavaScript computes in float64; storing rounds to float32). */
type BinaryOperation = (left: number, right: number) => number;

const binaryOperations = {
  add: (left: number, right: number) => left + right,
  sub: (left: number, right: number) => left - right,
  mul: (left: number, right: number) => left * right,
  div: (left: number, right: number) => left / right,
} satisfies Record<string, BinaryOperation>;

/** Names of the broadcasting binary kernels. */
export type BinaryKernelName = keyof typeof binaryOperations;

function outputArray(dtype: DType, size: number): TensorValues {
  return dtype === "int32" ? new Int32Array(size) : new Float32Array(size);
}

/**
 * Reference broadcasting binary kernel. Inputs have the output's rank; an axis of extent 1 is repeated.
 * Integer inputs give an integer output (division truncates toward zero, as `torch.div(rounding_mode="trunc")`).
 */
export function binaryKernel(name: BinaryKernelName) {
  const operation: BinaryOperation = binaryOperations[name];
  return (inputs: readonly CpuTensor[], attributes: KernelAttributeMap["add"]): CpuTensor => {
    const a = input(inputs, 0);
    const b = input(inputs, 1);
    const outputShape = attributes.outputShape;
    const dtype: DType = a.dtype === "int32" && b.dtype === "int32" ? "int32" : "float32";
    const size = shapeSize(outputShape);
    const output = outputArray(dtype, size);
    const left = a.values;
    const right = b.values;
    if (left.length === size && right.length === size) {
      for (let index = 0; index < size; index++) output[index] = operation(left[index]!, right[index]!);
    } else if (right.length === 1) {
      const value = right[0]!;
      for (let index = 0; index < size; index++) output[index] = operation(left[index]!, value);
    } else if (left.length === 1) {
      const value = left[0]!;
      for (let index = 0; index < size; index++) output[index] = operation(value, right[index]!);
    } else {
      broadcastLoop(a.shape, b.shape, outputShape, left, right, output, operation);
    }
    return { values: output, shape: outputShape, dtype };
  };
}

/** General broadcasting: an odometer over all but the last axis, a strided inner loop over the last. */
function broadcastLoop(
  leftShape: readonly number[],
  rightShape: readonly number[],
  outputShape: readonly number[],
  left: StorageValues,
  right: StorageValues,
  output: TensorValues,
  operation: BinaryOperation,
): void {
  const rank = outputShape.length;
  const leftStrides = shapeStrides(leftShape).map((stride, axis) => (leftShape[axis] === 1 ? 0 : stride));
  const rightStrides = shapeStrides(rightShape).map((stride, axis) => (rightShape[axis] === 1 ? 0 : stride));
  const innerExtent = outputShape[rank - 1]!;
  const leftInner = leftStrides[rank - 1]!;
  const rightInner = rightStrides[rank - 1]!;
  const counter = new Array<number>(rank).fill(0);
  const size = shapeSize(outputShape);
  let leftOffset = 0;
  let rightOffset = 0;
  for (let outputOffset = 0; outputOffset < size; outputOffset += innerExtent) {
    for (let index = 0; index < innerExtent; index++) {
      output[outputOffset + index] = operation(
        left[leftOffset + index * leftInner]!,
        right[rightOffset + index * rightInner]!,
      );
    }
    // Advance the odometer over axes rank-2 .. 0.
    for (let axis = rank - 2; axis >= 0; axis--) {
      counter[axis]!++;
      leftOffset += leftStrides[axis]!;
      rightOffset += rightStrides[axis]!;
      if (counter[axis]! < outputShape[axis]!) break;
      leftOffset -= leftStrides[axis]! * counter[axis]!;
      rightOffset -= rightStrides[axis]! * counter[axis]!;
      counter[axis] = 0;
    }
  }
}

/** Reference unary float32 kernel from a scalar function. */
export function unaryKernel(operation: (value: number) => number) {
  return (inputs: readonly CpuTensor[]): CpuTensor => {
    const a = input(inputs, 0);
    const values = a.values;
    const output = new Float32Array(values.length);
    for (let index = 0; index < values.length; index++) output[index] = operation(values[index]!);
    return float32Tensor(output, a.shape);
  };
}

/** SiLU in float32 as torch: x * sigmoid(x), with sigmoid rounded to float32 first. */
export function siluValue(value: number): number {
  return value * Math.fround(1 / (1 + Math.exp(-value)));
}

/** Negation that keeps int32 tensors int32. */
export function negKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const output = outputArray(a.dtype, a.values.length);
  for (let index = 0; index < output.length; index++) output[index] = -a.values[index]!;
  return { values: output, shape: a.shape, dtype: a.dtype };
}

/** `factor * a`, float32 output. */
export function scaleKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["scale"],
): CpuTensor {
  const a = input(inputs, 0);
  const factor = attributes.factor;
  const output = new Float32Array(a.values.length);
  for (let index = 0; index < output.length; index++) output[index] = factor * a.values[index]!;
  return float32Tensor(output, a.shape);
}

/** `alpha * x + y` (BLAS axpy), float32 output; the product is rounded to float32 before the sum, as torch's `y.add(x, alpha=alpha)`. */
export function axpyKernel(inputs: readonly CpuTensor[], attributes: KernelAttributeMap["axpy"]): CpuTensor {
  const x = input(inputs, 0);
  const y = input(inputs, 1);
  const alpha = attributes.alpha;
  const output = new Float32Array(x.values.length);
  for (let index = 0; index < output.length; index++)
    output[index] = Math.fround(alpha * x.values[index]!) + y.values[index]!;
  return float32Tensor(output, x.shape);
}

/** `min(max(a, min), max)`; NaN stays NaN (as torch.clamp). Keeps the input dtype. */
export function clampKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["clamp"],
): CpuTensor {
  const a = input(inputs, 0);
  const { min, max } = attributes;
  const output = outputArray(a.dtype, a.values.length);
  for (let index = 0; index < output.length; index++)
    output[index] = Math.min(Math.max(a.values[index]!, min), max);
  return { values: output, shape: a.shape, dtype: a.dtype };
}

/** 1 where finite, 0 for NaN and ±Infinity; int32 output. */
export function isFiniteKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const output = new Int32Array(a.values.length);
  for (let index = 0; index < output.length; index++)
    output[index] = Number.isFinite(a.values[index]!) ? 1 : 0;
  return { values: output, shape: a.shape, dtype: "int32" };
}

/**
 * Converts between dtypes: float → int32 truncates toward zero (NaN becomes 0); to float16/bfloat16 rounds the
 * float32 value to nearest even (as torch: an int32 becomes a float32 first); from them widens exactly.
 */
export function castKernel(inputs: readonly CpuTensor[], attributes: KernelAttributeMap["cast"]): CpuTensor {
  const a = input(inputs, 0);
  const target = attributes.dtype;
  const values = numericValues(a);
  let output: StorageValues;
  if (isHalfDType(target)) {
    output = narrowToHalf(a.dtype === "int32" ? Float32Array.from(values) : values, target);
  } else {
    output = outputArray(target, values.length);
    for (let index = 0; index < output.length; index++) output[index] = values[index]!;
  }
  return { values: output, shape: a.shape, dtype: target };
}

/** SwiGLU `silu(gate) · up`, the silu rounded to float32 first (as torch's `act_fn(gate) * up`). */
export function swiGluKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const gate = input(inputs, 0);
  const up = input(inputs, 1);
  const output = new Float32Array(gate.values.length);
  for (let index = 0; index < output.length; index++)
    output[index] = Math.fround(siluValue(gate.values[index]!)) * up.values[index]!;
  return float32Tensor(output, gate.shape);
}

/** The SwiGLU gradient for the gate (`dy·up·σ(g)(1 + g(1 − σ(g)))`) or for up (`dy·silu(g)`), in float64. */
export function swiGluGradientKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["swiGluGradient"],
): CpuTensor {
  const gate = input(inputs, 0);
  const up = input(inputs, 1);
  const upstream = input(inputs, 2);
  const output = new Float32Array(gate.values.length);
  for (let index = 0; index < output.length; index++) {
    const g = gate.values[index]!;
    const sigmoid = 1 / (1 + Math.exp(-g));
    output[index] =
      attributes.input === 0
        ? upstream.values[index]! * up.values[index]! * sigmoid * (1 + g * (1 - sigmoid))
        : upstream.values[index]! * g * sigmoid;
  }
  return float32Tensor(output, gate.shape);
}
