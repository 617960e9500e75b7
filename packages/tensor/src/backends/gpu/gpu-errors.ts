import { PeftjsError } from "@peftjs/io";

/** A tensor does not fit the gpu backend's storage: its element count exceeds what one texture/buffer can index exactly. */
export class GpuCapacityError extends PeftjsError {
  constructor(message: string) {
    super("gpu_capacity", message);
  }
}

/**
 * A synchronous read-back was asked of a gpu.js mode that can only read asynchronously (WebGPU's `mapAsync`).
 * Use the backend's `readAsync` instead.
 */
export class GpuSynchronousReadError extends PeftjsError {
  constructor(message: string) {
    super("gpu_synchronous_read", message);
  }
}

/** gpu.js failed to compile or run one of the backend's kernels; `cause` holds gpu.js's own error. */
export class GpuKernelError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("gpu_kernel", message, options);
  }
}

/** A handle was used after the gpu backend released it. */
export class GpuReleasedHandleError extends PeftjsError {
  constructor(message: string) {
    super("gpu_released_handle", message);
  }
}
