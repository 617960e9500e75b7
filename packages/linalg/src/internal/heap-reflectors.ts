import type { SvdKernels } from "./svd-kernels.js";

/** Householder reflectors stored on the kernel heap: reflector j has v (v[0] = 1) at heap[starts[j]…]. */
export interface HeapReflectors {
  readonly starts: Int32Array;
  readonly taus: Float64Array;
}

/** Number of reflectors applied to a pair of rows while they sit in cache. */
const reflectorBlock = 8;

/**
 * X ← X·H_{count−1}···H_0 for the rows × cols matrix X at heap index `data`, reflector j acting on columns
 * j + shift … cols − 1. Unless `dense`, X starts as [I 0] (forming Qᵀ): rows r < j + shift are still unit
 * vectors with zeros where H_j acts and are skipped. Reflectors go in blocks of eight per pair of rows, so
 * each row is loaded once per block.
 */
export function accumulateReflectors(
  kernels: SvdKernels,
  data: number,
  rows: number,
  cols: number,
  reflectors: HeapReflectors,
  count: number,
  shift: number,
  dense = false,
): void {
  // Rows at or above this index are touched by H_j (all rows when X is dense).
  const firstTouched = (j: number) => (dense ? 0 : j + shift);
  for (let high = count - 1; high >= 0; high -= reflectorBlock) {
    const low = Math.max(0, high - reflectorBlock + 1);
    for (let r = firstTouched(low); r < rows; r += 2) {
      const paired = r + 1 < rows;
      for (let j = high; j >= low; j--) {
        const start = j + shift;
        const tau = reflectors.taus[j] as number;
        if (tau === 0) continue;
        const vector = reflectors.starts[j] as number;
        const length = cols - start;
        const first = data + r * cols + start;
        const touched = firstTouched(j);
        if (paired && r >= touched) kernels.reflectPair(first, first + cols, vector, length, tau);
        else if (r >= touched) kernels.reflectRow(first, vector, length, tau);
        else if (paired && r + 1 >= touched) kernels.reflectRow(first + cols, vector, length, tau);
      }
    }
  }
}
