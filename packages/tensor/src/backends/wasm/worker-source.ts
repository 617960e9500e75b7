import { jobSlots } from "./generated/kernels-binary.js";

/**
 * How long a thread that waits for the other side (a worker for the next kernel, the dispatcher for the jobs
 * its workers claimed) watches the shared slot before it blocks in `Atomics.wait`. Blocking and being woken costs tens of
 * microseconds per kernel, which doubled the time of the small products of a randomized SVD on two threads;
 * a fifth of a millisecond covers the gaps between the kernels of a forward pass and costs at most that much
 * CPU time per idle period.
 */
export const spinMilliseconds = 0.2;

/**
 * After its spin, how long an idle worker keeps looking at the generation slot in short timed waits (every
 * {@link pollIntervalMilliseconds}) before it blocks for good. A polling worker needs no `Atomics.notify`: on
 * this project's two-core virtual machines one wake-up cost the dispatcher 25–40 µs warm and ~180 µs while V8
 * was still compiling (a cold randomized SVD woke the worker ~200 times, 37 ms), where a polling worker
 * notices a new list within a tenth of a millisecond and leaves its core to the compiler threads meanwhile.
 */
export const pollMilliseconds = 20;

/** The timed wait of a polling worker (see {@link pollMilliseconds}). */
export const pollIntervalMilliseconds = 0.1;

/** Most jobs in one published list: the claim word is `count << 16 | next index`, a non-negative int32. */
export const claimCountLimit = 0x7fff;

/**
 * The source of a kernel worker, as a string: Node evaluates it with `new Worker(source, {eval: true})`, a
 * browser loads it from a Blob URL, so the package needs no separate worker file.
 *
 * Protocol (all state in the shared memory, Int32 slots from `control`, see `thread-pool.ts`):
 * the first message carries `{module, memory, control, index}`; the worker instantiates the kernels on that
 * memory and answers `"ready"`. Then it blocks in `Atomics.wait` on the generation slot; on each new generation
 * it claims jobs with a compare-and-exchange on the claim word (`count << 16 | next index` of the current
 * list), reads the list's address only after a successful claim (the list cannot be replaced before that job
 * is done), runs the record (JOB_SLOTS int32, the `runJob` export) with its own work area, and counts it in the
 * done slot, waking the dispatcher when the list is complete. A worker that wakes late finds no job left and
 * goes back to waiting: the dispatcher never waits for a worker, only for claimed jobs. Before blocking it
 * watches the generation slot for up to SPIN_MS: kernels come back to back (a forward pass, a randomized SVD),
 * and waking a blocked thread costs tens of microseconds each time, more than a small product takes. Then it
 * polls for POLL_MS in timed waits of POLL_INTERVAL_MS; only then does it count itself in the blocked slot and
 * block, and only a blocked worker is notified (the dispatcher bumps the generation, then reads the blocked
 * count; the worker counts itself, then waits on the generation it saw: sequentially consistent atomics let
 * one of the two see the other). A set quit slot ends the loop.
 */
export const workerSource = `"use strict";
const GENERATION = 0, DONE = 1, QUIT = 2, FAILED = 3, CLAIM = 4, JOBS = 5, BLOCKED = 6, WORKERS = 8;
const JOB_BYTES = ${jobSlots * 4};
const SPIN_MS = ${spinMilliseconds}, POLL_MS = ${pollMilliseconds}, POLL_INTERVAL_MS = ${pollIntervalMilliseconds};
/** Watches state[slot] for up to SPIN_MS; true when it no longer holds value. */
function spinWhile(state, slot, value) {
  const deadline = performance.now() + SPIN_MS;
  for (let round = 1; Atomics.load(state, slot) === value; round++) {
    if ((round & 127) === 0 && performance.now() > deadline) return false;
  }
  return true;
}
/** Waits in timed waits for up to POLL_MS while state[slot] holds value; true when it no longer does. */
function pollWhile(state, slot, value) {
  const deadline = performance.now() + POLL_MS;
  while (performance.now() < deadline) {
    if (Atomics.wait(state, slot, value, POLL_INTERVAL_MS) !== "timed-out") return true;
  }
  return Atomics.load(state, slot) !== value;
}
/** The claim word of a successful claim of the current list, or -1 when no job is left. */
function claim(state) {
  for (;;) {
    const word = Atomics.load(state, CLAIM);
    if ((word & 0xffff) >= word >>> 16) return -1;
    if (Atomics.compareExchange(state, CLAIM, word, word + 1) === word) return word;
  }
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
    if (!spinWhile(state, GENERATION, seen) && !pollWhile(state, GENERATION, seen)) {
      Atomics.add(state, BLOCKED, 1);
      Atomics.wait(state, GENERATION, seen);
      Atomics.sub(state, BLOCKED, 1);
    }
    const generation = Atomics.load(state, GENERATION);
    if (generation === seen) continue;
    seen = generation;
    if (Atomics.load(state, QUIT) !== 0) break;
    for (let word = claim(state); word >= 0; word = claim(state)) {
      const jobs = state[JOBS] >>> 0, work = state[WORKERS + index] >>> 0;
      try {
        kernels.runJob(jobs + (word & 0xffff) * JOB_BYTES, work);
      } catch (error) {
        Atomics.store(state, FAILED, 1);
      }
      if (Atomics.add(state, DONE, 1) + 1 === word >>> 16) Atomics.notify(state, DONE);
    }
  }
}
if (inBrowser) self.onmessage = (event) => start(event.data);
else port.once("message", start);
`;
