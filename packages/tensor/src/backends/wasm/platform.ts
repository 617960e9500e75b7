/**
 * The platform seam of the wasm backend: how to start a worker, how many cores there are, and whether the
 * calling thread may block in `Atomics.wait` (Node and workers may; a browser main thread may not).
 */
import { workerSource } from "./worker-source.js";

/** What the thread pool needs from a worker, in Node and in browsers. */
export interface KernelWorker {
  postMessage(message: unknown): void;
  /** Resolves with the first message the worker sends, rejects on its first error. */
  firstMessage(): Promise<unknown>;
  terminate(): void;
}

interface NodeWorkerThreads {
  Worker: new (
    source: string,
    options: { eval: boolean },
  ) => {
    postMessage(message: unknown): void;
    once(event: "message" | "error", listener: (value: unknown) => void): void;
    unref(): void;
    terminate(): Promise<number>;
  };
}

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (name: string) => unknown;
}

function nodeProcess(): NodeProcess | undefined {
  const candidate = (globalThis as { process?: NodeProcess }).process;
  return candidate?.versions?.node === undefined ? undefined : candidate;
}

/** Loads a Node built-in without letting bundlers see the specifier. */
async function nodeBuiltin<T>(name: string): Promise<T> {
  const fromProcess = nodeProcess()?.getBuiltinModule?.(name);
  if (fromProcess !== undefined) return fromProcess as T;
  const specifier = name;
  return (await import(/* @vite-ignore */ specifier)) as T;
}

/** Number of logical cores (1 when unknown). */
export async function coreCount(): Promise<number> {
  if (nodeProcess() !== undefined) {
    const os = await nodeBuiltin<{ availableParallelism?: () => number; cpus: () => unknown[] }>("node:os");
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  const concurrency = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return Math.max(1, concurrency ?? 1);
}

/** True when workers can be started here (worker_threads in Node, `Worker` + Blob URLs in browsers). */
export function workersSupported(): boolean {
  if (nodeProcess() !== undefined) return true;
  return (
    typeof Worker === "function" && typeof Blob === "function" && typeof URL?.createObjectURL === "function"
  );
}

/** True when this thread may block in `Atomics.wait` (false on a browser main thread). */
export function canBlock(): boolean {
  try {
    // Different value: returns "not-equal" immediately where waiting is allowed, throws where it is not.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts a worker running {@link workerSource}; Node workers are unref'd so they never keep the process alive. */
export async function startWorker(): Promise<KernelWorker> {
  if (nodeProcess() !== undefined) {
    const { Worker } = await nodeBuiltin<NodeWorkerThreads>("node:worker_threads");
    const worker = new Worker(workerSource, { eval: true });
    worker.unref();
    return {
      postMessage: (message) => worker.postMessage(message),
      firstMessage: () =>
        new Promise((resolve, reject) => {
          worker.once("message", resolve);
          worker.once("error", reject);
        }),
      terminate: () => {
        void worker.terminate();
      },
    };
  }
  const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
  const worker = new Worker(url);
  return {
    postMessage: (message) => worker.postMessage(message),
    firstMessage: () =>
      new Promise((resolve, reject) => {
        worker.addEventListener(
          "message",
          (event) => {
            URL.revokeObjectURL(url);
            resolve(event.data);
          },
          { once: true },
        );
        worker.addEventListener("error", (event) => reject(new Error(event.message)), { once: true });
      }),
    terminate: () => worker.terminate(),
  };
}
