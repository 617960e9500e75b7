import { type CpuTensor, float32Tensor, input } from "../cpu-tensor.js";

/** Sum over the middle axis of `[outer, reduced, inner]`, accumulated in float64, rounded once to float32. */
export function sumKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const [outer, reduced, inner] = a.shape as [number, number, number];
  const output = new Float32Array(outer * inner);
  const accumulator = new Float64Array(inner);
  for (let block = 0; block < outer; block++) {
    accumulator.fill(0);
    for (let step = 0; step < reduced; step++) {
      const offset = (block * reduced + step) * inner;
      for (let index = 0; index < inner; index++) accumulator[index]! += a.values[offset + index]!;
    }
    output.set(accumulator, block * inner);
  }
  return float32Tensor(output, [outer, inner]);
}

/** Maximum over the middle axis of `[outer, reduced, inner]`; NaN propagates (as torch.amax). */
export function maxKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const [outer, reduced, inner] = a.shape as [number, number, number];
  const output = new Float32Array(outer * inner);
  for (let block = 0; block < outer; block++) {
    for (let index = 0; index < inner; index++) {
      let best = Number.NEGATIVE_INFINITY;
      for (let step = 0; step < reduced; step++) {
        const value = a.values[(block * reduced + step) * inner + index]!;
        if (value > best || Number.isNaN(value)) {
          best = value;
          if (Number.isNaN(value)) break;
        }
      }
      output[block * inner + index] = best;
    }
  }
  return float32Tensor(output, [outer, inner]);
}

/** Index of the first maximum over the middle axis of `[outer, reduced, inner]` (a NaN counts as the maximum); int32. */
export function argmaxKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  const [outer, reduced, inner] = a.shape as [number, number, number];
  const output = new Int32Array(outer * inner);
  for (let block = 0; block < outer; block++) {
    for (let index = 0; index < inner; index++) {
      let best = Number.NEGATIVE_INFINITY;
      let bestStep = 0;
      for (let step = 0; step < reduced; step++) {
        const value = a.values[(block * reduced + step) * inner + index]!;
        if (Number.isNaN(value)) {
          bestStep = step;
          break;
        }
        if (value > best) {
          best = value;
          bestStep = step;
        }
      }
      output[block * inner + index] = bestStep;
    }
  }
  return { values: output, shape: [outer, inner], dtype: "int32" };
}

/** `sqrt(sum(a²))` over all elements, accumulated in float64; scalar output. */
export function frobeniusNormKernel(inputs: readonly CpuTensor[]): CpuTensor {
  const a = input(inputs, 0);
  let sum = 0;
  for (let index = 0; index < a.values.length; index++) {
    const value = a.values[index]!;
    sum += value * value;
  }
  return float32Tensor(Float32Array.of(Math.sqrt(sum)), []);
}
