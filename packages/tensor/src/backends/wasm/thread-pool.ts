/**
 * Workers that share the kernels' `WebAssembly.Memory` and run GEMM calls in parallel, synchronously from the
 * caller's point of view: the calling thread publishes a job list in shared memory, wakes the workers, claims
 * calls from the shared counter like they do, and waits for the rest (`Atomics.wait` where it may block, spinning on `Atomics.load` on a
 * browser main thread).
 */
import type { WasmHeap } from "./heap.js";
import { canBlock, type KernelWorker, startWorker } from "./platform.js";
import type { KernelExports } from "./wasm-module.js";

/** Int32 slots of the control block (must match `worker-source.ts`). */
const generationSlot = 0;
const pendingSlot = 1;
const quitSlot = 2;
const failedSlot = 3;
const nextSlot = 4;
const countSlot = 5;
const jobsSlot = 6;
const firstWorkerSlot = 8;
const slotsPerWorker = 1;

/** Int32 values per GEMM call: m, n, k, a, lda, transposeA, b, ldb, transposeB, c, ldc, aType, bType. */
export const gemmCallInts = 13;

/**
 * One GEMM call: the arguments of the `gemm` export except its work area (each thread passes its own).
 * `aType`/`bType` are the operands' storage types (0 float32, 1 bfloat16, 2 float16).
 */
export type GemmCall = readonly [
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  transposeA: number,
  b: number,
  ldb: number,
  transposeB: number,
  c: number,
  ldc: number,
  aType: number,
  bType: number,
];

/** Thrown when a worker trapped while running its share of a product. */
export class WorkerKernelError extends Error {}

/** A fixed set of kernel workers plus the calling thread. */
export class ThreadPool {
  /** Total threads that run kernels, the calling thread included. */
  readonly threadCount: number;
  private readonly workers: KernelWorker[];
  private readonly heap: WasmHeap;
  private readonly kernels: KernelExports;
  private readonly control: number;
  private readonly workAreas: readonly number[];
  private readonly mayBlock: boolean;
  private closed = false;

  private constructor(
    heap: WasmHeap,
    kernels: KernelExports,
    workers: KernelWorker[],
    control: number,
    workAreas: readonly number[],
  ) {
    this.heap = heap;
    this.kernels = kernels;
    this.workers = workers;
    this.control = control;
    this.workAreas = workAreas;
    this.threadCount = workers.length + 1;
    this.mayBlock = canBlock();
  }

  /**
   * Starts `threadCount − 1` workers on the shared memory and waits until each has instantiated the kernels.
   * `workAreas[t]` is thread t's GEMM scratch (thread 0 is the caller).
   */
  static async start(
    heap: WasmHeap,
    module: WebAssembly.Module,
    kernels: KernelExports,
    threadCount: number,
    workAreas: readonly number[],
  ): Promise<ThreadPool> {
    const control = heap.allocate((firstWorkerSlot + slotsPerWorker * threadCount) * 4);
    heap.int32.fill(0, control / 4, control / 4 + firstWorkerSlot + slotsPerWorker * threadCount);
    const workers: KernelWorker[] = [];
    try {
      for (let index = 0; index < threadCount - 1; index++) workers.push(await startWorker());
      await Promise.all(
        workers.map((worker, index) => {
          const ready = worker.firstMessage();
          worker.postMessage({ module, memory: heap.memory, control, index });
          return ready;
        }),
      );
    } catch (error) {
      for (const worker of workers) worker.terminate();
      heap.free(control);
      throw error;
    }
    return new ThreadPool(heap, kernels, workers, control, workAreas);
  }

  /**
   * Runs the GEMM calls on all threads and returns when every call is done. Threads (the caller included)
   * claim calls one at a time from a shared counter, so a thread that the OS schedules less (a busy machine,
   * a browser main thread handling events) simply takes fewer calls.
   */
  run(calls: readonly GemmCall[]): void {
    if (this.closed) throw new Error("wasm thread pool was closed");
    const jobs = this.heap.allocate(calls.length * gemmCallInts * 4);
    try {
      const memory = this.heap.int32;
      calls.forEach((call, index) => {
        memory.set(call, jobs / 4 + index * gemmCallInts);
      });
      const state = this.state();
      state[jobsSlot] = jobs;
      state[countSlot] = calls.length;
      for (let worker = 0; worker < this.workers.length; worker++) {
        state[firstWorkerSlot + slotsPerWorker * worker] = this.workAreas[worker + 1]!;
      }
      Atomics.store(state, nextSlot, 0);
      Atomics.store(state, failedSlot, 0);
      Atomics.store(state, pendingSlot, this.workers.length);
      Atomics.add(state, generationSlot, 1);
      Atomics.notify(state, generationSlot);
      try {
        for (
          let index = Atomics.add(state, nextSlot, 1);
          index < calls.length;
          index = Atomics.add(state, nextSlot, 1)
        ) {
          this.kernels.gemm(...calls[index]!, this.workAreas[0]!);
        }
      } finally {
        this.waitForWorkers();
      }
      if (Atomics.load(state, failedSlot) !== 0) {
        throw new WorkerKernelError(
          "a wasm kernel worker trapped while computing its share of a matrix product",
        );
      }
    } finally {
      this.heap.free(jobs);
    }
  }

  /** Stops the workers (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const state = this.state();
    Atomics.store(state, quitSlot, 1);
    Atomics.add(state, generationSlot, 1);
    Atomics.notify(state, generationSlot);
    for (const worker of this.workers) worker.terminate();
  }

  private state(): Int32Array {
    return new Int32Array(
      this.heap.memory.buffer,
      this.control,
      firstWorkerSlot + slotsPerWorker * this.workers.length,
    );
  }

  private waitForWorkers(): void {
    const state = this.state();
    for (;;) {
      const pending = Atomics.load(state, pendingSlot);
      if (pending === 0) return;
      if (this.mayBlock) Atomics.wait(state, pendingSlot, pending);
    }
  }
}
