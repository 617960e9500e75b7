import type { BackendDefinition } from "../backend/backend.js";
import { gpuBackendDefinition } from "./gpu/index.js";
import { wasmBackendDefinition } from "./wasm/index.js";

/**
 * The backends registered by default besides `js`: `wasm` (priority 2) and `gpu` (priority 3, available only
 * in a real GPU mode of gpu.js). Each is created and initialised only when requested (`setBackend(name)`,
 * `setBackend("auto")` or `probeBackends()`); gpu.js itself is imported only then.
 */
export const builtinBackendDefinitions: readonly BackendDefinition[] = [
  wasmBackendDefinition,
  gpuBackendDefinition(),
];
