/**
 * The gpu.js backend of @peftjs/tensor. See README.md in this folder for modes, tiling and limits.
 *
 * @packageDocumentation
 */
export {
  createGpuBackend,
  defaultMaxMatmulWorkPerDispatch,
  GpuBackend,
  type GpuBackendOptions,
  gpuBackendDefinition,
} from "./gpu-backend.js";
export { type GpuDeviceMemory, type GpuStorage, maxExactIndex } from "./gpu-device.js";
export {
  GpuCapacityError,
  GpuKernelError,
  GpuReleasedHandleError,
  GpuSynchronousReadError,
} from "./gpu-errors.js";
export type { GpuJsConstructor, GpuJsInstance } from "./gpu-js-types.js";
export { type GpuMode, type GpuModeRequest, gpuModes, isGpuMode } from "./gpu-modes.js";
