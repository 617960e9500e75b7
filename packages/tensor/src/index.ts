export type {
  Backend,
  BackendAvailability,
  BackendDefinition,
  BackendMemory,
  DataHandle,
  DType,
  Kernel,
  KernelAttributeMap,
  KernelName,
  KernelTable,
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
  BackendUnavailableError,
  DisposedTensorError,
  DTypeError,
  ShapeError,
  TensorArgumentError,
} from "./errors.js";
