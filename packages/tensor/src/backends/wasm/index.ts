/**
 * The WebAssembly SIMD backend of `@peftjs/tensor`.
 *
 * @packageDocumentation
 */
export type { PackedPanelStatistics } from "./packed-panels.js";
export {
  createWasmBackendDefinition,
  defaultPackedWeightCacheBytes,
  WasmBackend,
  type WasmBackendOptions,
  wasmBackendDefinition,
} from "./wasm-backend.js";
export { relaxedSimdSupported, sharedMemorySupported, simdSupported } from "./wasm-module.js";
