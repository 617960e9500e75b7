import type { SvdKernels } from "./svd-kernels.js";

/** Sweeps collected before they are applied together (see {@link RotationBatch}). */
export const batchLength = 16;

/** Heap values one batch needs for its coefficients when chains have at most `maxRotations` rotations. */
export function batchCoefficientElements(maxRotations: number): number {
  return batchLength * 2 * maxRotations;
}

/**
 * Delays the row rotations of consecutive QR sweeps and applies them together. Rotations mix rows, never
 * columns, so each group of columns can take every pending sweep in turn while its slice of the touched rows
 * stays in cache (the wavefront idea of Van Zee, van de Geijn & Quintana-Ortí, 2011): the matrix is streamed
 * from memory once per batch instead of once per sweep. The matrix and the (cos, sin) pairs live on the
 * kernel heap; {@link SvdKernels.rotate} does the work.
 */
export class RotationBatch {
  private readonly firsts: number[] = [];
  private readonly counts: number[] = [];
  private filled = 0;

  /**
   * @param kernels The heap and kernels.
   * @param data Heap index of the row-major matrix whose rows rotate.
   * @param cols Its number of columns.
   * @param coefficients Heap index of {@link batchCoefficientElements} values of room.
   */
  constructor(
    private readonly kernels: SvdKernels,
    private readonly data: number,
    private readonly cols: number,
    private readonly coefficients: number,
  ) {}

  /** Queues one sweep ([x; y] ← [c s; −s c]·[x; y] on consecutive row pairs); flushes when the batch is full. */
  add(first: number, cosines: Float64Array, sines: Float64Array): void {
    const heap = this.kernels.heap;
    let pair = this.coefficients + this.filled;
    for (let t = 0; t < cosines.length; t++, pair += 2) {
      heap[pair] = cosines[t] as number;
      heap[pair + 1] = sines[t] as number;
    }
    this.firsts.push(first);
    this.counts.push(cosines.length);
    this.filled += 2 * cosines.length;
    if (this.firsts.length >= batchLength) this.flush();
  }

  /** Applies every queued sweep in order. */
  flush(): void {
    const count = this.firsts.length;
    if (count === 0) return;
    const table = this.kernels.chainTable;
    let pair = this.coefficients;
    for (let chain = 0; chain < count; chain++) {
      table[3 * chain] = this.firsts[chain] as number;
      table[3 * chain + 1] = this.counts[chain] as number;
      table[3 * chain + 2] = pair;
      pair += 2 * (this.counts[chain] as number);
    }
    this.kernels.rotate(this.data, this.cols, count);
    this.firsts.length = 0;
    this.counts.length = 0;
    this.filled = 0;
  }
}
