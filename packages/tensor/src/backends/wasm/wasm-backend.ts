/**
 * The `wasm` backend: tensors live in one WebAssembly memory (shared with kernel workers where threads are
 * available) and kernels are the hand-written SIMD functions of `scripts/wasm/*.mjs`, compiled at build time.
 */
import type {
  Backend,
  BackendAvailability,
  BackendDefinition,
  BackendMemory,
  DataHandle,
  DType,
  KernelAttributeMap,
  KernelName,
  KernelTable,
  StorageValues,
  TensorInfo,
} from "../../backend/backend.js";
import { storageBytes } from "../../dtype/dtypes.js";
import { cpuKernels } from "../js/cpu-kernels.js";
import type { CpuTensor } from "../js/cpu-tensor.js";
import { gemmBlocking, gemmWorkBytes, jobKinds, jobSlots } from "./generated/kernels-binary.js";
import { WasmHeap } from "./heap.js";
import { gemmTypeCode } from "./matmul-plan.js";
import { PackedPanelCache, type PackedPanelStatistics } from "./packed-panels.js";
import { coreCount, workersSupported } from "./platform.js";
import { type GemmCall, gemmJob, type Job, ThreadPool, writeJobs } from "./thread-pool.js";
import { type WasmHandle, wasmKernels } from "./wasm-kernels.js";
import {
  compileKernels,
  instantiateKernels,
  type KernelExports,
  relaxedSimdSupported,
  sharedMemorySupported,
  simdSupported,
} from "./wasm-module.js";

/** Options of the wasm backend. */
export interface WasmBackendOptions {
  /** Threads that run matrix products, the calling thread included. Default: the number of cores. */
  readonly threads?: number;
  /**
   * Use relaxed SIMD (`f32x4.relaxed_madd`, a fused multiply-add where the CPU has one). Default: whenever
   * the engine validates it. `true` where it does not validate makes the backend unavailable.
   */
  readonly relaxedSimd?: boolean;
  /**
   * Most bytes of packed weight panels to keep (see `packed-panels.ts`): a matrix used as the B operand of a
   * product a second time, in the same orientation, is packed once and reused until its tensor is disposed.
   * float32 panels take the weight's float32 size (twice a bfloat16 weight's). Default
   * {@link defaultPackedWeightCacheBytes}; 0 turns the cache off.
   */
  readonly packedWeightCacheBytes?: number;
}

/**
 * Default bound of the packed weight cache: 128 MiB. On the SmolLM2-shaped bench model (8 layers, float32) a
 * forward and LoRA training run peaked at 1,077 MB RSS with it against 1,462 MB with 512 MiB, and its training
 * step was not slower in the same side-by-side run (38 s against 45 s at load ~22): the weights packed first
 * carry most of the saving, and no eviction means a smaller bound only packs fewer of them.
 */
export const defaultPackedWeightCacheBytes = 128 * 1024 * 1024;

/** Operands with fewer elements than this are packed per call (the cache would save almost nothing). */
const packedOperandMinimumElements = 1 << 16;

/**
 * The largest op(B) packed whole for a single product (`packTransient`): every weight of a SmolLM2- or
 * Llama-3.2-1B-sized layer fits; a 49,152-wide output head (113 MB) does not, so that its product does not grow
 * the heap — which never shrinks — by that much.
 */
const transientPackMaximumBytes = 32 * 1024 * 1024;

/** Bytes of op(B) [k, n] packed into NR-wide float32 panels (the last one zero-padded). */
function packedBytes(k: number, n: number): number {
  return Math.ceil(n / gemmBlocking.nr) * gemmBlocking.nr * k * 4;
}

/** Initial memory: 16 MiB; it grows on demand up to the 4 GiB of wasm32. */
const initialPages = 256;
const maximumPages = 65536;
/** Fallback maximum (1 GiB) for engines that cannot reserve 4 GiB of shared address space. */
const fallbackMaximumPages = 16384;

function createMemory(shared: boolean): WebAssembly.Memory {
  try {
    return new WebAssembly.Memory({ initial: initialPages, maximum: maximumPages, shared });
  } catch {
    return new WebAssembly.Memory({ initial: initialPages, maximum: fallbackMaximumPages, shared });
  }
}

/** The WebAssembly SIMD backend (priority 2: above `js`, below `gpu`). */
export class WasmBackend implements Backend {
  readonly name = "wasm";
  readonly priority = 2;
  readonly kernels: KernelTable;
  private readonly options: WasmBackendOptions;
  private liveHandles = 0;
  /** Why the backend runs on one thread although more were requested, if it does. */
  private threadFallback: string | undefined;
  private liveBytes = 0;
  private state:
    | {
        heap: WasmHeap;
        exports: KernelExports;
        pool: ThreadPool | undefined;
        workAreas: readonly number[];
        relaxed: boolean;
        packedPanels: PackedPanelCache;
      }
    | undefined;

  constructor(options: WasmBackendOptions = {}) {
    this.options = options;
    this.kernels = wasmKernels() as KernelTable;
  }

  /** Detects SIMD, compiles the kernels, starts the workers and warms the GEMM up. */
  async initialize(): Promise<BackendAvailability> {
    if (this.state !== undefined) return this.describe();
    if (!simdSupported()) {
      return { available: false, reason: "this engine does not validate WebAssembly SIMD (128-bit) modules" };
    }
    const relaxedAvailable = relaxedSimdSupported();
    if (this.options.relaxedSimd === true && !relaxedAvailable) {
      return {
        available: false,
        reason: "relaxed SIMD was requested but f32x4.relaxed_madd does not validate here",
      };
    }
    const relaxed = this.options.relaxedSimd ?? relaxedAvailable;
    const requestedThreads = Math.max(1, Math.floor(this.options.threads ?? (await coreCount())));
    const shared = requestedThreads > 1 && sharedMemorySupported() && workersSupported();
    if (requestedThreads > 1 && !shared) {
      this.threadFallback =
        "shared memory or workers are unavailable (a browser page must be cross-origin isolated)";
    }
    const memory = createMemory(shared);
    const module = await compileKernels({ relaxed, shared });
    const exports = instantiateKernels(module, memory);
    const heap = new WasmHeap(memory);
    const threads = shared ? requestedThreads : 1;
    const workAreas = Array.from({ length: threads }, () => heap.allocate(gemmWorkBytes));
    let pool: ThreadPool | undefined;
    if (threads > 1) {
      try {
        pool = await ThreadPool.start(heap, module, exports, threads, workAreas);
      } catch (error) {
        // Workers could not start (e.g. a content security policy forbids Blob URLs): run single-threaded.
        for (const area of workAreas.slice(1)) heap.free(area);
        pool = undefined;
        this.threadFallback = `workers could not start (${error instanceof Error ? error.message : String(error)})`;
      }
    }
    this.state = {
      heap,
      exports,
      pool,
      workAreas: pool ? workAreas : workAreas.slice(0, 1),
      relaxed,
      packedPanels: new PackedPanelCache(
        heap,
        this.options.packedWeightCacheBytes ?? defaultPackedWeightCacheBytes,
      ),
    };
    this.warmUp();
    return this.describe();
  }

  /** The compiled kernel exports (after {@link initialize}). */
  get wasm(): KernelExports {
    return this.ready().exports;
  }

  /** The heap that holds every tensor of this backend. */
  get heap(): WasmHeap {
    return this.ready().heap;
  }

  /** Threads that run matrix products (1 without workers). */
  get threadCount(): number {
    return this.state?.pool?.threadCount ?? 1;
  }

  /** Copies the values into the wasm heap (16-bit types as their bit patterns: two bytes per element). */
  upload(values: StorageValues, _dtype: DType): DataHandle {
    const heap = this.heap;
    const offset = heap.allocate(values.byteLength);
    heap.bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    return this.track({ offset, bytes: values.byteLength });
  }

  /** A view of the elements in wasm memory (bit patterns for 16-bit types), valid until the next call into this backend. */
  read(handle: DataHandle, dtype: DType, size: number): StorageValues {
    const { offset } = handle as WasmHandle;
    const buffer = this.heap.memory.buffer;
    switch (dtype) {
      case "int32":
        return new Int32Array(buffer, offset, size);
      case "float32":
        return new Float32Array(buffer, offset, size);
      case "float16":
      case "bfloat16":
        return new Uint16Array(buffer, offset, size);
    }
  }

  /** Frees the handle's heap block (and its packed panels, if it was a cached weight). */
  dispose(handle: DataHandle): void {
    const { offset, bytes } = handle as WasmHandle;
    this.ready().packedPanels.release(handle as WasmHandle);
    this.heap.free(offset);
    this.liveHandles--;
    this.liveBytes -= bytes;
  }

  /** Live tensors and their bytes (the backend's own scratch areas excluded), and the packed weight cache's bytes. */
  memory(): BackendMemory {
    return {
      handles: this.liveHandles,
      bytes: this.liveBytes,
      cacheBytes: this.state?.packedPanels.statistics().bytes ?? 0,
    };
  }

  /** The packed weight cache's entries, bytes and hit counts. */
  packedWeightCacheStatistics(): PackedPanelStatistics {
    return this.ready().packedPanels.statistics();
  }

  /** Releases every packed weight (they are packed again on their next reuse). */
  clearPackedWeightCache(): void {
    this.ready().packedPanels.clear();
  }

  /**
   * The whole op(B) of a 2-D operand packed for the GEMM (see `packed-panels.ts`), when it is cached or is
   * admitted into the cache now (packed on every thread); `undefined` to pack per call as usual.
   */
  packedOperand(b: TensorInfo, transposed: boolean, k: number, n: number): number | undefined {
    const state = this.ready();
    if (k * n < packedOperandMinimumElements) return undefined;
    const handle = b.handle as WasmHandle;
    const cached = state.packedPanels.lookup(handle, transposed);
    if (cached !== undefined) return cached;
    const bytes = packedBytes(k, n);
    if (!state.packedPanels.admit(handle, transposed, bytes)) return undefined;
    const destination = state.packedPanels.insert(handle, transposed, bytes);
    this.packWhole(b, transposed, k, n, destination);
    return destination;
  }

  /**
   * The whole op(B) of a 2-D operand packed into a block of its own for one product (not cached), or `undefined`
   * when it is larger than {@link transientPackMaximumBytes}: for a product split into bands of rows, each of
   * which would otherwise pack all of op(B) again. Release the block with {@link WasmBackend.releasePacked}.
   */
  packTransient(b: TensorInfo, transposed: boolean, k: number, n: number): number | undefined {
    const bytes = packedBytes(k, n);
    if (k * n < packedOperandMinimumElements || bytes > transientPackMaximumBytes) return undefined;
    const destination = this.ready().heap.allocate(bytes);
    this.packWhole(b, transposed, k, n, destination);
    return destination;
  }

  /** Frees a block returned by {@link WasmBackend.packTransient}. */
  releasePacked(offset: number): void {
    this.ready().heap.free(offset);
  }

  /** Packs all NR-wide panels of op(B) at `destination`, on every thread (disjoint panel ranges). */
  private packWhole(b: TensorInfo, transposed: boolean, k: number, n: number, destination: number): void {
    const handle = b.handle as WasmHandle;
    const panels = Math.ceil(n / gemmBlocking.nr);
    const ldb = transposed ? k : n;
    const type = gemmTypeCode(b.dtype);
    // Disjoint ranges of panels, two per thread (threads claim them dynamically).
    const parts = Math.min(panels, this.threadCount * 2);
    const perPart = Math.ceil(panels / parts);
    const jobs: Job[] = [];
    for (let first = 0; first < panels; first += perPart) {
      const j0 = first * gemmBlocking.nr;
      const columns = Math.min(perPart * gemmBlocking.nr, n - j0);
      jobs.push([
        jobKinds.packPanels,
        handle.offset,
        ldb,
        +transposed,
        type,
        k,
        j0,
        columns,
        destination + j0 * k * 4,
      ]);
    }
    this.runJobs(jobs);
  }

  /**
   * Runs the `js` reference kernel on views of the inputs in wasm memory and uploads its result: for the inputs a
   * SIMD kernel does not cover (integer tensors, general broadcasting, layouts of more than four axes).
   */
  referenceKernel<K extends KernelName>(
    name: K,
    inputs: readonly TensorInfo[],
    attributes: KernelAttributeMap[K],
  ): TensorInfo {
    const views: CpuTensor[] = inputs.map((info) => ({
      values: this.read(
        info.handle,
        info.dtype,
        info.shape.reduce((product, extent) => product * extent, 1),
      ),
      shape: info.shape,
      dtype: info.dtype,
    }));
    const kernel = cpuKernels[name] as (
      inputs: readonly CpuTensor[],
      attributes: KernelAttributeMap[K],
    ) => CpuTensor;
    const result = kernel(views, attributes);
    return { handle: this.upload(result.values, result.dtype), shape: result.shape, dtype: result.dtype };
  }

  /** Allocates an output tensor of this backend (for kernels). */
  allocateOutput(shape: readonly number[], dtype: DType): TensorInfo {
    let size = 1;
    for (const extent of shape) size *= extent;
    const bytes = storageBytes(dtype, size);
    const handle = this.track({ offset: this.heap.allocate(bytes), bytes });
    return { handle, shape, dtype };
  }

  /** Runs GEMM calls, on the workers too when there are several calls and threads (for kernels). */
  runGemm(calls: readonly GemmCall[]): void {
    this.runJobs(calls.map(gemmJob));
  }

  /**
   * Runs kernel jobs (records of the `runJob` export), on the workers too when there are several jobs and
   * threads; returns when all are done.
   */
  runJobs(jobs: readonly Job[]): void {
    const state = this.ready();
    if (state.pool !== undefined && jobs.length > 1) {
      state.pool.run(jobs);
      return;
    }
    const record = state.heap.allocate(jobs.length * jobSlots * 4);
    try {
      writeJobs(state.heap.int32, record, jobs);
      for (let index = 0; index < jobs.length; index++) {
        state.exports.runJob(record + index * jobSlots * 4, state.workAreas[0]!);
      }
    } finally {
      state.heap.free(record);
    }
  }

  /** Stops the kernel workers; the backend then runs single-threaded. */
  close(): void {
    const state = this.state;
    if (state?.pool === undefined) return;
    state.pool.close();
    state.pool = undefined;
  }

  private track(handle: WasmHandle): WasmHandle {
    this.liveHandles++;
    this.liveBytes += handle.bytes;
    return handle;
  }

  private ready(): NonNullable<WasmBackend["state"]> {
    if (this.state === undefined) throw new Error("the wasm backend is used before initialize()");
    return this.state;
  }

  private describe(): BackendAvailability {
    const state = this.ready();
    const threads = this.threadCount;
    return {
      available: true,
      reason: `WebAssembly SIMD kernels (${state.relaxed ? "relaxed SIMD fused multiply-add" : "mul + add"}) on ${threads} thread${threads === 1 ? "" : "s"}${this.threadFallback === undefined ? "" : `; ${this.threadFallback}`}`,
      details: { relaxedSimd: state.relaxed, threads, sharedMemory: state.pool !== undefined },
    };
  }

  /** A few small products so that the engine tiers the GEMM functions up before the first real call. */
  private warmUp(): void {
    const size = 96;
    const bytes = size * size * 4;
    const heap = this.heap;
    const a = heap.allocate(bytes);
    const b = heap.allocate(bytes);
    const c = heap.allocate(bytes);
    heap.float32.fill(0.5, a / 4, a / 4 + size * size);
    heap.float32.fill(0.25, b / 4, b / 4 + size * size);
    for (let repeat = 0; repeat < 8; repeat++) {
      for (const transposeA of [0, 1]) {
        this.runGemm([[size, size, size, a, size, transposeA, b, size, 0, c, size, 0, 0]]);
        this.runGemm([[size, 16, size, a, size, transposeA, b, 16, 0, c, 16, 0, 0]]);
      }
    }
    heap.free(c);
    heap.free(b);
    heap.free(a);
  }
}

/** Creates a registry definition of the wasm backend with the given options. */
export function createWasmBackendDefinition(options: WasmBackendOptions = {}): BackendDefinition {
  return { name: "wasm", priority: 2, create: () => new WasmBackend(options) };
}

/** The wasm backend with default options (threads = cores, relaxed SIMD when it validates). */
export const wasmBackendDefinition: BackendDefinition = createWasmBackendDefinition();
