import type {
  Backend,
  BackendAvailability,
  BackendMemory,
  DataHandle,
  DType,
  KernelName,
  KernelTable,
  StorageValues,
  TensorInfo,
} from "../../backend/backend.js";
import { cpuKernels } from "./cpu-kernels.js";
import type { CpuTensor } from "./cpu-tensor.js";

/** The `js` backend's storage: the typed array itself, wrapped so that a handle has identity. */
export interface JsHandle {
  /** The elements; never written after upload. */
  readonly values: StorageValues;
}

/**
 * The plain TypeScript reference backend: always available, priority 1, the correctness oracle and the
 * fallback for kernels other backends lack.
 */
export class JsBackend implements Backend {
  readonly name = "js";
  readonly priority = 1;
  readonly kernels: KernelTable;
  private liveHandles = 0;
  private liveBytes = 0;

  constructor() {
    const table: Record<string, unknown> = {};
    for (const name of Object.keys(cpuKernels) as KernelName[]) {
      const kernel = cpuKernels[name] as (inputs: readonly CpuTensor[], attributes: unknown) => CpuTensor;
      table[name] = (inputs: readonly TensorInfo[], attributes: unknown): TensorInfo => {
        const result = kernel(
          inputs.map((info) => ({
            values: (info.handle as JsHandle).values,
            shape: info.shape,
            dtype: info.dtype,
          })),
          attributes,
        );
        return { handle: this.upload(result.values, result.dtype), shape: result.shape, dtype: result.dtype };
      };
    }
    this.kernels = table as KernelTable;
  }

  /** Always available. */
  async initialize(): Promise<BackendAvailability> {
    return { available: true, reason: "plain TypeScript reference kernels run everywhere" };
  }

  /** Wraps the array (no copy: the caller gave up ownership). */
  upload(values: StorageValues, _dtype: DType): DataHandle {
    this.liveHandles++;
    this.liveBytes += values.byteLength;
    const handle: JsHandle = { values };
    return handle;
  }

  /** The stored array itself (callers must not write to it). */
  read(handle: DataHandle): StorageValues {
    return (handle as JsHandle).values;
  }

  /** Forgets the array (the garbage collector frees it). */
  dispose(handle: DataHandle): void {
    this.liveHandles--;
    this.liveBytes -= (handle as JsHandle).values.byteLength;
  }

  /** Live handle count and bytes. */
  memory(): BackendMemory {
    return { handles: this.liveHandles, bytes: this.liveBytes };
  }
}

/** The one `js` backend instance. */
export const jsBackend = new JsBackend();
