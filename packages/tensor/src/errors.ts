import { PeftjsError } from "@peftjs/io";

/** An op received tensors whose shapes do not fit together; the message names the shapes. */
export class ShapeError extends PeftjsError {
  constructor(message: string) {
    super("tensor_shape", message);
  }
}

/** An op received a tensor of the wrong dtype (e.g. float32 indices for `gather`). */
export class DTypeError extends PeftjsError {
  constructor(message: string) {
    super("tensor_dtype", message);
  }
}

/** A tensor was used after `dispose()` (directly or by an enclosing `tidy`). */
export class DisposedTensorError extends PeftjsError {
  constructor(message: string) {
    super("tensor_disposed", message);
  }
}

/** An argument is out of its valid range (a negative size, an axis past the rank, a non-finite seed, ...). */
export class TensorArgumentError extends PeftjsError {
  constructor(message: string) {
    super("tensor_argument", message);
  }
}

/**
 * A synchronous read (`dataSync`, `toArray`, `item`, a scatter-type gradient, moving a tensor to another
 * backend, a kernel fallback to `js`) was asked of a backend that can only read asynchronously (gpu.js's WebGPU
 * mode). The message names the tensor and what to use instead (`await tensor.data()` and its siblings).
 */
export class SynchronousReadError extends PeftjsError {
  constructor(message: string) {
    super("tensor_synchronous_read", message);
  }
}

/**
 * A backend was requested that cannot run here. `available` lists the backends that can, and `reason` says
 * why the requested one cannot.
 */
export class BackendUnavailableError extends PeftjsError {
  /** The backend that was requested. */
  readonly backend: string;
  /** Why it is unavailable. */
  readonly reason: string;
  /** Names of the backends that are available. */
  readonly available: readonly string[];

  constructor(backend: string, reason: string, available: readonly string[]) {
    super(
      "backend_unavailable",
      `backend "${backend}" is unavailable: ${reason}; available backends: ${available.map((name) => `"${name}"`).join(", ") || "none"}`,
    );
    this.backend = backend;
    this.reason = reason;
    this.available = available;
  }
}
