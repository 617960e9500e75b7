import {
  GpuCapacityError,
  GpuKernelError,
  GpuReleasedHandleError,
  GpuSynchronousReadError,
} from "./gpu-errors.js";
import type {
  GpuJsBufferResult,
  GpuJsInstance,
  GpuJsKernel,
  GpuJsKernelSettings,
  GpuJsTexture,
} from "./gpu-js-types.js";
import { type GpuMode, isAsynchronousMode } from "./gpu-modes.js";
import { type GpuKernelId, kernelSources, loopMaxIterations } from "./kernel-sources.js";

/**
 * One tensor's elements on the device: a gpu.js pipeline texture (GL modes) or storage buffer (WebGPU), always
 * float32, `length` elements in row-major order. Integer tensors are stored as exact floats.
 */
export interface GpuStorage {
  /** Number of elements. */
  readonly length: number;
  /** True once {@link GpuDevice.release} ran; the storage must not be used again. */
  readonly released: boolean;
}

/** Live device storage, for `memory()` and leak tests. */
export interface GpuDeviceMemory {
  /** Storages created and not yet released. */
  readonly storages: number;
  /** Their size in bytes (4 per element; gpu.js's GL textures hold one float per RGBA texel, so the driver uses more). */
  readonly bytes: number;
}

/** Largest element count whose flat indices stay exact in float32 shader arithmetic (2^24). */
export const maxExactIndex = 2 ** 24;

/**
 * Most elements one storage may hold: 2^24 (flat indices are float32 integers in the shaders), and, in the GL
 * modes, no more than a `MAX_TEXTURE_SIZE`² texture holds (gpu.js stores one float per texel).
 */
export function maxStorageElements(gpu: GpuJsInstance): number {
  const side = gpu.Kernel?.features?.maxTextureSize;
  return typeof side === "number" && Number.isFinite(side)
    ? Math.min(maxExactIndex, side * side)
    : maxExactIndex;
}

const kernelSettings: GpuJsKernelSettings = {
  output: [1],
  pipeline: true,
  immutable: true,
  precision: "single",
  dynamicOutput: true,
  dynamicArguments: true,
  tactic: "precision",
  loopMaxIterations,
  strictIntegers: false,
};

/**
 * Runs the backend's gpu.js kernels on one `GPU` instance and owns the storages they produce. Kernels are
 * compiled on first use. Every result stays on the device (gpu.js `pipeline: true`, `immutable: true`: each run
 * returns a fresh texture or buffer that later kernels take as an argument) until an explicit read-back.
 */
export abstract class GpuDevice {
  /** The gpu.js mode in use. */
  readonly mode: GpuMode;
  /** Most elements one storage may hold (see {@link maxStorageElements}). */
  readonly maxElements: number;
  protected readonly gpu: GpuJsInstance;
  private readonly kernels = new Map<GpuKernelId, GpuJsKernel>();
  private liveStorages = 0;
  private liveElements = 0;

  protected constructor(gpu: GpuJsInstance, mode: GpuMode) {
    this.gpu = gpu;
    this.mode = mode;
    this.maxElements = maxStorageElements(gpu);
  }

  /** The device for a gpu.js instance: synchronous for the GL modes, a queue of promises for WebGPU. */
  static create(gpu: GpuJsInstance, mode: GpuMode): GpuDevice {
    return isAsynchronousMode(mode) ? new WebGpuDevice(gpu, mode) : new GlDevice(gpu, mode);
  }

  /** True when {@link readSync} works (the GL modes). */
  abstract get readsSynchronously(): boolean;

  /** Copies `values` to the device. */
  upload(values: Float32Array): GpuStorage {
    return this.run("upload", values.length, [], [values]);
  }

  /**
   * Runs kernel `id` with output length `length` on `inputs` (device storages) followed by `extra` arguments
   * (numbers, or a typed array for `upload`).
   */
  run(
    id: GpuKernelId,
    length: number,
    inputs: readonly GpuStorage[],
    extra: readonly (number | Float32Array)[],
  ): GpuStorage {
    for (const input of inputs) {
      if (input.released)
        throw new GpuReleasedHandleError(
          `kernel "${id}" received a released gpu storage of ${input.length} elements`,
        );
    }
    if (length > this.maxElements) {
      throw new GpuCapacityError(
        `kernel "${id}" would produce ${length} elements, more than the ${this.maxElements} one gpu storage holds in mode "${this.mode}"`,
      );
    }
    const storage = length === 0 ? this.emptyStorage() : this.dispatch(id, length, inputs, extra);
    this.liveStorages++;
    this.liveElements += length;
    return storage;
  }

  /** Reads a storage back to the CPU synchronously (GL modes only). */
  abstract readSync(storage: GpuStorage): Float32Array;

  /** Reads a storage back to the CPU (every mode). */
  abstract readAsync(storage: GpuStorage): Promise<Float32Array>;

  /** Releases a storage's texture or buffer (exactly once). */
  release(storage: GpuStorage): void {
    if (storage.released)
      throw new GpuReleasedHandleError(`gpu storage of ${storage.length} elements released twice`);
    this.liveStorages--;
    this.liveElements -= storage.length;
    this.releaseStorage(storage);
  }

  /** Live storages and bytes. */
  memory(): GpuDeviceMemory {
    return { storages: this.liveStorages, bytes: this.liveElements * 4 };
  }

  /** Resolves once every queued kernel has been submitted and every queued release has run. */
  abstract flush(): Promise<void>;

  /** Destroys the gpu.js instance and everything it holds. */
  async destroy(): Promise<void> {
    await this.flush();
    await this.gpu.destroy();
  }

  protected kernel(id: GpuKernelId): GpuJsKernel {
    let kernel = this.kernels.get(id);
    if (kernel === undefined) {
      try {
        kernel = this.gpu.createKernel(kernelSources[id], kernelSettings);
      } catch (error) {
        throw new GpuKernelError(
          `gpu.js (mode "${this.mode}") could not create kernel "${id}": ${describe(error)}`,
          { cause: error },
        );
      }
      this.kernels.set(id, kernel);
    }
    return kernel;
  }

  protected abstract emptyStorage(): GpuStorage;
  protected abstract dispatch(
    id: GpuKernelId,
    length: number,
    inputs: readonly GpuStorage[],
    extra: readonly (number | Float32Array)[],
  ): GpuStorage;
  protected abstract releaseStorage(storage: GpuStorage): void;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

function toFloat32(values: ArrayLike<number>, length: number): Float32Array {
  // gpu.js may hand back a view of a larger read buffer (textures are padded to a rectangle): copy exactly `length`.
  const result = new Float32Array(length);
  for (let index = 0; index < length; index++) result[index] = values[index]!;
  return result;
}

class GlStorage implements GpuStorage {
  released = false;
  constructor(
    readonly length: number,
    readonly texture: GpuJsTexture | undefined,
  ) {}
}

/** WebGL2, WebGL and headless-gl: kernels run and read back synchronously; results are textures. */
class GlDevice extends GpuDevice {
  get readsSynchronously(): boolean {
    return true;
  }

  protected emptyStorage(): GpuStorage {
    return new GlStorage(0, undefined);
  }

  protected dispatch(
    id: GpuKernelId,
    length: number,
    inputs: readonly GpuStorage[],
    extra: readonly (number | Float32Array)[],
  ): GpuStorage {
    const kernel = this.kernel(id);
    const textures = inputs.map((input) => (input as GlStorage).texture);
    let result: unknown;
    try {
      kernel.setOutput([length]);
      result = kernel(...textures, ...extra);
    } catch (error) {
      throw new GpuKernelError(
        `gpu.js kernel "${id}" (mode "${this.mode}", ${length} outputs) failed: ${describe(error)}`,
        {
          cause: error,
        },
      );
    }
    return new GlStorage(length, result as GpuJsTexture);
  }

  readSync(storage: GpuStorage): Float32Array {
    const glStorage = storage as GlStorage;
    if (glStorage.released)
      throw new GpuReleasedHandleError(`read of a released gpu storage of ${storage.length} elements`);
    if (glStorage.texture === undefined) return new Float32Array(0);
    return toFloat32(glStorage.texture.toArray(), storage.length);
  }

  async readAsync(storage: GpuStorage): Promise<Float32Array> {
    return this.readSync(storage);
  }

  protected releaseStorage(storage: GpuStorage): void {
    const glStorage = storage as GlStorage;
    glStorage.released = true;
    glStorage.texture?.delete();
  }

  async flush(): Promise<void> {}
}

class WebGpuStorage implements GpuStorage {
  released = false;
  constructor(
    readonly length: number,
    readonly result: Promise<GpuJsBufferResult | undefined>,
  ) {
    // A failed kernel rejects `result`; the rejection is reported where the storage is read, not here.
    result.catch(() => undefined);
  }
}

/**
 * WebGPU: gpu.js kernels return promises (the first call of a kernel compiles it asynchronously), and
 * read-back is asynchronous (`mapAsync`). Kernel calls are chained on one queue so that a kernel's output
 * size and arguments are set and submitted atomically and in program order; WebGPU executes submissions in
 * order, so a later kernel sees its inputs complete.
 */
class WebGpuDevice extends GpuDevice {
  private queue: Promise<unknown> = Promise.resolve();

  get readsSynchronously(): boolean {
    return false;
  }

  protected emptyStorage(): GpuStorage {
    return new WebGpuStorage(0, Promise.resolve(undefined));
  }

  protected dispatch(
    id: GpuKernelId,
    length: number,
    inputs: readonly GpuStorage[],
    extra: readonly (number | Float32Array)[],
  ): GpuStorage {
    const kernel = this.kernel(id);
    const pending = inputs.map((input) => (input as WebGpuStorage).result);
    const task = this.queue.then(async () => {
      const buffers = await Promise.all(pending);
      try {
        kernel.setOutput([length]);
        return (await kernel(...buffers, ...extra)) as GpuJsBufferResult;
      } catch (error) {
        throw new GpuKernelError(
          `gpu.js kernel "${id}" (mode "${this.mode}", ${length} outputs) failed: ${describe(error)}`,
          {
            cause: error,
          },
        );
      }
    });
    this.queue = task.catch(() => undefined);
    return new WebGpuStorage(length, task);
  }

  readSync(storage: GpuStorage): Float32Array {
    throw new GpuSynchronousReadError(
      `gpu.js mode "webgpu" reads results back asynchronously (mapAsync); a synchronous read of ${storage.length} elements is impossible, use readAsync()`,
    );
  }

  async readAsync(storage: GpuStorage): Promise<Float32Array> {
    const webGpuStorage = storage as WebGpuStorage;
    if (webGpuStorage.released)
      throw new GpuReleasedHandleError(`read of a released gpu storage of ${storage.length} elements`);
    const result = await webGpuStorage.result;
    if (result === undefined) return new Float32Array(0);
    return toFloat32(await result.toArray(), storage.length);
  }

  protected releaseStorage(storage: GpuStorage): void {
    const webGpuStorage = storage as WebGpuStorage;
    webGpuStorage.released = true;
    // Queued behind every kernel already dispatched (some may read this buffer); a buffer destroyed after
    // submission stays alive until the submitted work completes.
    this.queue = this.queue
      .then(() => webGpuStorage.result)
      .then(
        (result) => result?.delete(),
        () => undefined,
      );
  }

  async flush(): Promise<void> {
    await this.queue;
  }
}
