/**
 * The source of a kernel worker, as a string: Node evaluates it with `new Worker(source, {eval: true})`, a
 * browser loads it from a Blob URL, so the package needs no separate worker file.
 *
 * Protocol (all state in the shared memory, Int32 slots from `control`, see `thread-pool.ts`):
 * the first message carries `{module, memory, control, index}`; the worker instantiates the kernels on that
 * memory and answers `"ready"`. Then it blocks in `Atomics.wait` on the generation slot; on each new generation
 * it claims calls of the job list (GEMM calls, 13 int32 each) from the shared counter and runs them with its own
 * work area until none is left, then decrements the pending counter and wakes the dispatcher when it reaches 0.
 * A set quit slot ends the loop.
 */
export const workerSource = `"use strict";
const GENERATION = 0, PENDING = 1, QUIT = 2, FAILED = 3, NEXT = 4, COUNT = 5, JOBS = 6, WORKERS = 8, CALL_INTS = 13;
const inBrowser = typeof require === "undefined" && typeof self === "object";
const port = inBrowser ? self : require("node:worker_threads").parentPort;
function start(data) {
  const { module, memory, control, index } = data;
  const kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const state = new Int32Array(memory.buffer, control, WORKERS + index + 1);
  port.postMessage("ready");
  let seen = 0;
  for (;;) {
    Atomics.wait(state, GENERATION, seen);
    const generation = Atomics.load(state, GENERATION);
    if (generation === seen) continue;
    seen = generation;
    if (Atomics.load(state, QUIT) !== 0) break;
    const jobs = state[JOBS] >>> 0, count = state[COUNT], work = state[WORKERS + index] >>> 0;
    try {
      const calls = new Int32Array(memory.buffer, jobs, count * CALL_INTS);
      for (let call = Atomics.add(state, NEXT, 1); call < count; call = Atomics.add(state, NEXT, 1)) {
        const o = call * CALL_INTS;
        kernels.gemm(calls[o], calls[o + 1], calls[o + 2], calls[o + 3], calls[o + 4], calls[o + 5],
          calls[o + 6], calls[o + 7], calls[o + 8], calls[o + 9], calls[o + 10], calls[o + 11], calls[o + 12], work);
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
