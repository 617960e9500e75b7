import type { Matrix } from "./matrix.js";
import {
  createWasmRotationKernel,
  type RotationChainView as RotationChain,
  type WasmRotationKernel,
} from "./wasm-rotation-kernel.js";

/** Sweeps collected before they are applied together (see {@link RotationBatch}). */
const batchLength = 16;

/**
 * Delays the row rotations of consecutive QR sweeps and applies them together. Rotations mix rows, never
 * columns, so each group of four columns can take every pending sweep in turn while its slice of the touched
 * rows stays in cache (the wavefront idea of Van Zee, van de Geijn & Quintana-Ortí, 2011): the matrix is
 * streamed from memory once per batch instead of once per sweep. Within a chain, row first + t is final after
 * rotation t, so the running row stays in registers: one load and one store per element and rotation.
 * Where WebAssembly SIMD is available the matrix is moved into WebAssembly memory and the same loop runs
 * there (bit-identical results, see {@link createWasmRotationKernel}); {@link RotationBatch.matrix} is then a
 * view on that memory, and callers must use it instead of the matrix they passed in.
 */
export class RotationBatch {
  /** The matrix the rotations update (the caller's, or its copy in WebAssembly memory). */
  readonly matrix: Matrix;
  private readonly pending: RotationChain[] = [];
  private readonly kernel: WasmRotationKernel | undefined;

  constructor(matrix: Matrix) {
    this.kernel = createWasmRotationKernel(matrix.data, matrix.rows, matrix.cols, batchLength);
    this.matrix = this.kernel === undefined ? matrix : { ...matrix, data: this.kernel.data };
  }

  /** Queues one sweep ([x; y] ← [c s; −s c]·[x; y] on consecutive row pairs); flushes when the batch is full. */
  add(first: number, cosines: Float64Array, sines: Float64Array): void {
    this.pending.push({ first, cosines, sines });
    if (this.pending.length >= batchLength) this.flush();
  }

  /** Applies every queued sweep in order. */
  flush(): void {
    if (this.pending.length === 0) return;
    const { cols, data } = this.matrix;
    const chains = this.pending;
    let i = 0;
    if (this.kernel !== undefined) {
      this.kernel.rotate(chains);
      // The kernel takes columns in pairs; an odd last column is left to the loops below.
      i = cols - (cols % 2);
    }
    for (; i + 3 < cols; i += 4) {
      for (const { first, cosines, sines } of chains) {
        let offset = first * cols + i;
        let x0 = data[offset] as number;
        let x1 = data[offset + 1] as number;
        let x2 = data[offset + 2] as number;
        let x3 = data[offset + 3] as number;
        for (let t = 0; t < cosines.length; t++) {
          const cosine = cosines[t] as number;
          const sine = sines[t] as number;
          const next = offset + cols;
          const y0 = data[next] as number;
          const y1 = data[next + 1] as number;
          const y2 = data[next + 2] as number;
          const y3 = data[next + 3] as number;
          data[offset] = cosine * x0 + sine * y0;
          data[offset + 1] = cosine * x1 + sine * y1;
          data[offset + 2] = cosine * x2 + sine * y2;
          data[offset + 3] = cosine * x3 + sine * y3;
          x0 = cosine * y0 - sine * x0;
          x1 = cosine * y1 - sine * x1;
          x2 = cosine * y2 - sine * x2;
          x3 = cosine * y3 - sine * x3;
          offset = next;
        }
        data[offset] = x0;
        data[offset + 1] = x1;
        data[offset + 2] = x2;
        data[offset + 3] = x3;
      }
    }
    for (; i < cols; i++) {
      for (const { first, cosines, sines } of chains) {
        let offset = first * cols + i;
        let x = data[offset] as number;
        for (let t = 0; t < cosines.length; t++) {
          const cosine = cosines[t] as number;
          const sine = sines[t] as number;
          const next = offset + cols;
          const y = data[next] as number;
          data[offset] = cosine * x + sine * y;
          x = cosine * y - sine * x;
          offset = next;
        }
        data[offset] = x;
      }
    }
    this.pending.length = 0;
  }
}
