import { jobSlots } from "./generated/kernels-binary.js";

/**
 * How long a thread that waits for the other side (a worker for the next kernel, the dispatcher for its
 * workers) watches the shared slot before it blocks in `Atomics.wait`. Blocking and being woken costs tens of
 * microseconds per kernel, which doubled the time of the small products of a randomized SVD on two threads;
 * a fifth of a millisecond covers the gaps between the kernels of a forward pass and costs at most that much
 * CPU time per idle period.
 */
export const spinMilliseconds = 0.2;

/**
 * The source of a kernel worker, as a string: Node evaluates it with `new Worker(source, {eval: true})`, a
 * browser loads it from a Blob URL, so the package needs no separate worker file.
 *
 * Protocol (all state in the shared memory, Int32 slots from `control`, see `thread-pool.ts`):
 * the first message carries `{module, memory, control, index}`; the worker instantiates the kernels on that
 * memory and answers `"ready"`. Then it blocks in `Atomics.wait` on the generation slot; on each new generation
 * it claims records of the job list (JOB_SLOTS int32 each, run by the `runJob` export) from the shared counter
 * and runs them with its own work area until none is left, then decrements the pending counter and wakes the
 * dispatcher when it reaches 0. Before blocking it watches the generation slot for up to SPIN_MS: kernels come
 * back to back (a forward pass, a randomized SVD), and waking a blocked thread costs tens of microseconds each
 * time, more than a small product takes.
 * A set quit slot ends the loop.
 */
export const workerSource = `"use strict";
const GENERATION = 0, PENDING = 1, QUIT = 2, FAILED = 3, NEXT = 4, COUNT = 5, JOBS = 6, WORKERS = 8, JOB_BYTES = ${jobSlots * 4};
const SPIN_MS = ${spinMilliseconds};
/** Watches state[slot] for up to SPIN_MS; true when it no longer holds value. */
function spinWhile(state, slot, value) {
  const deadline = performance.now() + SPIN_MS;
  for (let round = 1; Atomics.load(state, slot) === value; round++) {
    if ((round & 127) === 0 && performance.now() > deadline) return false;
  }
  return true;
}
const inBrowser = typeof require === "undefined" && typeof self === "object";
const port = inBrowser ? self : require("node:worker_threads").parentPort;
function start(data) {
  const { module, memory, control, index } = data;
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const state = new Int32Array(memory.buffer, control, WORKERS + index + 1);
  port.postMessage("ready");
  let seen = 0;
  for (;;) {
    if (!spinWhile(state, GENERATION, seen)) Atomics.wait(state, GENERATION, seen);
    const generation = Atomics.load(state, GENERATION);
    if (generation === seen) continue;
    seen = generation;
    if (Atomics.load(state, QUIT) !== 0) break;
    const jobs = state[JOBS] >>> 0, count = state[COUNT], work = state[WORKERS + index] >>> 0;
    try {
      for (let call = Atomics.add(state, NEXT, 1); call < count; call = Atomics.add(state, NEXT, 1)) {
        kernels.runJob(jobs + call * JOB_BYTES, work);
      }
    } catch (error) {
      Atomics.store(state, FAILED, 1);
    }
    if (Atomics.sub(state, PENDING, 1) === 1) Atomics.notify(state, PENDING);
  }
}
if (inBrowser) self.onmessage = (event) => start(event.data);
else port.once("message", start);
`;
