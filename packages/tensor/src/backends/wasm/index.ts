/**
 * The WebAssembly SIMD backend of `@peftjs/tensor`.
 *
 * @packageDocumentation
 */
export {
  createWasmBackendDefinition,
  WasmBackend,
  type WasmBackendOptions,
  wasmBackendDefinition,
} from "./wasm-backend.js";
export { relaxedSimdSupported, sharedMemorySupported, simdSupported } from "./wasm-module.js";
