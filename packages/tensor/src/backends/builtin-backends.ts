import type { BackendDefinition } from "../backend/backend.js";
import { gpuBackendDefinition } from "./gpu/index.js";
import { wasmBackendDefinition } from "./wasm/index.js";

/**
 * The backends registered by default besides `js`: `wasm` (priority 2), `gpu` (priority 3, available only in a
 * real GPU mode of gpu.js: WebGL2, WebGL, headless-gl) and `webgpu` (gpu.js's WebGPU mode, available where a
 * WebGPU adapter exists; it reads back only asynchronously, so `setBackend("auto")` never picks it: ask for it
 * by name and read with `await tensor.data()`). Each is created and initialised only when requested
 * (`setBackend(name)`, `setBackend("auto")` or `probeBackends()`); gpu.js itself is imported only then.
 */
export const builtinBackendDefinitions: readonly BackendDefinition[] = [
  wasmBackendDefinition,
  gpuBackendDefinition(),
  gpuBackendDefinition({ mode: "webgpu", name: "webgpu" }),
];
