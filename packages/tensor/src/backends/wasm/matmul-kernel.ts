/**
 * The wasm backend's matrix product: matrix-vector kernels for up to four rows of A (decoding), the blocked GEMM
 * otherwise, with a reused 2-D B (a weight) taken from the packed-panel cache.
 */
import type { KernelAttributeMap, TensorInfo } from "../../backend/backend.js";
import { storageBytes } from "../../dtype/dtypes.js";
import { gemvMaxRows, jobKinds } from "./generated/kernels-binary.js";
import { gemmTypeCode, type MatmulLayout, planMatmul, splitsIntoRowBands } from "./matmul-plan.js";
import type { Job } from "./thread-pool.js";
import type { WasmBackend } from "./wasm-backend.js";
import type { WasmHandle } from "./wasm-kernels.js";

/** Below this many multiply-adds a matrix-vector product stays on the calling thread. */
const gemvParallelThreshold = 1 << 16;

/** Columns of C per thread share of a matrix-vector product are a multiple of this (whole cache lines of C and B). */
const gemvColumnAlignment = 16;

function pointer(info: TensorInfo): number {
  return (info.handle as WasmHandle).offset;
}

/** The product shape of `matmul` inputs. */
function dimensions(a: TensorInfo, b: TensorInfo, attributes: KernelAttributeMap["matmul"]) {
  const [batchA, rowsA, columnsA] = a.shape as [number, number, number];
  const [batchB, rowsB, columnsB] = b.shape as [number, number, number];
  return {
    batchA,
    batchB,
    batch: Math.max(batchA, batchB),
    m: attributes.transposeA ? columnsA : rowsA,
    k: attributes.transposeA ? rowsA : columnsA,
    n: attributes.transposeB ? rowsB : columnsB,
  };
}

/**
 * Jobs of the `gemv` kernel for `batch` products of m ≤ 4 rows: B is streamed from its storage (no packing),
 * and a large product's columns are split across threads (two ranges per thread, whole cache lines each).
 */
function planGemv(
  a: TensorInfo,
  b: TensorInfo,
  c: number,
  attributes: KernelAttributeMap["matmul"],
  threads: number,
): Job[] {
  const { batchA, batchB, batch, m, n, k } = dimensions(a, b, attributes);
  const bytesB = storageBytes(b.dtype, 1);
  const ldb = attributes.transposeB ? k : n;
  const parts = threads > 1 && m * n * k >= gemvParallelThreshold ? threads * 2 : 1;
  const share = Math.ceil(n / parts / gemvColumnAlignment) * gemvColumnAlignment;
  const jobs: Job[] = [];
  for (let index = 0; index < batch; index++) {
    const aBatch = pointer(a) + (batchA === 1 ? 0 : index * m * k * 4);
    const bBatch = pointer(b) + (batchB === 1 ? 0 : index * k * n * bytesB);
    const cBatch = c + index * m * n * 4;
    for (let start = 0; start < n; start += share) {
      const columns = Math.min(share, n - start);
      const bStart = bBatch + (attributes.transposeB ? start * ldb : start) * bytesB;
      jobs.push([
        jobKinds.gemv,
        m,
        columns,
        k,
        aBatch,
        k,
        bStart,
        ldb,
        +attributes.transposeB,
        gemmTypeCode(b.dtype),
        cBatch + start * 4,
        n,
      ]);
    }
  }
  return jobs;
}

/** `matmul` on float32/float16/bfloat16 operands (the engine's layout: rank 3, batch 1 broadcasts). */
export function matmulKernel(
  a: TensorInfo,
  b: TensorInfo,
  attributes: KernelAttributeMap["matmul"],
  backend: WasmBackend,
): TensorInfo {
  const { batchA, batchB, batch, m, n, k } = dimensions(a, b, attributes);
  const output = backend.allocateOutput([batch, m, n], "float32");
  if (m <= gemvMaxRows && !attributes.transposeA && a.dtype === "float32" && k > 0) {
    backend.runJobs(planGemv(a, b, pointer(output), attributes, backend.threadCount));
    return output;
  }
  // A 2-D B reused across products (a weight) is packed once and cached.
  const cached = batchB === 1 ? backend.packedOperand(b, attributes.transposeB, k, n) : undefined;
  const layout: MatmulLayout = {
    batch,
    m,
    n,
    k,
    a: pointer(a),
    b: pointer(b),
    c: pointer(output),
    aBatchStride: batchA === 1 ? 0 : storageBytes(a.dtype, m * k),
    bBatchStride: batchB === 1 ? 0 : storageBytes(b.dtype, k * n),
    transposeA: attributes.transposeA,
    transposeB: attributes.transposeB,
    aType: gemmTypeCode(a.dtype),
    bType: gemmTypeCode(b.dtype),
  };
  // Bands of rows would each pack all of an uncached B: pack it once for this product instead (the panels and
  // the arithmetic are the same, so the result is too).
  const transient =
    cached === undefined && batchB === 1 && splitsIntoRowBands(layout, backend.threadCount)
      ? backend.packTransient(b, attributes.transposeB, k, n)
      : undefined;
  const packed = cached ?? transient;
  try {
    backend.runGemm(
      planMatmul(
        packed === undefined ? layout : { ...layout, b: packed, bPrepacked: true },
        backend.threadCount,
      ),
    );
  } finally {
    if (transient !== undefined) backend.releasePacked(transient);
  }
  return output;
}
