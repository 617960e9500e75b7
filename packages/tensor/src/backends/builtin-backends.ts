import type { BackendDefinition } from "../backend/backend.js";
import { wasmBackendDefinition } from "./wasm/index.js";

/**
 * The backends registered by default besides `js`. Each is created and initialised only when requested
 * (`setBackend(name)`, `setBackend("auto")` or `probeBackends()`).
 */
export const builtinBackendDefinitions: readonly BackendDefinition[] = [wasmBackendDefinition];
