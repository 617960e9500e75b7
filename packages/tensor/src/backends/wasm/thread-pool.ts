/**
 * Workers that share the kernels' `WebAssembly.Memory` and run kernel jobs in parallel, synchronously from the
 * caller's point of view: the calling thread publishes a job list in shared memory (records of the `runJob`
 * export: a kind, then the kernel's arguments), wakes the workers, claims jobs from the shared counter like they
 * do, and waits until every claimed job is done (`Atomics.wait` where it may block, spinning on `Atomics.load`
 * on a browser main thread). It never waits for a worker that has not woken up yet: a job nobody claimed is run
 * by the caller, and a worker that wakes late finds the list empty (or a newer one).
 */
import { jobKinds, jobSlots } from "./generated/kernels-binary.js";
import type { WasmHeap } from "./heap.js";
import { canBlock, type KernelWorker, startWorker } from "./platform.js";
import type { KernelExports } from "./wasm-module.js";
import { claimCountLimit, spinMilliseconds } from "./worker-source.js";

/** Int32 slots of the control block (must match `worker-source.ts`). */
const generationSlot = 0;
const doneSlot = 1;
const quitSlot = 2;
const failedSlot = 3;
const claimSlot = 4;
const jobsSlot = 5;
const blockedSlot = 6;
const firstWorkerSlot = 8;
const slotsPerWorker = 1;

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

/**
 * One job of the `runJob` export: its kind (`jobKinds`), then the kernel's arguments as 32-bit slots (i32
 * values, or the bits of an f32 from {@link floatSlot}); the thread's work area is added by whoever runs it.
 */
export type Job = readonly number[];

/** A GEMM call as a job. */
export function gemmJob(call: GemmCall): Job {
  return [jobKinds.gemm, ...call];
}

const floatScratch = new Float32Array(1);
const floatScratchBits = new Int32Array(floatScratch.buffer);

/** The i32 slot that holds the bits of `value` rounded to float32 (for a kernel's f32 parameter). */
export function floatSlot(value: number): number {
  floatScratch[0] = value;
  return floatScratchBits[0]!;
}

/** Writes job records at `pointer` (`jobSlots` i32 each). */
export function writeJobs(memory: Int32Array, pointer: number, jobs: readonly Job[]): void {
  jobs.forEach((job, index) => {
    if (job.length > jobSlots)
      throw new RangeError(`a wasm job has ${job.length} slots, at most ${jobSlots}`);
    memory.set(job, pointer / 4 + index * jobSlots);
  });
}

/** Most jobs in one published list: the claim word holds the list's length in 15 bits. */
const maxJobsPerList = claimCountLimit;

/**
 * Claims the next job of the published list: the claim slot holds `count << 16 | next index`, so one atomic
 * compare-and-exchange both checks that jobs are left and takes one, whichever list is current (a thread that
 * read an older list's word simply fails the exchange and reads again). Returns the index, or −1 when every
 * job of the current list is claimed. (The worker source has the same function.)
 */
function claimJob(state: Int32Array): number {
  for (;;) {
    const word = Atomics.load(state, claimSlot);
    const index = word & 0xffff;
    if (index >= word >>> 16) return -1;
    if (Atomics.compareExchange(state, claimSlot, word, word + 1) === word) return index;
  }
}

/** Thrown when a worker trapped while running its share of a kernel. */
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
   * Runs the jobs on all threads and returns when every job is done. Threads (the caller included) claim jobs
   * one at a time from a shared counter, so a thread that the OS schedules less (a busy machine, a browser main
   * thread handling events) simply takes fewer jobs, and a worker still asleep when the caller has claimed the
   * last job costs nothing: the caller waits only for jobs that were claimed.
   */
  run(calls: readonly Job[]): void {
    if (this.closed) throw new Error("wasm thread pool was closed");
    for (let start = 0; start < calls.length; start += maxJobsPerList) {
      this.runList(calls.length <= maxJobsPerList ? calls : calls.slice(start, start + maxJobsPerList));
    }
  }

  private runList(calls: readonly Job[]): void {
    const jobs = this.heap.allocate(calls.length * jobSlots * 4);
    try {
      writeJobs(this.heap.int32, jobs, calls);
      const state = this.state();
      state[jobsSlot] = jobs;
      for (let worker = 0; worker < this.workers.length; worker++) {
        state[firstWorkerSlot + slotsPerWorker * worker] = this.workAreas[worker + 1]!;
      }
      Atomics.store(state, doneSlot, 0);
      Atomics.store(state, failedSlot, 0);
      // Publishing the claim word opens the list; a worker reads the list's address only after a claim.
      Atomics.store(state, claimSlot, calls.length << 16);
      Atomics.add(state, generationSlot, 1);
      // Spinning and polling workers see the new generation by themselves; only blocked ones need the (costly)
      // wake-up. A worker that is about to block has counted itself already, or will see this generation.
      if (Atomics.load(state, blockedSlot) !== 0) Atomics.notify(state, generationSlot);
      // After a trap here the caller keeps claiming (and counting as done, unrun) so that no job is left that
      // nobody will claim: the counter must reach the list's length for the wait below to end.
      let trap: unknown;
      for (let index = claimJob(state); index >= 0; index = claimJob(state)) {
        if (trap === undefined) {
          try {
            this.kernels.runJob(jobs + index * jobSlots * 4, this.workAreas[0]!);
          } catch (error) {
            trap = error ?? new Error("a wasm kernel trapped");
          }
        }
        Atomics.add(state, doneSlot, 1);
      }
      this.waitForClaimedJobs(calls.length);
      if (trap !== undefined) throw trap;
      if (Atomics.load(state, failedSlot) !== 0) {
        throw new WorkerKernelError("a wasm kernel worker trapped while computing its share of a kernel");
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

  /**
   * Waits until all `count` jobs of the current list are done. Every job is claimed by now (the caller's claim
   * loop ended), so this waits only for jobs that workers are running.
   */
  private waitForClaimedJobs(count: number): void {
    const state = this.state();
    // Watch the counter for a moment before blocking: a worker usually finishes within microseconds of the
    // caller, and being woken from Atomics.wait costs more than that (see spinMilliseconds).
    const deadline = performance.now() + spinMilliseconds;
    for (let round = 1; Atomics.load(state, doneSlot) !== count; round++) {
      if ((round & 127) === 0 && performance.now() > deadline) break;
    }
    for (;;) {
      const done = Atomics.load(state, doneSlot);
      if (done === count) return;
      if (this.mayBlock) Atomics.wait(state, doneSlot, done);
    }
  }
}
