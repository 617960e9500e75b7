// Benchmarks of @peftjs/state (run `pnpm build` first). Prints one JSON object per line:
// hashing throughput in GB/s (1 GB = 1e9 bytes) and snapshot / fork / restore / fingerprint times for a
// 1 GiB store of four 256 MiB float32 tensors.
import { FrozenTensor, fingerprintTensor, WeightStore } from "../dist/index.js";

const MiB = 1 << 20;

function median(values) {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Wall time and CPU time (user + system) of one call; on a shared machine CPU time is the fairer figure. */
function time(action) {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const result = action();
  const milliseconds = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  return { milliseconds, cpuMilliseconds: (cpu.user + cpu.system) / 1000, result };
}

function print(record) {
  console.log(JSON.stringify(record));
}

const source = new Uint8Array(256 * MiB);
for (let index = 0; index < source.length; index++) source[index] = (index * 2654435761) >>> 24;

// Hashing throughput, aligned (zero-copy word view) and unaligned (copied through a scratch buffer).
for (const [alignment, offset] of [
  ["aligned", 0],
  ["unaligned", 1],
]) {
  const data = source.subarray(offset, offset + 128 * MiB);
  const runs = [];
  for (let run = 0; run < 5; run++)
    runs.push(time(() => fingerprintTensor({ dtype: "U8", shape: [data.byteLength], data })));
  const rate = (milliseconds) => Number((data.byteLength / 1e9 / (milliseconds / 1000)).toFixed(3));
  print({
    benchmark: "fingerprintTensor",
    alignment,
    bytes: data.byteLength,
    gigabytesPerSecond: rate(median(runs.map((run) => run.milliseconds))),
    bestGigabytesPerSecond: rate(Math.min(...runs.map((run) => run.milliseconds))),
    cpuGigabytesPerSecond: rate(median(runs.map((run) => run.cpuMilliseconds))),
    runs: runs.length,
  });
}

// A 1 GiB store.
const tensors = new Map();
for (let layer = 0; layer < 4; layer++) {
  source[0] = layer;
  tensors.set(
    `model.layers.${layer}.mlp.up_proj.weight`,
    FrozenTensor.from({ dtype: "F32", shape: [8192, 8192], data: source }),
  );
}
const store = WeightStore.from(tensors, { policy: "silent" });
const storeBytes = 1024 * MiB;

const coldFingerprint = time(() => store.modelFingerprint());
print({
  benchmark: "modelFingerprint",
  storeBytes,
  cold: true,
  milliseconds: Number(coldFingerprint.milliseconds.toFixed(1)),
  gigabytesPerSecond: Number((storeBytes / 1e9 / (coldFingerprint.milliseconds / 1000)).toFixed(3)),
  cpuGigabytesPerSecond: Number((storeBytes / 1e9 / (coldFingerprint.cpuMilliseconds / 1000)).toFixed(3)),
});

const measure = (name, action, repeats = 20) => {
  const runs = [];
  for (let run = 0; run < repeats; run++) runs.push(time(action).milliseconds);
  print({
    benchmark: name,
    storeBytes,
    tensors: store.size,
    medianMilliseconds: Number(median(runs).toFixed(4)),
    runs: repeats,
  });
};

measure("snapshot", () => store.snapshot());
measure("fork", () => store.fork());
const snapshot = store.snapshot("original");
const fork = store.fork();
measure("restore (unchanged)", () => fork.restore(snapshot));

const replacement = FrozenTensor.from({ dtype: "F32", shape: [8192, 8192], data: source.fill(7, 0, 4096) });
const mutateTiming = time(() =>
  fork.mutate("model.layers.0.mlp.up_proj.weight", replacement, { reason: "bench", by: "bench" }),
);
print({
  benchmark: "mutate (256 MiB tensor, hashes the replacement)",
  milliseconds: Number(mutateTiming.milliseconds.toFixed(1)),
});
const restoreTiming = time(() => fork.restore(snapshot));
print({
  benchmark: "restore (one 256 MiB tensor changed)",
  storeBytes,
  milliseconds: Number(restoreTiming.milliseconds.toFixed(4)),
  restoredTensors: restoreTiming.result.length,
});
