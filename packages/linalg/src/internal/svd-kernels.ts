import { svdKernelModuleBytes } from "./svd-kernels-wasm.js";

/**
 * The inner loops of the dense SVD on one float64 heap: every vector and matrix is addressed by its element
 * index in `heap`. Where WebAssembly SIMD is available the heap is a WebAssembly memory and the kernels run
 * there (f64x2, no bounds checks: 2–3× the speed of the same loops in V8); elsewhere the same loops run in
 * JavaScript on a plain Float64Array. Both compute the same formulas with the same element-wise operation
 * order; only dot products may differ in the order of their float64 sums.
 */
export interface SvdKernels {
  /** All float64 data of one SVD. */
  readonly heap: Float64Array;
  /**
   * Rotation chains for {@link SvdKernels.rotate}: per chain its first row, its rotation count and the heap
   * index of its interleaved (cos, sin) pairs.
   */
  readonly chainTable: Int32Array;
  /** Two row segments x ← x − τ·(x·v)·v (a Householder reflector applied from the right to two rows). */
  reflectPair(first: number, second: number, vector: number, length: number, tau: number): void;
  /** One row segment x ← x − τ·(x·v)·v. */
  reflectRow(row: number, vector: number, length: number, tau: number): void;
  /** w ← (w + v₀·row₀) + v₁·row₁. */
  accumulatePair(w: number, row0: number, row1: number, v0: number, v1: number, length: number): void;
  /** w ← w + v·row. */
  accumulateRow(w: number, row: number, v: number, length: number): void;
  /** row ← row − factor·w. */
  subtractScaled(row: number, w: number, factor: number, length: number): void;
  /** row ← row − factor·w, then row ← row − τ·(row·r)·r. */
  updateAndReflect(row: number, w: number, factor: number, right: number, tau: number, length: number): void;
  /**
   * Applies the first `chainCount` chains of the table, in order, to the rows × cols matrix at heap index
   * `data`: chain rotation t maps rows first + t, first + t + 1 to [c s; −s c]·[x; y].
   */
  rotate(data: number, cols: number, chainCount: number): void;
}

/** Heaps above this many bytes stay in JavaScript (a wasm32 memory is at most 4 GiB). */
const maximumWasmBytes = 2 ** 31;

/**
 * Below this many heap bytes (a 16 × 16 SVD needs ~8 KiB) the JavaScript loops run: a fresh memory and instance
 * cost ~0.3 ms, more than the whole decomposition takes in JavaScript.
 */
const minimumWasmBytes = 64 * 1024;

let compiled: WebAssembly.Module | null | undefined;

/**
 * The kernels' module, or null where WebAssembly SIMD is unavailable or compiling is forbidden. Compiled once,
 * synchronously (2.3 KiB: under the 4 KiB browsers allow on the main thread).
 */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    compiled = null;
    if (typeof WebAssembly === "object") {
      const bytes = svdKernelModuleBytes();
      try {
        if (WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
      } catch {
        // A content security policy without 'wasm-unsafe-eval' forbids compiling: stay in JavaScript.
      }
    }
  }
  return compiled;
}

/** Kernels over a fresh heap of `elements` float64 values (zeroed) and a chain table of `chains` entries. */
export function createSvdKernels(elements: number, chains: number): SvdKernels {
  const heapBytes = elements * 8;
  const totalBytes = heapBytes + chains * 12;
  // Sizes checked first: a small SVD (a randomized SVD's q × q core) never pays for compiling the module.
  const module = totalBytes > maximumWasmBytes || totalBytes < minimumWasmBytes ? null : kernelModule();
  if (module === null) return javascriptKernels(new Float64Array(elements), new Int32Array(chains * 3));
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: Math.ceil(totalBytes / 65536) });
  } catch {
    // The engine refused a memory this large: the JavaScript loops work on an ordinary array.
    return javascriptKernels(new Float64Array(elements), new Int32Array(chains * 3));
  }
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as WasmExports;
  const heap = new Float64Array(memory.buffer, 0, elements);
  const chainTable = new Int32Array(memory.buffer, heapBytes, chains * 3);
  return {
    heap,
    chainTable,
    reflectPair: exports.reflectPair,
    reflectRow: exports.reflectRow,
    accumulatePair: exports.accumulatePair,
    accumulateRow: exports.accumulateRow,
    subtractScaled: exports.subtractScaled,
    updateAndReflect: exports.updateAndReflect,
    rotate(data, cols, chainCount) {
      exports.rotate(data, cols, chainCount, heapBytes / 4);
      // The wasm kernel takes columns in pairs; an odd last column is rotated here.
      if (cols % 2 === 1) rotateColumns(heap, chainTable, data, cols, chainCount, cols - 1);
    },
  };
}

type WasmExports = Omit<SvdKernels, "heap" | "chainTable" | "rotate"> & {
  rotate(data: number, cols: number, chainCount: number, table: number): void;
};

function javascriptKernels(heap: Float64Array, chainTable: Int32Array): SvdKernels {
  const reflectRow = (row: number, vector: number, length: number, tau: number) => {
    let dot = 0;
    for (let c = 0; c < length; c++) dot += (heap[row + c] as number) * (heap[vector + c] as number);
    const factor = tau * dot;
    for (let c = 0; c < length; c++)
      heap[row + c] = (heap[row + c] as number) - factor * (heap[vector + c] as number);
  };
  return {
    heap,
    chainTable,
    reflectRow,
    reflectPair(first, second, vector, length, tau) {
      let dot0 = 0;
      let dot1 = 0;
      for (let c = 0; c < length; c++) {
        const value = heap[vector + c] as number;
        dot0 += (heap[first + c] as number) * value;
        dot1 += (heap[second + c] as number) * value;
      }
      const factor0 = tau * dot0;
      const factor1 = tau * dot1;
      for (let c = 0; c < length; c++) {
        const value = heap[vector + c] as number;
        heap[first + c] = (heap[first + c] as number) - factor0 * value;
        heap[second + c] = (heap[second + c] as number) - factor1 * value;
      }
    },
    accumulatePair(w, row0, row1, v0, v1, length) {
      for (let c = 0; c < length; c++) {
        heap[w + c] =
          (heap[w + c] as number) + v0 * (heap[row0 + c] as number) + v1 * (heap[row1 + c] as number);
      }
    },
    accumulateRow(w, row, v, length) {
      for (let c = 0; c < length; c++) heap[w + c] = (heap[w + c] as number) + v * (heap[row + c] as number);
    },
    subtractScaled(row, w, factor, length) {
      for (let c = 0; c < length; c++)
        heap[row + c] = (heap[row + c] as number) - factor * (heap[w + c] as number);
    },
    updateAndReflect(row, w, factor, right, tau, length) {
      let dot = 0;
      for (let c = 0; c < length; c++) {
        const value = (heap[row + c] as number) - factor * (heap[w + c] as number);
        heap[row + c] = value;
        dot += value * (heap[right + c] as number);
      }
      const scaled = tau * dot;
      if (scaled === 0) return;
      for (let c = 0; c < length; c++)
        heap[row + c] = (heap[row + c] as number) - scaled * (heap[right + c] as number);
    },
    rotate(data, cols, chainCount) {
      rotateColumns(heap, chainTable, data, cols, chainCount, 0);
    },
  };
}

/**
 * The chains applied to columns from `firstColumn` on, column groups of four then single columns; each
 * group takes every chain in turn while its slice of the rows stays in cache (the wavefront idea of Van Zee,
 * van de Geijn & Quintana-Ortí, 2011), and row first + t, final after rotation t, stays in registers.
 */
function rotateColumns(
  heap: Float64Array,
  chainTable: Int32Array,
  data: number,
  cols: number,
  chainCount: number,
  firstColumn: number,
): void {
  let i = firstColumn;
  for (; i + 3 < cols; i += 4) {
    for (let chain = 0; chain < chainCount; chain++) {
      let offset = data + (chainTable[3 * chain] as number) * cols + i;
      const count = chainTable[3 * chain + 1] as number;
      let pair = chainTable[3 * chain + 2] as number;
      let x0 = heap[offset] as number;
      let x1 = heap[offset + 1] as number;
      let x2 = heap[offset + 2] as number;
      let x3 = heap[offset + 3] as number;
      for (let t = 0; t < count; t++, pair += 2) {
        const cosine = heap[pair] as number;
        const sine = heap[pair + 1] as number;
        const next = offset + cols;
        const y0 = heap[next] as number;
        const y1 = heap[next + 1] as number;
        const y2 = heap[next + 2] as number;
        const y3 = heap[next + 3] as number;
        heap[offset] = cosine * x0 + sine * y0;
        heap[offset + 1] = cosine * x1 + sine * y1;
        heap[offset + 2] = cosine * x2 + sine * y2;
        heap[offset + 3] = cosine * x3 + sine * y3;
        x0 = cosine * y0 - sine * x0;
        x1 = cosine * y1 - sine * x1;
        x2 = cosine * y2 - sine * x2;
        x3 = cosine * y3 - sine * x3;
        offset = next;
      }
      heap[offset] = x0;
      heap[offset + 1] = x1;
      heap[offset + 2] = x2;
      heap[offset + 3] = x3;
    }
  }
  for (; i < cols; i++) {
    for (let chain = 0; chain < chainCount; chain++) {
      let offset = data + (chainTable[3 * chain] as number) * cols + i;
      const count = chainTable[3 * chain + 1] as number;
      let pair = chainTable[3 * chain + 2] as number;
      let x = heap[offset] as number;
      for (let t = 0; t < count; t++, pair += 2) {
        const cosine = heap[pair] as number;
        const sine = heap[pair + 1] as number;
        const next = offset + cols;
        const y = heap[next] as number;
        heap[offset] = cosine * x + sine * y;
        x = cosine * y - sine * x;
        offset = next;
      }
      heap[offset] = x;
    }
  }
}
