// What this machine can do at most, measured the way our kernels run: the f32x4 multiply-add ceiling of
// WebAssembly SIMD per core (plain `f32x4.mul` + `f32x4.add`, and relaxed SIMD's `f32x4.relaxed_madd`) and the
// memory read bandwidth seen from WebAssembly. Every kernel benchmark reports itself as a fraction of these.
//
// The ceiling module is compiled here with wabt (a dev dependency, as for the kernels): a loop of independent
// multiply-adds on `accumulators` f32x4 registers (enough to hide the latency, few enough that V8 keeps them in
// the 16 XMM registers it uses on x64), 8 flops per multiply-add. The bandwidth module sums a 256 MiB buffer
// with four f32x4 accumulators (v128.load streams, no stores).
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const require = createRequire(import.meta.url);

function ceilingText(accumulators) {
  const locals = Array.from({ length: accumulators }, (_, index) => `(local $c${index} v128)`).join(" ");
  const body = (relaxed) =>
    Array.from({ length: accumulators }, (_, index) =>
      relaxed
        ? `(local.set $c${index} (f32x4.relaxed_madd (local.get $a) (local.get $b) (local.get $c${index})))`
        : `(local.set $c${index} (f32x4.add (local.get $c${index}) (f32x4.mul (local.get $a) (local.get $b))))`,
    ).join("\n      ");
  const sum = Array.from({ length: accumulators }, (_, index) => `(local.get $c${index})`).reduce(
    (left, right) => `(f32x4.add ${left} ${right})`,
  );
  const func = (name, relaxed) => `
  (func (export "${name}") (param $iterations i32) (param $seed f32) (result f32)
    (local $a v128) (local $b v128) ${locals}
    (local.set $a (f32x4.splat (local.get $seed)))
    (local.set $b (f32x4.splat (f32.sub (f32.const 1) (local.get $seed))))
    (loop $loop
      ${body(relaxed)}
      (local.set $iterations (i32.sub (local.get $iterations) (i32.const 1)))
      (br_if $loop (local.get $iterations)))
    (f32x4.extract_lane 0 ${sum}))`;
  return `(module ${func("plain", false)} ${func("relaxed", true)})`;
}

const bandwidthText = `(module
  (memory (export "memory") 4200)
  ;; writes every byte first, so that the reads come from memory, not from the kernel's shared zero page
  (func (export "touch") (param $start i32) (param $end i32)
    (memory.fill (local.get $start) (i32.const 1) (i32.sub (local.get $end) (local.get $start))))
  (func (export "sum") (param $start i32) (param $end i32) (result f32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (loop $loop
      (local.set $s0 (f32x4.add (local.get $s0) (v128.load offset=0 (local.get $start))))
      (local.set $s1 (f32x4.add (local.get $s1) (v128.load offset=16 (local.get $start))))
      (local.set $s2 (f32x4.add (local.get $s2) (v128.load offset=32 (local.get $start))))
      (local.set $s3 (f32x4.add (local.get $s3) (v128.load offset=48 (local.get $start))))
      (local.set $start (i32.add (local.get $start) (i32.const 64)))
      (br_if $loop (i32.lt_u (local.get $start) (local.get $end))))
    (f32x4.extract_lane 0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))))`;

async function compile(text) {
  const wabt = await require("wabt")();
  const features = { simd: true, relaxed_simd: true, bulk_memory: true };
  const module = wabt.parseWat("limits.wat", text, features);
  try {
    module.resolveNames();
    module.validate(features);
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const instance = new WebAssembly.Instance(new WebAssembly.Module(workerData.binary));
parentPort.once("message", ({ name, iterations, start, end, repeats }) => {
  const run = () => (name === "sum" ? instance.exports.sum(start, end) : instance.exports[name](iterations, 0.5));
  if (name === "sum") instance.exports.touch(start, end);
  run();
  let best = Infinity;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const begin = performance.now();
    run();
    best = Math.min(best, performance.now() - begin);
  }
  parentPort.postMessage(best);
});`;

/** Runs `job` on `threads` worker threads at once (each its own instance); the slowest thread's best time. */
async function onThreads(binary, threads, job) {
  const workers = Array.from(
    { length: threads },
    () => new Worker(workerSource, { eval: true, workerData: { binary } }),
  );
  try {
    const times = await Promise.all(
      workers.map(
        (worker) =>
          new Promise((resolve, reject) => {
            worker.once("message", resolve);
            worker.once("error", reject);
            worker.postMessage(job);
          }),
      ),
    );
    return Math.max(...times);
  } finally {
    for (const worker of workers) await worker.terminate();
  }
}

/**
 * The f32x4 multiply-add ceiling: GFLOP/s on `threads` threads at once (the best over 8–14 accumulators), for
 * the plain (mul + add) and, where the engine validates it, the relaxed (fused) variant.
 */
export async function measureCeiling(threads) {
  const results = {};
  for (const variant of ["plain", "relaxed"]) {
    let best;
    for (const accumulators of [8, 10, 12, 14]) {
      let binary;
      try {
        binary = await compile(ceilingText(accumulators));
        if (!WebAssembly.validate(binary)) continue;
      } catch {
        continue;
      }
      const iterations = 2_000_000;
      const milliseconds = await onThreads(binary, threads, { name: variant, iterations, repeats: 5 });
      const gflops = (iterations * accumulators * 8 * threads) / milliseconds / 1e6;
      if (best === undefined || gflops > best.gflops) best = { gflops, accumulators };
    }
    if (best !== undefined) results[variant] = best;
  }
  return results;
}

/** Read bandwidth in GB/s (10⁹ bytes per second) of a 256 MiB buffer, summed on `threads` threads at once. */
export async function measureReadBandwidth(threads) {
  const binary = await compile(bandwidthText);
  const bytes = 256 * 1024 * 1024;
  // Each thread sums its own instance's memory: the same total traffic as splitting one buffer.
  const milliseconds = await onThreads(binary, threads, {
    name: "sum",
    start: 65536,
    end: 65536 + bytes,
    repeats: 5,
  });
  return (bytes * threads) / milliseconds / 1e6;
}
