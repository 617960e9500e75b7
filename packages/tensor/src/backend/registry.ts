/**
 * The backend registry: which backends exist, which ones can run here, and which one is active.
 *
 * Backends register a {@link BackendDefinition}; `setBackend(name)` creates and initialises it (once), runs
 * the shared self-test against the `js` reference, and makes it active. `setBackend("auto")` takes the
 * highest-priority backend that passes. The `js` backend is always registered, always available and active
 * until `setBackend` is called, so synchronous code works without any set-up. The other built-in backends
 * (`src/backends/builtin-backends.ts`) are registered at load time but created only when first requested.
 */
import { builtinBackendDefinitions } from "../backends/builtin-backends.js";
import { jsBackend } from "../backends/js/js-backend.js";
import { BackendUnavailableError, TensorArgumentError } from "../errors.js";
import type { Backend, BackendAvailability, BackendDefinition } from "./backend.js";
import { emitBackendEvent } from "./events.js";
import { runSelfTest } from "./self-test.js";

/** A backend as `listBackends()` reports it. */
export interface BackendInfo {
  /** The backend's name. */
  readonly name: string;
  /** Its priority for `auto`. */
  readonly priority: number;
  /** Its probe result, or `undefined` when it has not been initialised yet (see `probeBackends()`). */
  readonly availability: BackendAvailability | undefined;
  /** True for the active backend. */
  readonly active: boolean;
}

/** The state of backend selection, for diagnostics and for tests that must prove nothing fell back silently. */
export interface BackendStatus {
  /** The active backend's name. */
  readonly active: string;
  /** What the last `setBackend` call asked for (`"js"` before any call). */
  readonly requested: string;
  /** Why the active backend was chosen. */
  readonly reason: string;
  /** Every registered backend. */
  readonly backends: readonly BackendInfo[];
  /** Number of kernel calls that ran on `js` because the active backend lacks the kernel, by `"backend/kernel"`. */
  readonly fallbacks: Readonly<Record<string, number>>;
}

interface RegistryEntry {
  readonly definition: BackendDefinition;
  backend: Backend | undefined;
  availability: BackendAvailability | undefined;
  initializing: Promise<void> | undefined;
}

const jsAvailability: BackendAvailability = {
  available: true,
  reason: "plain TypeScript reference kernels run everywhere",
};

const entries = new Map<string, RegistryEntry>([
  [
    jsBackend.name,
    {
      definition: { name: jsBackend.name, priority: jsBackend.priority, create: () => jsBackend },
      backend: jsBackend,
      availability: jsAvailability,
      initializing: undefined,
    },
  ],
]);

for (const definition of builtinBackendDefinitions) {
  entries.set(definition.name, {
    definition,
    backend: undefined,
    availability: undefined,
    initializing: undefined,
  });
}

let active: Backend = jsBackend;
let requested = "js";
let activeReason = "default backend before any setBackend() call";
const fallbackCounts = new Map<string, number>();

/**
 * Registers a backend so that `setBackend` can choose it. Nothing is imported or initialised until the backend
 * is requested (or `probeBackends()` is called).
 *
 * @throws TensorArgumentError when a backend of that name is already registered.
 */
export function registerBackend(definition: BackendDefinition): void {
  if (entries.has(definition.name)) {
    throw new TensorArgumentError(`a backend named "${definition.name}" is already registered`);
  }
  entries.set(definition.name, {
    definition,
    backend: undefined,
    availability: undefined,
    initializing: undefined,
  });
}

/**
 * Removes a registered backend (mainly for tests). The `js` backend and the active backend cannot be removed.
 *
 * @returns true when a backend was removed.
 */
export function unregisterBackend(name: string): boolean {
  if (name === jsBackend.name || name === active.name) {
    throw new TensorArgumentError(
      `backend "${name}" cannot be unregistered while it is ${name === "js" ? "the reference" : "active"}`,
    );
  }
  return entries.delete(name);
}

/** True when a backend of this name is registered (whether or not it is available). */
export function isBackendRegistered(name: string): boolean {
  return entries.has(name);
}

async function initializeEntry(entry: RegistryEntry): Promise<void> {
  if (entry.availability !== undefined) return;
  entry.initializing ??= (async () => {
    let availability: BackendAvailability;
    try {
      const backend = await entry.definition.create();
      availability = await backend.initialize();
      if (availability.available) {
        const failure = await runSelfTest(backend);
        if (failure !== undefined)
          availability = { ...availability, available: false, reason: `self-test failed: ${failure}` };
      }
      entry.backend = backend;
    } catch (error) {
      availability = {
        available: false,
        reason: `initialisation threw: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    entry.availability = availability;
    if (!availability.available) {
      emitBackendEvent({
        type: "backend-unavailable",
        backend: entry.definition.name,
        reason: availability.reason,
      });
    }
  })();
  await entry.initializing;
}

/** Initialises every registered backend (each once) and reports them all. */
export async function probeBackends(): Promise<BackendInfo[]> {
  await Promise.all([...entries.values()].map((entry) => initializeEntry(entry)));
  return listBackends();
}

/**
 * Makes a backend active. `"auto"` picks the highest-priority registered backend that initialises, passes
 * its self-test, reads back synchronously (so that `dataSync()` keeps working: the `webgpu` backend must be
 * asked for by name) and is not a software-emulated GPU (`details.softwareRenderer`); a name picks that
 * backend or throws.
 *
 * @throws BackendUnavailableError listing the available backends, when the named backend is not registered,
 *   fails to initialise or fails its self-test.
 */
export async function setBackend(name: string): Promise<void> {
  if (name === "auto") {
    const infos = await probeBackends();
    // A "GPU" that is really a software rasteriser (SwiftShader, llvmpipe) is far slower than the wasm
    // backend, so auto never picks it; asking for it by name still works.
    const best = infos
      .filter(
        (info) =>
          info.availability?.available === true &&
          info.availability.details?.softwareRenderer !== true &&
          entries.get(info.name)?.backend?.readsSynchronously !== false,
      )
      .sort((left, right) => right.priority - left.priority)[0];
    // js is always available, so `best` exists.
    const chosen = entries.get(best!.name)!;
    activate(chosen, "auto");
    return;
  }
  const entry = entries.get(name);
  if (entry === undefined) {
    const available = (await probeBackends())
      .filter((info) => info.availability?.available)
      .map((info) => info.name);
    throw new BackendUnavailableError(name, `no backend named "${name}" is registered`, available);
  }
  await initializeEntry(entry);
  if (!entry.availability?.available || entry.backend === undefined) {
    const available = (await probeBackends())
      .filter((info) => info.availability?.available)
      .map((info) => info.name);
    throw new BackendUnavailableError(name, entry.availability?.reason ?? "not initialised", available);
  }
  activate(entry, name);
}

function activate(entry: RegistryEntry, requestedName: string): void {
  active = entry.backend!;
  requested = requestedName;
  activeReason = entry.availability!.reason;
  emitBackendEvent({
    type: "backend-selected",
    backend: active.name,
    requested: requestedName,
    reason: activeReason,
  });
}

/** The name of the active backend (`"js"` until `setBackend` chooses another). */
export function getBackend(): string {
  return active.name;
}

/** The active backend object (for the engine and for backend authors). */
export function activeBackend(): Backend {
  return active;
}

/** The initialised backend of this name, if any (the engine uses it to read tensors held by a non-active backend). */
export function backendInstance(name: string): Backend | undefined {
  return entries.get(name)?.backend;
}

/** Every registered backend, with its availability if it has been probed. */
export function listBackends(): BackendInfo[] {
  return [...entries.values()].map((entry) => ({
    name: entry.definition.name,
    priority: entry.definition.priority,
    availability: entry.availability,
    active: entry.backend !== undefined && entry.backend === active,
  }));
}

/** The active backend, why it was chosen, every backend's availability and the kernel fallback counts. */
export function backendStatus(): BackendStatus {
  return {
    active: active.name,
    requested,
    reason: activeReason,
    backends: listBackends(),
    fallbacks: Object.fromEntries(fallbackCounts),
  };
}

/**
 * Counts a kernel that ran on `js` for `backend`; the first time per backend and kernel it emits a
 * `kernel-fallback` event.
 */
export function recordKernelFallback(backend: string, kernel: string): void {
  const key = `${backend}/${kernel}`;
  const count = fallbackCounts.get(key) ?? 0;
  fallbackCounts.set(key, count + 1);
  if (count === 0) emitBackendEvent({ type: "kernel-fallback", backend, kernel });
}
