import type { KernelAttributeMap } from "../../../backend/backend.js";
import { type CpuTensor, float32Tensor, input } from "../cpu-tensor.js";

const fround = Math.fround;

/** Row softmax of `[rows, columns]`: exp(x − max) / Σ exp(x − max), the sum accumulated in float64. */
export function softmaxKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const [rows, columns] = a.shape as [number, number];
  const output = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    let maximum = Number.NEGATIVE_INFINITY;
    for (let column = 0; column < columns; column++) maximum = Math.max(maximum, a.values[offset + column]!);
    let sum = 0;
    for (let column = 0; column < columns; column++) {
      const value = Math.exp(a.values[offset + column]! - maximum);
      output[offset + column] = value;
      sum += value;
    }
    const inverse = 1 / sum;
    for (let column = 0; column < columns; column++) output[offset + column]! *= inverse;
  }
  return float32Tensor(output, [rows, columns]);
}

/**
 * Hugging Face LlamaRMSNorm on `[rows, columns]`: variance = mean(x²) (float32), then
 * `weight * (x * rsqrt(variance + eps))`, each step rounded to float32 in torch's order.
 */
export function rmsNormKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["rmsNorm"],
): CpuTensor {
  const x = input(inputs, 0);
  const weight = input(inputs, 1);
  const [rows, columns] = x.shape as [number, number];
  const output = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    let sumOfSquares = 0;
    for (let column = 0; column < columns; column++) {
      const value = x.values[offset + column]!;
      sumOfSquares += value * value;
    }
    const variance = fround(sumOfSquares / columns);
    const inverseRoot = fround(1 / Math.sqrt(fround(variance + attributes.epsilon)));
    for (let column = 0; column < columns; column++) {
      output[offset + column] = weight.values[column]! * fround(x.values[offset + column]! * inverseRoot);
    }
  }
  return float32Tensor(output, [rows, columns]);
}

/**
 * Rotary embedding, rotate-half convention (HF `apply_rotary_pos_emb`): `x * cos + rotate_half(x) * sin`
 * with `rotate_half([x1, x2]) = [-x2, x1]`. `x` is `[outer, sequence, headDim]`, `cos`/`sin` `[sequence, headDim]`.
 */
export function rotaryEmbeddingKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const x = input(inputs, 0);
  const cos = input(inputs, 1);
  const sin = input(inputs, 2);
  const [outer, sequence, headDim] = x.shape as [number, number, number];
  const half = headDim / 2;
  const output = new Float32Array(x.values.length);
  for (let block = 0; block < outer; block++) {
    for (let position = 0; position < sequence; position++) {
      const offset = (block * sequence + position) * headDim;
      const tableOffset = position * headDim;
      for (let index = 0; index < headDim; index++) {
        const rotated = index < half ? -x.values[offset + index + half]! : x.values[offset + index - half]!;
        output[offset + index] =
          fround(x.values[offset + index]! * cos.values[tableOffset + index]!) +
          fround(rotated * sin.values[tableOffset + index]!);
      }
    }
  }
  return float32Tensor(output, x.shape);
}

/**
 * Softmax of `scale·x + mask` per row, with an optional causal mask (see `KernelAttributeMap.maskedSoftmax`):
 * the scaled score and the sum with the mask are rounded to float32 in that order, then the row goes through
 * the same max-subtracted softmax as {@link softmaxKernel}; excluded elements are −∞ (probability 0).
 */
export function maskedSoftmaxKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["maskedSoftmax"],
): CpuTensor {
  const x = input(inputs, 0);
  const mask = inputs[1];
  const [rows, columns] = x.shape as [number, number];
  const maskRows = mask === undefined ? 0 : mask.shape[0]!;
  const { scale, queries } = attributes;
  const scores = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    const maskOffset = mask === undefined ? 0 : (row % maskRows) * columns;
    // The last key a query may see: i + columns − queries.
    const lastKey = queries > 0 ? (row % queries) + columns - queries : columns - 1;
    for (let column = 0; column < columns; column++) {
      let value = fround(scale * x.values[offset + column]!);
      if (mask !== undefined) value = fround(value + mask.values[maskOffset + column]!);
      scores[offset + column] = column > lastKey ? Number.NEGATIVE_INFINITY : value;
    }
  }
  return softmaxKernel([float32Tensor(scores, [rows, columns])]);
}

/** `scale · y ⊙ (dy − Σ_row dy ⊙ y)` per row (the row sum accumulated in float64). */
export function softmaxGradientKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["softmaxGradient"],
): CpuTensor {
  const y = input(inputs, 0);
  const dy = input(inputs, 1);
  const [rows, columns] = y.shape as [number, number];
  const output = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    let dot = 0;
    for (let column = 0; column < columns; column++)
      dot += dy.values[offset + column]! * y.values[offset + column]!;
    const projection = fround(dot);
    for (let column = 0; column < columns; column++) {
      const value = fround(y.values[offset + column]! * fround(dy.values[offset + column]! - projection));
      output[offset + column] = attributes.scale === 1 ? value : attributes.scale * value;
    }
  }
  return float32Tensor(output, [rows, columns]);
}

/**
 * `r · (g − x · r² · mean(g ⊙ x))` per row of `[rows, columns]` (g = dy ⊙ weight, r = (mean(x²) + ε)^(−1/2)),
 * the two row sums accumulated in float64.
 */
export function rmsNormGradientKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["rmsNormGradient"],
): CpuTensor {
  const x = input(inputs, 0);
  const weight = input(inputs, 1);
  const dy = input(inputs, 2);
  const [rows, columns] = x.shape as [number, number];
  const output = new Float32Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    let sumOfSquares = 0;
    let dot = 0;
    for (let column = 0; column < columns; column++) {
      const value = x.values[offset + column]!;
      sumOfSquares += value * value;
      dot += dy.values[offset + column]! * weight.values[column]! * value;
    }
    const reciprocal = 1 / Math.sqrt(sumOfSquares / columns + attributes.epsilon);
    const projection = reciprocal * reciprocal * (dot / columns);
    for (let column = 0; column < columns; column++) {
      const g = dy.values[offset + column]! * weight.values[column]!;
      output[offset + column] = reciprocal * (g - x.values[offset + column]! * projection);
    }
  }
  return float32Tensor(output, [rows, columns]);
}
