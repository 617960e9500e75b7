import type {
  Backend,
  BackendAvailability,
  BackendDefinition,
  BackendMemory,
  DataHandle,
  DType,
  KernelTable,
  StorageValues,
} from "../../backend/backend.js";
import { isHalfDType } from "../../dtype/dtypes.js";
import { narrowToHalf, widenHalf } from "../../dtype/half-precision.js";
import { GpuDevice, type GpuStorage } from "./gpu-device.js";
import { GpuKernelError } from "./gpu-errors.js";
import type { GpuJsConstructor, GpuJsInstance } from "./gpu-js-types.js";
import { createGpuKernels } from "./gpu-kernels.js";
import { type GpuMode, type GpuModeRequest, isGpuMode } from "./gpu-modes.js";
import { maxKernelRank } from "./kernel-sources.js";
import { glRendererInfo, webGpuRendererInfo } from "./renderer-info.js";

/** Default bound of multiply-adds in one matmul dispatch (2^28: a 1024×1024×1024 product takes 4 tiles). */
export const defaultMaxMatmulWorkPerDispatch = 2 ** 28;

/** Options of {@link createGpuBackend}. */
export interface GpuBackendOptions {
  /**
   * The gpu.js `GPU` class to use. By default the backend imports the `gpu.js` package (an optional peer
   * dependency) when it initialises.
   */
  readonly GPU?: GpuJsConstructor;
  /**
   * Which gpu.js mode to ask for. `"auto"` (default) lets gpu.js choose among headless-gl, WebGL2 and WebGL
   * (gpu.js never picks WebGPU on its own); `"webgpu"` asks for WebGPU, whose read-back is asynchronous: use
   * {@link GpuBackend.readAsync}.
   */
  readonly mode?: GpuModeRequest;
  /** See {@link GpuKernelContext.maxMatmulWorkPerDispatch}; default {@link defaultMaxMatmulWorkPerDispatch}. */
  readonly maxMatmulWorkPerDispatch?: number;
  /** Backend name (default `"gpu"`); a second instance, e.g. one in WebGPU mode, needs another name. */
  readonly name?: string;
}

async function importGpuJs(): Promise<GpuJsConstructor> {
  // gpu.js is CommonJS (Node) or a UMD bundle (browsers): the class is a named export, the default export's
  // `GPU` property, or the default export itself, depending on the loader.
  let module: { GPU?: unknown; default?: { GPU?: unknown } };
  try {
    module = (await import("gpu.js")) as unknown as typeof module;
  } catch (error) {
    throw new GpuKernelError(
      "the optional peer dependency gpu.js is not installed (npm install gpu.js@2.24.1 to enable the gpu backend)",
      { cause: error },
    );
  }
  const candidate = module.GPU ?? module.default?.GPU ?? module.default;
  if (typeof candidate !== "function") throw new GpuKernelError("the gpu.js module exports no GPU class");
  return candidate as GpuJsConstructor;
}

/** gpu.js's own order of preference among the synchronous GL modes (it never picks WebGPU by itself). */
const automaticModes: readonly GpuMode[] = ["headlessgl", "webgl2", "webgl"];

/**
 * A gpu.js instance in the requested mode. `"auto"` asks for each GL mode by name, because gpu.js reports an
 * automatically chosen GL kernel only as mode `"gpu"`; when none can run, a default instance tells which
 * software mode gpu.js would fall back to (for the reason message).
 */
function createInstance(
  GPU: GpuJsConstructor,
  requested: GpuModeRequest,
): { gpu: GpuJsInstance } | { failure: string } {
  const candidates = requested === "auto" ? automaticModes : [requested];
  const refusals: string[] = [];
  for (const mode of candidates) {
    try {
      return { gpu: new GPU({ mode }) };
    } catch (error) {
      refusals.push(`${mode}: ${errorMessage(error)}`);
    }
  }
  if (requested !== "auto")
    return { failure: `gpu.js cannot run mode "${requested}" here (${refusals.join("; ")})` };
  try {
    return { gpu: new GPU() };
  } catch (error) {
    return { failure: `gpu.js could not start in any mode: ${errorMessage(error)}` };
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

/**
 * The `gpu` backend: gpu.js kernels in single precision on WebGL2, WebGL, headless-gl or WebGPU. Results stay
 * on the device between kernels; {@link read} (GL modes) or {@link readAsync} (every mode) reads back.
 * In gpu.js's software modes (`webasm`, `cpu`: plain Node, or a browser without WebGL) it reports itself
 * unavailable, so `setBackend("auto")` never picks it there.
 */
export class GpuBackend implements Backend {
  readonly name: string;
  readonly priority = 3;
  readonly kernels: KernelTable;
  private readonly options: GpuBackendOptions;
  private gpuDevice: GpuDevice | undefined;
  private availability: BackendAvailability | undefined;

  constructor(options: GpuBackendOptions = {}) {
    this.options = options;
    this.name = options.name ?? "gpu";
    this.kernels = createGpuKernels({
      device: () => this.device,
      maxMatmulWorkPerDispatch: options.maxMatmulWorkPerDispatch ?? defaultMaxMatmulWorkPerDispatch,
    });
  }

  /** The device; throws before a successful {@link initialize}. */
  get device(): GpuDevice {
    if (this.gpuDevice === undefined) {
      throw new GpuKernelError(
        `the gpu backend is not initialised${this.availability === undefined ? "" : ` (${this.availability.reason})`}`,
      );
    }
    return this.gpuDevice;
  }

  /** The gpu.js mode in use, or `undefined` before a successful {@link initialize}. */
  get mode(): GpuMode | undefined {
    return this.gpuDevice?.mode;
  }

  /**
   * True when {@link read} works synchronously (the GL modes); false in WebGPU mode, whose reads are
   * asynchronous only (the engine then serves `await tensor.data()` and refuses `dataSync()`). Before
   * initialisation: what the requested mode implies.
   */
  get readsSynchronously(): boolean {
    return this.gpuDevice?.readsSynchronously ?? this.options.mode !== "webgpu";
  }

  /**
   * Creates the gpu.js instance and checks its mode: only webgpu, webgl2, webgl and headlessgl count. Then
   * round-trips a few values through a kernel. Resolves (never rejects) with the reason.
   */
  async initialize(): Promise<BackendAvailability> {
    this.availability ??= await this.probe();
    return this.availability;
  }

  private async probe(): Promise<BackendAvailability> {
    const requested = this.options.mode ?? "auto";
    let GPU: GpuJsConstructor;
    try {
      GPU = this.options.GPU ?? (await importGpuJs());
    } catch (error) {
      return { available: false, reason: `gpu.js could not be loaded: ${errorMessage(error)}` };
    }
    if (requested === "webgpu" && !(await GPU.isWebGPUAvailable?.())) {
      return {
        available: false,
        reason:
          'gpu.js mode "webgpu" was requested but no WebGPU adapter is available here (navigator.gpu missing or requestAdapter() gave null)',
      };
    }
    const created = createInstance(GPU, requested);
    if ("failure" in created) return { available: false, reason: created.failure };
    const gpu = created.gpu;
    const mode = gpu.mode;
    if (!isGpuMode(mode)) {
      await gpu.destroy();
      return {
        available: false,
        reason: `gpu.js runs in mode "${mode}" here (no WebGL, WebGL2, WebGPU or headless-gl context); its software modes webasm and cpu do not count as a GPU`,
        details: { mode },
      };
    }
    const device = GpuDevice.create(gpu, mode);
    const probeValues = Float32Array.of(1.5, -2, 3.25, 65_536.5);
    try {
      const storage = device.upload(probeValues.slice());
      const doubled = device.run("unary", storage.length, [storage], [6, 2, 0, 0, 0]);
      const values = await device.readAsync(doubled);
      device.release(storage);
      device.release(doubled);
      if (!values.every((value, index) => value === 2 * probeValues[index]!)) {
        await device.destroy();
        return {
          available: false,
          reason: `gpu.js mode "${mode}" computed [${[...values].join(", ")}] for 2·[1.5, -2, 3.25, 65536.5]`,
          details: { mode },
        };
      }
    } catch (error) {
      await device.destroy().catch(() => undefined);
      return {
        available: false,
        reason: `gpu.js mode "${mode}" failed its probe kernel: ${errorMessage(error)}`,
        details: { mode },
      };
    }
    this.gpuDevice = device;
    const renderer =
      mode === "webgpu" ? await webGpuRendererInfo().catch(() => undefined) : glRendererInfo(gpu.context);
    const notes = [
      "single precision",
      ...(device.readsSynchronously ? [] : ["asynchronous read-back"]),
      ...(renderer?.software ? ["software renderer: the GPU is emulated on the CPU"] : []),
    ];
    return {
      available: true,
      reason: `gpu.js runs in mode "${mode}"${renderer === undefined ? "" : ` on "${renderer.renderer}"`} (${notes.join(", ")})`,
      details: {
        mode,
        readsSynchronously: device.readsSynchronously,
        maxElementsPerTensor: device.maxElements,
        maxKernelRank,
        ...(renderer === undefined
          ? {}
          : { renderer: renderer.renderer, softwareRenderer: renderer.software }),
      },
    };
  }

  /**
   * Copies values to the device. Storage is float32 only (gpu.js textures and buffers): int32 values are stored
   * as exact floats, float16/bfloat16 as their exact float32 values (so on this backend they take 4 bytes per
   * element on the device; `memory().backends.gpu.bytes` says so).
   */
  upload(values: StorageValues, dtype: DType): DataHandle {
    if (isHalfDType(dtype)) return this.device.upload(widenHalf(values as Uint16Array, dtype));
    return this.device.upload(values instanceof Float32Array ? values : Float32Array.from(values));
  }

  /** Synchronous read-back (GL modes). In WebGPU mode this throws `GpuSynchronousReadError`: use {@link readAsync}. */
  read(handle: DataHandle, dtype: DType, _size: number): StorageValues {
    return storageValues(this.device.readSync(handle as GpuStorage), dtype);
  }

  /** Asynchronous read-back, in every mode. */
  async readAsync(handle: DataHandle, dtype: DType, _size?: number): Promise<StorageValues> {
    return storageValues(await this.device.readAsync(handle as GpuStorage), dtype);
  }

  /** Releases the handle's texture or buffer now (WebGPU: after the kernels already queued on it). */
  dispose(handle: DataHandle): void {
    this.device.release(handle as GpuStorage);
  }

  /** Live storages and their bytes. */
  memory(): BackendMemory {
    if (this.gpuDevice === undefined) return { handles: 0, bytes: 0 };
    const { storages, bytes } = this.gpuDevice.memory();
    return { handles: storages, bytes };
  }

  /** Resolves when every queued kernel and release has been submitted (a no-op for the GL modes). */
  async flush(): Promise<void> {
    await this.gpuDevice?.flush();
  }

  /** Destroys the gpu.js instance; the backend is unusable afterwards. */
  async destroy(): Promise<void> {
    const device = this.gpuDevice;
    this.gpuDevice = undefined;
    this.availability = { available: false, reason: "the gpu backend was destroyed" };
    await device?.destroy();
  }
}

/**
 * Device floats in the storage form of `dtype`: int32 as integers, float16/bfloat16 as bit patterns (the floats
 * are exactly representable, the kernels having rounded them, so this narrowing is exact).
 */
function storageValues(values: Float32Array, dtype: DType): StorageValues {
  if (dtype === "int32") return Int32Array.from(values);
  if (isHalfDType(dtype)) return narrowToHalf(values, dtype);
  return values;
}

/** Creates a gpu backend (not yet initialised; the registry calls `initialize`). */
export function createGpuBackend(options: GpuBackendOptions = {}): GpuBackend {
  return new GpuBackend(options);
}

/**
 * The registry entry of the `gpu` backend (priority 3, above `wasm` and `js`): gpu.js in its automatic GL mode,
 * imported only when the backend is first requested. `gpuBackendDefinition({mode: "webgpu", name: "webgpu"})`
 * is the built-in `webgpu` entry.
 */
export function gpuBackendDefinition(options: GpuBackendOptions = {}): BackendDefinition {
  return { name: options.name ?? "gpu", priority: 3, create: () => createGpuBackend(options) };
}
