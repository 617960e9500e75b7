export { AutogradError } from "./autograd/errors.js";
export { stopGradient } from "./autograd/stop-gradient.js";
export type { GradientsOf, ParameterSet, ValueAndGradients } from "./autograd/tape.js";
export { valueAndGradients } from "./autograd/tape.js";
export type {
  Backend,
  BackendAvailability,
  BackendDefinition,
  BackendMemory,
  DataHandle,
  DType,
  HalfDType,
  Kernel,
  KernelAttributeMap,
  KernelName,
  KernelTable,
  StorageValues,
  TensorInfo,
  TensorValues,
  TypedArrayFor,
} from "./backend/backend.js";
export type { BackendEvent, BackendEventListener } from "./backend/events.js";
export { onBackendEvent } from "./backend/events.js";
export type { BackendInfo, BackendStatus } from "./backend/registry.js";
export {
  backendStatus,
  getBackend,
  isBackendRegistered,
  listBackends,
  probeBackends,
  registerBackend,
  setBackend,
  unregisterBackend,
} from "./backend/registry.js";
export {
  createGpuBackend,
  GpuBackend,
  type GpuBackendOptions,
  GpuCapacityError,
  GpuKernelError,
  type GpuMode,
  type GpuModeRequest,
  GpuReleasedHandleError,
  GpuSynchronousReadError,
  gpuBackendDefinition,
  gpuModes,
  isGpuMode,
} from "./backends/gpu/index.js";
export {
  createWasmBackendDefinition,
  defaultPackedWeightCacheBytes,
  type PackedPanelStatistics,
  WasmBackend,
  type WasmBackendOptions,
  wasmBackendDefinition,
} from "./backends/wasm/index.js";
export { bytesPerElement, dtypes, isDType } from "./dtype/dtypes.js";
export type {
  MemoryInfo,
  OperationObserver,
  OperationRecord,
  ReadEvent,
  ReadObserver,
  TensorContainer,
} from "./engine/engine.js";
export { addOperationObserver, addReadObserver, dispose, keep, memory, tidy } from "./engine/engine.js";
export { Tensor } from "./engine/tensor.js";
export {
  BackendUnavailableError,
  DisposedTensorError,
  DTypeError,
  ShapeError,
  SynchronousReadError,
  TensorArgumentError,
} from "./errors.js";
export {
  add,
  axpy,
  clamp,
  div,
  exp,
  log,
  mul,
  neg,
  scale,
  sigmoid,
  silu,
  sqrt,
  sub,
} from "./ops/arithmetic.js";
export { arange, eye, full, ones, scalar, tensor, tensorFromBits, zeros } from "./ops/creation.js";
export { cast, concat, gather, reshape, slice, transpose } from "./ops/layout.js";
export type { CrossEntropyOptions } from "./ops/loss.js";
export { CROSS_ENTROPY_IGNORE_INDEX, crossEntropy } from "./ops/loss.js";
export type { MatmulOptions } from "./ops/matmul.js";
export { matmul } from "./ops/matmul.js";
export {
  allFinite,
  allFiniteAsync,
  finiteMask,
  finiteMask as isFinite,
  frobeniusNorm,
  frobeniusNormAsync,
  scaleColumns,
  scaleRows,
} from "./ops/matrix.js";
export type { RotaryTables, SoftmaxOptions } from "./ops/neural.js";
export { applyRotaryEmbedding, rmsNorm, rotaryTables, softmax, swiGlu } from "./ops/neural.js";
export type { FromRawOptions } from "./ops/raw.js";
export { fromRaw, toRaw } from "./ops/raw.js";
export { argmax, max, mean, sum } from "./ops/reduction.js";
export { createGenerator, kaimingUniformBounds, RandomGenerator } from "./random/generator.js";
export { philox4x32 } from "./random/philox.js";
