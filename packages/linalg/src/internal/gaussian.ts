import { createGenerator } from "@peftjs/tensor";
import type { Matrix } from "./matrix.js";

/** Draws a `rows × cols` matrix of standard normal samples; successive draws continue one stream. */
export type GaussianSource = (rows: number, cols: number) => Matrix;

/**
 * Standard normal samples from @peftjs/tensor's counter-based (Philox4x32-10) generator: each draw is
 * `generator.normal([rows, cols])`'s values (`normalValues`, without the tensor) in row-major order, so results are reproducible for a seed on every
 * backend. Every random number in this package comes from here.
 */
export function gaussianSource(seed: number): GaussianSource {
  const generator = createGenerator(seed);
  return (rows, cols) => ({ rows, cols, data: Float64Array.from(generator.normalValues(rows * cols, 0, 1)) });
}
