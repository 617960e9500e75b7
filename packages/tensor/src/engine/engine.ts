/**
 * The engine: creates tensors, dispatches kernels to the active backend (falling back to `js` when a kernel
 * is missing), tracks scopes for `tidy`, and notifies operation observers (the hook for an autograd tape).
 */
import type {
  Backend,
  DType,
  KernelAttributeMap,
  KernelName,
  StorageValues,
  TensorInfo,
} from "../backend/backend.js";
import { activeBackend, recordKernelFallback } from "../backend/registry.js";
import { cpuKernels } from "../backends/js/cpu-kernels.js";
import type { CpuTensor } from "../backends/js/cpu-tensor.js";
import { storageBytes } from "../dtype/dtypes.js";
import { SynchronousReadError } from "../errors.js";
import { formatShape } from "../ops/shape-utils.js";
import { Tensor, type TensorLifecycle, TensorStorage } from "./tensor.js";

/** A record of one public operation, delivered to operation observers after it ran. */
export interface OperationRecord {
  /** The public op's name, e.g. `"matmul"`, `"add"`, `"reshape"`. */
  readonly name: string;
  /** The tensors the op received (scalars given as numbers are in `attributes`). */
  readonly inputs: readonly Tensor[];
  /** The op's non-tensor arguments. */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** The op's result. */
  readonly output: Tensor;
}

/** Receives every public operation (not the ops a composite op runs internally). */
export type OperationObserver = (record: OperationRecord) => void;

/** One read of a tensor's elements back to the CPU, delivered to read observers as it starts. */
export interface ReadEvent {
  /**
   * What read: `"read"` (a public read: `dataSync`, `data`, `toArray`, `item`, ... and the reads ops do through
   * them), `"move"` (a tensor moved to another backend), `"kernel-fallback"` (an input of a kernel the active
   * backend lacks, read for the `js` kernel).
   */
  readonly kind: "read" | "move" | "kernel-fallback";
  /** The method or kernel, e.g. `"dataSync"`, `"itemAsync"`, `"matmul"` (the kernel of a fallback or move). */
  readonly operation: string;
  /** The tensor read. */
  readonly tensor: Tensor;
  /** Its storage's id (equal for views of one storage: see `Tensor.storageId`). */
  readonly storageId: number;
  /** The backend the elements were read from. */
  readonly backend: string;
  /** Bytes read (elements × their storage size). */
  readonly bytes: number;
  /** False for `await tensor.data()` and its siblings. */
  readonly synchronous: boolean;
}

/** Receives every read of tensor elements back to the CPU (see {@link addReadObserver}). */
export type ReadObserver = (event: ReadEvent) => void;

/** Counts for leak checks: live tensors, live storages and each backend's own counts. */
export interface MemoryInfo {
  /** Tensors created and not yet disposed. */
  readonly tensors: number;
  /** Distinct storages alive (reshapes share one). */
  readonly storages: number;
  /** Bytes of live storage (by dtype size × elements). */
  readonly bytes: number;
  /** Each backend's own report, by name. */
  readonly backends: Readonly<Record<string, { readonly handles: number; readonly bytes: number }>>;
}

interface Scope {
  readonly tensors: Set<Tensor>;
}

const scopes: Scope[] = [];
const kept = new WeakSet<Tensor>();
const observers = new Set<OperationObserver>();
const readObservers = new Set<ReadObserver>();
const touchedBackends = new Set<Backend>();
let liveTensors = 0;
let liveStorages = 0;
let liveBytes = 0;
let operationDepth = 0;

/** Drops one reference to a storage; the last one releases the backend's handle. */
function releaseStorage(storage: TensorStorage): void {
  storage.referenceCount--;
  if (storage.referenceCount === 0) {
    storage.backend.dispose(storage.handle);
    liveStorages--;
    liveBytes -= storageBytes(storage.dtype, storage.size);
  }
}

/** @throws SynchronousReadError when `backend` reads only asynchronously; `what` says what needed the read. */
function assertSynchronousRead(backend: Backend, what: string): void {
  if (backend.readsSynchronously === false) {
    throw new SynchronousReadError(
      `${what} needs a synchronous read, but backend "${backend.name}" reads back only asynchronously; use await tensor.data() (or toArrayAsync(), itemAsync(), toFloat32ArrayAsync())`,
    );
  }
}

/** Tells the read observers (if any) that `tensor`'s elements are being read. */
function reportRead(kind: ReadEvent["kind"], operation: string, tensor: Tensor, synchronous: boolean): void {
  if (readObservers.size === 0) return;
  const storage = tensor.storage;
  const event: ReadEvent = {
    kind,
    operation,
    tensor,
    storageId: storage.id,
    backend: storage.backend.name,
    bytes: storageBytes(storage.dtype, storage.size),
    synchronous,
  };
  for (const observer of readObservers) observer(event);
}

function describeTensor(tensor: Tensor): string {
  return `tensor #${tensor.id} ${formatShape(tensor.shape)} ${tensor.dtype}`;
}

const lifecycle: TensorLifecycle = {
  release(tensor: Tensor): void {
    liveTensors--;
    for (const scope of scopes) scope.tensors.delete(tensor);
    releaseStorage(tensor.storage);
  },
  readValues(tensor: Tensor, operation: string): StorageValues {
    const storage = tensor.storage;
    assertSynchronousRead(storage.backend, `${operation}() of ${describeTensor(tensor)}`);
    reportRead("read", operation, tensor, true);
    return storage.backend.read(storage.handle, storage.dtype, storage.size);
  },
  async readValuesAsync(tensor: Tensor, operation: string): Promise<StorageValues> {
    const storage = tensor.storage;
    const backend = storage.backend;
    reportRead("read", operation, tensor, false);
    // Hold a reference while the read is in flight: disposing the tensor meanwhile must not free its storage.
    storage.referenceCount++;
    try {
      if (backend.readAsync !== undefined)
        return await backend.readAsync(storage.handle, storage.dtype, storage.size);
      return backend.read(storage.handle, storage.dtype, storage.size).slice();
    } finally {
      releaseStorage(storage);
    }
  },
};

function track(tensor: Tensor): Tensor {
  liveTensors++;
  scopes[scopes.length - 1]?.tensors.add(tensor);
  return tensor;
}

/** Wraps a new storage (reference count 1) in a tensor tracked by the current scope. */
function tensorFromStorage(shape: readonly number[], storage: TensorStorage): Tensor {
  liveStorages++;
  liveBytes += storageBytes(storage.dtype, storage.size);
  touchedBackends.add(storage.backend);
  return track(new Tensor(shape, storage, lifecycle));
}

/**
 * Creates a tensor on the active backend from CPU values in storage form (bit patterns for the 16-bit types);
 * takes ownership of `values`.
 */
export function makeTensor(values: StorageValues, shape: readonly number[], dtype: DType): Tensor {
  const backend = activeBackend();
  return tensorFromStorage(
    shape,
    new TensorStorage(backend, backend.upload(values, dtype), dtype, values.length),
  );
}

/** A copy of a tensor's elements in storage form (bit patterns for the 16-bit types), read back synchronously. */
export function readStorage(tensor: Tensor): StorageValues {
  tensor.assertLive("read");
  return lifecycle.readValues(tensor, "read").slice();
}

/** A new tensor sharing `tensor`'s storage with another shape of the same size (no copy). */
export function makeView(tensor: Tensor, shape: readonly number[]): Tensor {
  tensor.assertLive("reshape");
  tensor.storage.referenceCount++;
  return track(new Tensor(shape, tensor.storage, lifecycle));
}

/** Moves a tensor's storage to `backend` (read back, upload) when it lives elsewhere; `kernel` wants it there. */
function moveTo(tensor: Tensor, backend: Backend, kernel: string): void {
  const storage = tensor.storage;
  if (storage.backend === backend) return;
  assertSynchronousRead(storage.backend, `moving ${describeTensor(tensor)} to backend "${backend.name}"`);
  reportRead("move", kernel, tensor, true);
  const values = storage.backend.read(storage.handle, storage.dtype, storage.size).slice();
  storage.backend.dispose(storage.handle);
  storage.handle = backend.upload(values, storage.dtype);
  storage.backend = backend;
  touchedBackends.add(backend);
}

/**
 * Runs one kernel on the active backend and wraps its output in a new tensor. Inputs must already have the
 * layout the kernel expects (see `KernelAttributeMap`); inputs held by another backend are moved first. When
 * the backend lacks the kernel, the `js` kernel runs on read-back values and the fallback is recorded.
 */
export function runKernel<K extends KernelName>(
  name: K,
  inputs: readonly Tensor[],
  attributes: KernelAttributeMap[K],
): Tensor {
  for (const tensor of inputs) tensor.assertLive(name);
  const backend = activeBackend();
  for (const tensor of inputs) moveTo(tensor, backend, name);
  const kernel = backend.kernels[name] as
    | ((inputs: readonly TensorInfo[], attributes: KernelAttributeMap[K], backend: Backend) => TensorInfo)
    | undefined;
  if (kernel !== undefined) {
    const output = kernel(
      inputs.map((tensor) => ({ handle: tensor.storage.handle, shape: tensor.shape, dtype: tensor.dtype })),
      attributes,
      backend,
    );
    const size = output.shape.reduce((product, extent) => product * extent, 1);
    return tensorFromStorage(output.shape, new TensorStorage(backend, output.handle, output.dtype, size));
  }
  assertSynchronousRead(backend, `kernel "${name}" (missing on "${backend.name}", so it falls back to js)`);
  recordKernelFallback(backend.name, name);
  for (const tensor of inputs) reportRead("kernel-fallback", name, tensor, true);
  const cpuInputs: CpuTensor[] = inputs.map((tensor) => ({
    values: backend.read(tensor.storage.handle, tensor.dtype, tensor.size).slice(),
    shape: tensor.shape,
    dtype: tensor.dtype,
  }));
  const result = (
    cpuKernels[name] as (inputs: readonly CpuTensor[], attributes: KernelAttributeMap[K]) => CpuTensor
  )(cpuInputs, attributes);
  return makeTensor(result.values, result.shape, result.dtype);
}

/**
 * Runs a public operation: `compute` does the work (any number of kernels and views); observers then see
 * one record with the op's own inputs and output. Operations nested inside `compute` are not reported.
 */
export function runOperation(
  name: string,
  inputs: readonly Tensor[],
  attributes: Readonly<Record<string, unknown>>,
  compute: () => Tensor,
): Tensor {
  for (const tensor of inputs) tensor.assertLive(name);
  operationDepth++;
  let output: Tensor;
  try {
    output = compute();
  } finally {
    operationDepth--;
  }
  if (operationDepth === 0 && observers.size > 0) {
    const record: OperationRecord = { name, inputs, attributes, output };
    for (const observer of observers) observer(record);
  }
  return output;
}

/**
 * Registers an observer of public operations (used by the autograd tape).
 *
 * @returns a function that removes the observer.
 */
export function addOperationObserver(observer: OperationObserver): () => void {
  observers.add(observer);
  return () => {
    observers.delete(observer);
  };
}

/**
 * Registers an observer of reads: every time the engine reads a tensor's elements back to the CPU (a public
 * read such as `dataSync()` or `await data()`, a tensor moving to another backend, an input of a kernel that
 * falls back to `js`), the observer receives a {@link ReadEvent} naming the tensor and its storage. A test can
 * count them, e.g. to prove that a training step reads no weight back:
 *
 * ```ts
 * const reads: ReadEvent[] = [];
 * const stop = addReadObserver((event) => reads.push(event));
 * step();
 * stop();
 * expect(reads.filter((event) => weightStorages.has(event.storageId))).toEqual([]);
 * ```
 *
 * @returns a function that removes the observer.
 */
export function addReadObserver(observer: ReadObserver): () => void {
  readObservers.add(observer);
  return () => {
    readObservers.delete(observer);
  };
}

/** A value `tidy` may return: tensors found in it (also inside arrays and plain objects) survive the scope. */
export type TensorContainer =
  | Tensor
  | readonly TensorContainer[]
  | { readonly [key: string]: TensorContainer }
  // biome-ignore lint/suspicious/noConfusingVoidType: lets tidy() take functions that return nothing.
  | void
  | number
  | string
  | boolean
  | null
  | undefined;

function collectTensors(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const item of value) collectTensors(item, into);
  } else if (
    value !== null &&
    typeof value === "object" &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    for (const item of Object.values(value)) collectTensors(item, into);
  }
}

/**
 * Runs `fn` and disposes every tensor created during it, except those it returns (found in arrays and plain
 * objects too) and those passed to {@link keep}. Returned tensors belong to the enclosing scope.
 * `fn` must be synchronous (read results with `await tensor.data()` after `tidy` returns).
 */
export function tidy<T extends TensorContainer>(fn: () => T): T {
  const scope: Scope = { tensors: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const tensor of scope.tensors) tensor.dispose();
    throw error;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const tensor of scope.tensors) {
    if (!survivors.has(tensor)) tensor.dispose();
  }
  const parent = scopes[scopes.length - 1];
  if (parent !== undefined) {
    // Only tensors this scope owned move up; a returned tensor created outside stays with its owner.
    for (const tensor of survivors) if (scope.tensors.has(tensor)) parent.tensors.add(tensor);
  }
  return result;
}

/** Exempts a tensor from disposal by the enclosing `tidy` scopes; returns it. */
export function keep<T extends Tensor>(tensor: T): T {
  kept.add(tensor);
  for (const scope of scopes) scope.tensors.delete(tensor);
  return tensor;
}

/** Disposes a tensor, or every tensor in an array or plain object. */
export function dispose(value: TensorContainer): void {
  const tensors = new Set<Tensor>();
  collectTensors(value, tensors);
  for (const tensor of tensors) tensor.dispose();
}

/** Live tensor, storage and byte counts, plus each backend's own counts (for leak tests). */
export function memory(): MemoryInfo {
  const backends: Record<string, { handles: number; bytes: number }> = {};
  for (const backend of touchedBackends) backends[backend.name] = { ...backend.memory() };
  return { tensors: liveTensors, storages: liveStorages, bytes: liveBytes, backends };
}
