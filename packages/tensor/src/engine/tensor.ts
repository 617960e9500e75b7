import type { Backend, DataHandle, DType, StorageValues, TensorValues } from "../backend/backend.js";
import { isHalfDType } from "../dtype/dtypes.js";
import { widenHalf } from "../dtype/half-precision.js";
import { DisposedTensorError } from "../errors.js";

/**
 * The storage behind one or more tensors (a reshape shares its input's storage). Reference-counted: the
 * backend handle is released when the last tensor using it is disposed. The engine may move storage to
 * another backend (replacing `backend` and `handle`); the elements never change.
 */
let nextStorageId = 0;

export class TensorStorage {
  /** Unique id, increasing in creation order (views of one storage share it). */
  readonly id: number = nextStorageId++;
  /** The backend holding the elements. */
  backend: Backend;
  /** The backend's handle. */
  handle: DataHandle;
  /** Number of live tensors using this storage. */
  referenceCount = 1;

  constructor(
    backend: Backend,
    handle: DataHandle,
    /** Element type. */
    readonly dtype: DType,
    /** Number of elements. */
    readonly size: number,
  ) {
    this.backend = backend;
    this.handle = handle;
  }
}

/** Called by a tensor when it is disposed, so the engine can update its bookkeeping. */
export interface TensorLifecycle {
  /** Releases the tensor's reference to its storage. */
  release(tensor: Tensor): void;
  /**
   * Reads the storage back to the CPU in storage form (a view the caller must copy), synchronously.
   *
   * @throws SynchronousReadError when the backend reads only asynchronously.
   */
  readValues(tensor: Tensor, operation: string): StorageValues;
  /** Reads the storage back asynchronously (a copy the caller owns); the storage stays alive until it is done. */
  readValuesAsync(tensor: Tensor, operation: string): Promise<StorageValues>;
}

let nextTensorId = 0;

function asFloat32(values: TensorValues): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** A fresh copy of storage values as read values: 16-bit bit patterns widened to float32, others copied. */
function copyAsValues(values: StorageValues, dtype: DType): TensorValues {
  if (isHalfDType(dtype)) return widenHalf(values as Uint16Array, dtype);
  return (values as TensorValues).slice();
}

/**
 * An immutable n-dimensional array of float32, int32, float16 or bfloat16 elements, row-major, held by a
 * backend.
 *
 * No API writes into an existing tensor; ops return new tensors. Reading back to the CPU is explicit
 * ({@link Tensor.dataSync}, {@link Tensor.toFloat32Array}). Release memory with {@link Tensor.dispose} or by
 * creating tensors inside `tidy()`.
 */
export class Tensor {
  /** Unique id, increasing in creation order. */
  readonly id: number = nextTensorId++;
  /** Extent of each axis; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements (product of `shape`, 1 for a scalar). */
  readonly size: number;
  /** @internal The shared, reference-counted storage. */
  readonly storage: TensorStorage;
  private disposed = false;
  private readonly lifecycle: TensorLifecycle;

  /** @internal Tensors are created by ops and creation functions, never directly. */
  constructor(shape: readonly number[], storage: TensorStorage, lifecycle: TensorLifecycle) {
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.size = storage.size;
    this.storage = storage;
    this.lifecycle = lifecycle;
  }

  /**
   * The id of the storage behind this tensor: equal for a tensor and its views (`reshape`, a kept copy of a
   * parameter), so read observers can tell which tensor's elements were read.
   */
  get storageId(): number {
    return this.storage.id;
  }

  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Name of the backend that holds the elements (`"js"`, `"wasm"`, `"gpu"`). */
  get backend(): string {
    return this.storage.backend.name;
  }

  /** True after `dispose()` (or after an enclosing `tidy` released it). */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** @throws DisposedTensorError when the tensor was disposed. */
  assertLive(operation: string): void {
    if (this.disposed) {
      throw new DisposedTensorError(
        `${operation}: tensor #${this.id} of shape [${this.shape.join(", ")}] was disposed`,
      );
    }
  }

  /**
   * Reads the elements back to the CPU: a fresh copy, `Int32Array` for int32 and `Float32Array` for every
   * floating-point dtype (float16/bfloat16 values widened exactly; `toRaw` gives their bit patterns).
   */
  dataSync(): TensorValues {
    this.assertLive("dataSync");
    return copyAsValues(this.lifecycle.readValues(this, "dataSync"), this.dtype);
  }

  /**
   * Reads the elements back to the CPU asynchronously: what {@link dataSync} returns, on every backend,
   * including one that can only read asynchronously (gpu.js's WebGPU mode). The tensor may be disposed while
   * the read is in flight; the read still completes.
   */
  async data(): Promise<TensorValues> {
    this.assertLive("data");
    return copyAsValues(await this.lifecycle.readValuesAsync(this, "data"), this.dtype);
  }

  /** Reads the elements back to the CPU as a fresh `Float32Array` (int32 elements are converted). */
  toFloat32Array(): Float32Array {
    this.assertLive("toFloat32Array");
    return asFloat32(copyAsValues(this.lifecycle.readValues(this, "toFloat32Array"), this.dtype));
  }

  /** {@link toFloat32Array}, read asynchronously (works on every backend). */
  async toFloat32ArrayAsync(): Promise<Float32Array> {
    this.assertLive("toFloat32ArrayAsync");
    return asFloat32(
      copyAsValues(await this.lifecycle.readValuesAsync(this, "toFloat32ArrayAsync"), this.dtype),
    );
  }

  /** Reads the elements back as a plain array of numbers (handy in tests and logs). */
  toArray(): number[] {
    return Array.from(this.dataSync());
  }

  /** {@link toArray}, read asynchronously (works on every backend). */
  async toArrayAsync(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /**
   * The single element of a one-element tensor, as a number.
   *
   * @throws DisposedTensorError when disposed; RangeError when the tensor has more than one element.
   */
  item(): number {
    if (this.size !== 1)
      throw new RangeError(`item() needs a one-element tensor, got shape [${this.shape.join(", ")}]`);
    this.assertLive("item");
    return copyAsValues(this.lifecycle.readValues(this, "item"), this.dtype)[0]!;
  }

  /**
   * {@link item}, read asynchronously (works on every backend).
   *
   * @throws DisposedTensorError when disposed; RangeError when the tensor has more than one element.
   */
  async itemAsync(): Promise<number> {
    if (this.size !== 1)
      throw new RangeError(`itemAsync() needs a one-element tensor, got shape [${this.shape.join(", ")}]`);
    this.assertLive("itemAsync");
    return copyAsValues(await this.lifecycle.readValuesAsync(this, "itemAsync"), this.dtype)[0]!;
  }

  /** Releases this tensor's reference to its storage. Disposing twice is harmless. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.lifecycle.release(this);
  }

  /** A short description: dtype, shape and backend. */
  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(", ")}], ${this.backend})`;
  }
}
