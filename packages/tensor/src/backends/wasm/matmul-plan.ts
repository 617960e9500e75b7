/**
 * Splits a batched matrix product into GEMM calls that threads claim one at a time: whole products when there
 * are at least as many batches as threads, otherwise bands of rows of C (or of columns, when C is wide and
 * short) aligned to the micro-kernel tile. Small products stay on the calling thread, where waking workers
 * would cost more than it saves.
 */
import type { DType } from "../../backend/backend.js";
import { gemmBlocking, prepackedB } from "./generated/kernels-binary.js";
import type { GemmCall } from "./thread-pool.js";

/** Below this many multiply-adds a product runs on one thread (waking workers costs tens of microseconds). */
const parallelThreshold = 64 * 64 * 64;

/** The storage type code the `gemm` export takes for a dtype: 0 float32, 1 bfloat16, 2 float16. */
export function gemmTypeCode(dtype: DType): number {
  if (dtype === "bfloat16") return 1;
  if (dtype === "float16") return 2;
  return 0;
}

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
  /** Storage type codes of the operands (0 float32, 1 bfloat16, 2 float16). */
  readonly aType: number;
  readonly bType: number;
  /** True when `b` points at op(B) packed whole by `packPanels` (a cached weight; batch 1). */
  readonly bPrepacked?: boolean;
}

function bands(extent: number, parts: number, align: number): [number, number][] {
  const size = Math.ceil(Math.ceil(extent / parts) / align) * align;
  const result: [number, number][] = [];
  for (let start = 0; start < extent; start += size) result.push([start, Math.min(size, extent - start)]);
  return result;
}

/**
 * True when {@link planMatmul} cuts this product into several bands of rows of C, each of which packs all of
 * op(B) (unless B is prepacked): packing B once beforehand then saves all but one of those packings.
 */
export function splitsIntoRowBands(layout: MatmulLayout, threads: number): boolean {
  const { batch, m, n, k } = layout;
  const split = threads > 1 && batch < threads && batch * m * n * k >= parallelThreshold;
  return split && m / gemmBlocking.mr >= n / gemmBlocking.nr && m > gemmBlocking.mr;
}

/**
 * Chunks per thread when one product is split: more than one so that threads that run slower take fewer. Two
 * cores of a virtual machine can slow each other down by half at times; with four bands per thread instead of
 * two, a LoRA training step of the 8-layer SmolLM2 shape took 6 % less time (A/B, three alternations).
 */
const chunksPerThread = 4;

/**
 * The GEMM calls of a product on `threads` threads. Threads claim calls dynamically, so a split product is cut
 * into `chunksPerThread × threads` bands; each band packs its own panels (unless B is prepacked), so more bands
 * cost more packing.
 */
export function planMatmul(layout: MatmulLayout, threads: number): GemmCall[] {
  const { batch, m, n, k, transposeA, aType } = layout;
  const prepacked = layout.bPrepacked === true;
  const lda = transposeA ? m : k;
  const ldb = prepacked || layout.transposeB ? k : n;
  // A prepacked B is float32 panels of depth k: the gemm's transB says so, and a band of columns starting at
  // `start` (a multiple of NR) starts start·k floats in.
  const transposeB = prepacked ? prepackedB : +layout.transposeB;
  const bType = prepacked ? 0 : layout.bType;
  const aBytes = aType === 0 ? 4 : 2;
  const bBytes = bType === 0 ? 4 : 2;
  const split = threads > 1 && batch < threads && batch * m * n * k >= parallelThreshold;
  // Split rows unless C has clearly more column tiles than row tiles.
  const splitRows = m / gemmBlocking.mr >= n / gemmBlocking.nr;
  const calls: GemmCall[] = [];
  const call = (rows: number, columns: number, a: number, b: number, c: number): GemmCall =>
    [rows, columns, k, a, lda, +transposeA, b, ldb, transposeB, c, n, aType, bType] as const;
  for (let index = 0; index < batch; index++) {
    const a = layout.a + index * layout.aBatchStride;
    const b = layout.b + index * layout.bBatchStride;
    const c = layout.c + index * m * n * 4;
    if (!split) {
      calls.push(call(m, n, a, b, c));
      continue;
    }
    const parts = threads * chunksPerThread;
    if (splitRows) {
      // rows start..start+extent of op(A) and of C
      for (const [start, extent] of bands(m, parts, gemmBlocking.mr)) {
        calls.push(call(extent, n, a + (transposeA ? start : start * lda) * aBytes, b, c + start * n * 4));
      }
    } else {
      for (const [start, extent] of bands(n, parts, gemmBlocking.nr)) {
        const offset = prepacked ? start * k * 4 : (layout.transposeB ? start * ldb : start) * bBytes;
        calls.push(call(m, extent, a, b + offset, c + start * 4));
      }
    }
  }
  return calls;
}
