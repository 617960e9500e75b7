import type { KernelAttributeMap } from "../../../backend/backend.js";
import { type CpuTensor, float32Tensor, input } from "../cpu-tensor.js";

const fround = Math.fround;

/** Row maximum and Σ exp(x − max) (accumulated in float64) of row `row` of `[rows, classes]` logits. */
function rowStatistics(logits: ArrayLike<number>, row: number, classes: number): [number, number] {
  const offset = row * classes;
  let maximum = Number.NEGATIVE_INFINITY;
  for (let column = 0; column < classes; column++) maximum = Math.max(maximum, logits[offset + column]!);
  let sum = 0;
  for (let column = 0; column < classes; column++) sum += Math.exp(logits[offset + column]! - maximum);
  return [maximum, sum];
}

/** True when `label` picks a class of a `classes`-wide row. */
function isClass(label: number, classes: number): boolean {
  return label >= 0 && label < classes;
}

/**
 * Per-row cross-entropy of `[rows, classes]` logits against int32 labels, without materialising the
 * log-probabilities: `log Σ exp(x − m) − (x_label − m)` (m the row maximum), in torch's float32 order
 * (`x_label − m` and the log of the sum rounded to float32, then their difference); 0 where the label is the
 * ignore index; NaN for any other label outside `[0, classes)`.
 */
export function crossEntropyRowsKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["crossEntropyRows"],
): CpuTensor {
  const logits = input(inputs, 0);
  const labels = input(inputs, 1);
  const [rows, classes] = logits.shape as [number, number];
  const output = new Float32Array(rows);
  for (let row = 0; row < rows; row++) {
    const label = labels.values[row]!;
    if (label === attributes.ignoreIndex) continue;
    if (!isClass(label, classes)) {
      output[row] = Number.NaN;
      continue;
    }
    const [maximum, sum] = rowStatistics(logits.values, row, classes);
    output[row] = fround(Math.log(sum)) - fround(logits.values[row * classes + label]! - maximum);
  }
  return float32Tensor(output, [rows]);
}

/**
 * The fused gradient of the mean cross-entropy: `scale · (softmax(row) − onehot(label))` on rows whose label is
 * a class, 0 on ignored rows (NaN on rows with an invalid label). `scale` (a float32 scalar input) is the upstream
 * gradient divided by the number of counted rows.
 */
export function crossEntropyGradientKernel(
  inputs: readonly CpuTensor[],
  attributes: KernelAttributeMap["crossEntropyGradient"],
): CpuTensor {
  const logits = input(inputs, 0);
  const labels = input(inputs, 1);
  const scale = input(inputs, 2).values[0]!;
  const [rows, classes] = logits.shape as [number, number];
  const output = new Float32Array(rows * classes);
  for (let row = 0; row < rows; row++) {
    const label = labels.values[row]!;
    if (label === attributes.ignoreIndex) continue;
    const offset = row * classes;
    if (!isClass(label, classes)) {
      output.fill(Number.NaN, offset, offset + classes);
      continue;
    }
    const [maximum, sum] = rowStatistics(logits.values, row, classes);
    for (let column = 0; column < classes; column++) {
      const probability = Math.exp(logits.values[offset + column]! - maximum) / sum;
      output[offset + column] = scale * (column === label ? probability - 1 : probability);
    }
  }
  return float32Tensor(output, [rows, classes]);
}
