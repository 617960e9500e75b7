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

/**
 * Bands of `extent` (rows or columns of C) for `threads` threads that claim them one at a time, in decreasing
 * sizes ("factoring", Hummel et al. 1992): each band is 1/(2·threads) of what is left, rounded up to whole
 * tiles of `align`, and never below `minimumTiles` tiles. The first bands are large, so a thread that the other
 * core slows down takes fewer of them; the last ones are the minimum, so the threads finish close together
 * instead of one waiting for the other's last eighth of the product.
 */
export function bands(
  extent: number,
  threads: number,
  align: number,
  minimumTiles = 1,
): [start: number, extent: number][] {
  const tiles = Math.ceil(extent / align);
  const result: [number, number][] = [];
  for (let tile = 0; tile < tiles; ) {
    const size = Math.max(minimumTiles, Math.ceil((tiles - tile) / (2 * threads)));
    const start = tile * align;
    tile = Math.min(tiles, tile + size);
    result.push([start, Math.min(tile * align, extent) - start]);
  }
  return result;
}

/**
 * Multiply-adds below which a band is not worth a job of its own: ~20 µs of one core, against the
 * microsecond or two of claiming it and packing its slice of the other operand.
 */
const minimumBandMultiplyAdds = 1 << 20;

/**
 * The fewest MR-row tiles in a band of rows of an m × n × k product: each B panel a band reads feeds one
 * micro-kernel call per tile, so at least six (18 rows) keep that reuse, and at least
 * {@link minimumBandMultiplyAdds}.
 */
function rowBandMinimumTiles(n: number, k: number): number {
  return Math.max(6, Math.ceil(minimumBandMultiplyAdds / (gemmBlocking.mr * n * k)));
}

/** The fewest NR-column tiles in a band of columns: it packs all of A again, so eight tiles at least. */
function columnBandMinimumTiles(m: number, k: number): number {
  return Math.max(8, Math.ceil(minimumBandMultiplyAdds / (gemmBlocking.nr * m * k)));
}

/**
 * True when {@link planMatmul} cuts this product into several bands of rows of C, each of which packs all of
 * op(B) (unless B is prepacked): packing B once beforehand then saves all but one of those packings.
 */
export function splitsIntoRowBands(layout: MatmulLayout, threads: number): boolean {
  const { batch, m, n, k } = layout;
  const split = threads > 1 && batch < threads && batch * m * n * k >= parallelThreshold;
  return (
    split && m / gemmBlocking.mr >= n / gemmBlocking.nr && m > gemmBlocking.mr * rowBandMinimumTiles(n, k)
  );
}

/**
 * The GEMM calls of a product on `threads` threads. Threads claim calls dynamically, so a split product is cut
 * into decreasing {@link bands}. A band of rows reads B prepacked (the caller packs it once, see
 * {@link splitsIntoRowBands}); a band of columns packs its own columns of B and all of A. Bands keep the sizes of
 * {@link rowBandMinimumTiles} and {@link columnBandMinimumTiles}.
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
    if (splitRows) {
      // rows start..start+extent of op(A) and of C
      for (const [start, extent] of bands(m, threads, gemmBlocking.mr, rowBandMinimumTiles(n, k))) {
        calls.push(call(extent, n, a + (transposeA ? start : start * lda) * aBytes, b, c + start * n * 4));
      }
    } else {
      for (const [start, extent] of bands(n, threads, gemmBlocking.nr, columnBandMinimumTiles(m, k))) {
        const offset = prepacked ? start * k * 4 : (layout.transposeB ? start * ldb : start) * bBytes;
        calls.push(call(m, extent, a, b + offset, c + start * 4));
      }
    }
  }
  return calls;
}
