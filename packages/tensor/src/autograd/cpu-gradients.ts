/**
 * Gradients that scatter values to data-dependent positions (embedding rows, the position of a maximum, the
 * inside of a clamp). No kernel scatters, so these read the values they need back to the CPU, build the
 * gradient there and upload it as one new tensor (on the active backend); on a backend that reads only
 * asynchronously (`webgpu`) they throw `SynchronousReadError`. (The cross-entropy gradient, the one a training
 * step needs, is a fused kernel on every backend: see `crossEntropyGradient` in `ops/loss.ts`.)
 */
import { makeTensor } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { argmax } from "../ops/reduction.js";
import { sizeOfShape } from "../ops/shape-utils.js";

/**
 * Gradient of `gather(table, indices)` with respect to `table`: row `indices[i]` receives the sum of the
 * upstream rows `i` that picked it (scatter-add), accumulated in float32 in index order as torch does.
 *
 * @param upstream - `[...indices.shape, columns]`.
 */
export function scatterAddRows(upstream: Tensor, indices: Tensor, tableShape: readonly number[]): Tensor {
  const columns = tableShape[1]!;
  const rows = indices.dataSync();
  const values = upstream.toFloat32Array();
  const table = new Float32Array(sizeOfShape(tableShape));
  for (let index = 0; index < rows.length; index++) {
    const destination = rows[index]! * columns;
    const source = index * columns;
    for (let column = 0; column < columns; column++) table[destination + column]! += values[source + column]!;
  }
  return makeTensor(table, tableShape, "float32");
}

/**
 * Gradient of `max(a, axis)`: each upstream value goes to the first maximum of its slice (as `torch.max(dim)`
 * routes it to the returned index), zero elsewhere.
 *
 * @param axis - the reduced axis (non-negative), or undefined when every element was reduced.
 */
export function maxGradient(upstream: Tensor, input: Tensor, axis: number | undefined): Tensor {
  const shape = input.shape;
  const outer = axis === undefined ? 1 : sizeOfShape(shape.slice(0, axis));
  const reduced = axis === undefined ? input.size : shape[axis]!;
  const inner = axis === undefined ? 1 : sizeOfShape(shape.slice(axis + 1));
  const positions = argmax(input, axis);
  const winners = positions.dataSync();
  positions.dispose();
  const values = upstream.toFloat32Array();
  const gradient = new Float32Array(input.size);
  for (let outerIndex = 0; outerIndex < outer; outerIndex++) {
    for (let innerIndex = 0; innerIndex < inner; innerIndex++) {
      const slot = outerIndex * inner + innerIndex;
      gradient[(outerIndex * reduced + winners[slot]!) * inner + innerIndex] = values[slot]!;
    }
  }
  return makeTensor(gradient, shape, "float32");
}

/**
 * Gradient of `clamp(a, min, max)`: the upstream where `min ≤ a ≤ max`, zero elsewhere (torch's rule, bounds
 * inclusive).
 */
export function clampGradient(upstream: Tensor, input: Tensor, min: number, max: number): Tensor {
  const inputs = input.toFloat32Array();
  const gradient = upstream.toFloat32Array();
  for (let index = 0; index < gradient.length; index++) {
    const value = inputs[index]!;
    if (!(value >= min && value <= max)) gradient[index] = 0;
  }
  return makeTensor(gradient, input.shape, "float32");
}
