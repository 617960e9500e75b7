/**
 * Splits a batched matrix product into GEMM calls for each thread: every thread gets a contiguous band of rows
 * of C (or of columns, when C is wide and short), aligned to the micro-kernel tile, in every batch. Small
 * products stay on the calling thread, where waking workers would cost more than it saves.
 */
import { gemmBlocking } from "./generated/kernels-binary.js";
import type { GemmCall } from "./thread-pool.js";

/** Below this many multiply-adds a product runs on one thread (waking workers costs tens of microseconds). */
const parallelThreshold = 64 * 64 * 64;

/** Layout of one batched product; pointers are byte offsets, batch strides in bytes (0 broadcasts). */
export interface MatmulLayout {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly aBatchStride: number;
  readonly bBatchStride: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

function bands(extent: number, parts: number, align: number): [number, number][] {
  const size = Math.ceil(Math.ceil(extent / parts) / align) * align;
  const result: [number, number][] = [];
  for (let start = 0; start < extent; start += size) result.push([start, Math.min(size, extent - start)]);
  return result;
}

/** The GEMM calls of each thread (index 0: the caller) for a product on `threads` threads. */
export function planMatmul(layout: MatmulLayout, threads: number): GemmCall[][] {
  const { batch, m, n, k, transposeA, transposeB } = layout;
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  const parallel = threads > 1 && batch * m * n * k >= parallelThreshold;
  const parts: GemmCall[][] = Array.from({ length: parallel ? threads : 1 }, () => []);
  // Split rows unless C has clearly more column tiles than row tiles.
  const splitRows = m / gemmBlocking.mr >= n / gemmBlocking.nr;
  for (let index = 0; index < batch; index++) {
    const a = layout.a + index * layout.aBatchStride;
    const b = layout.b + index * layout.bBatchStride;
    const c = layout.c + index * m * n * 4;
    const whole: GemmCall = [m, n, k, a, lda, +transposeA, b, ldb, +transposeB, c, n];
    if (!parallel) {
      parts[0]!.push(whole);
      continue;
    }
    if (batch >= threads) {
      // Enough batches: whole products, spread evenly.
      parts[Math.floor((index * threads) / batch)]!.push(whole);
      continue;
    }
    const split = splitRows ? bands(m, threads, gemmBlocking.mr) : bands(n, threads, gemmBlocking.nr);
    split.forEach(([start, extent], thread) => {
      if (splitRows) {
        // rows start..start+extent of op(A) and of C
        const aBand = a + (transposeA ? start : start * lda) * 4;
        parts[thread]!.push([
          extent,
          n,
          k,
          aBand,
          lda,
          +transposeA,
          b,
          ldb,
          +transposeB,
          c + start * n * 4,
          n,
        ]);
      } else {
        const bBand = b + (transposeB ? start * ldb : start) * 4;
        parts[thread]!.push([m, extent, k, a, lda, +transposeA, bBand, ldb, +transposeB, c + start * 4, n]);
      }
    });
  }
  return parts;
}
