// Benchmarks for @peftjs/io (run `pnpm build` first; `pnpm bench` in packages/io). Prints one JSON object per
// line: { bench, impl, size (bytes), ms, mbps (10^6 bytes per second) }. Reads are measured from the page
// cache (the file was just written and read once). The same figures for Python's safetensors follow when
// `python3 -c "import safetensors"` works; otherwise a line says why they were skipped.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openSafetensorsFile, readSafetensorsFile, writeSafetensorsFile } from "../dist/node.js";

const mebibyte = 2 ** 20;
const tensorBytes = 64 * mebibyte;
const tensorCount = 16; // 1 GiB of tensor data
const repeats = 3;

function report(bench, impl, size, ms, extra = {}) {
  console.log(
    JSON.stringify({
      bench,
      impl,
      size,
      ms: Number(ms.toFixed(2)),
      mbps: Number((size / 1e6 / (ms / 1e3)).toFixed(1)),
      ...extra,
    }),
  );
}

async function best(run) {
  let fastest = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < repeats; attempt++) {
    const start = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest;
}

const folder = await mkdtemp(join(tmpdir(), "peftjs-io-bench-"));
try {
  const path = join(folder, "bench.safetensors");
  const chunk = new Uint8Array(16 * mebibyte);
  for (let index = 0; index < chunk.length; index++) chunk[index] = (index * 2654435761) >>> 24;
  const tensors = {};
  for (let index = 0; index < tensorCount; index++) {
    tensors[`layer.${String(index).padStart(2, "0")}.weight`] = {
      dtype: "F32",
      shape: [tensorBytes / 4 / 1024, 1024],
      data: function* () {
        for (let written = 0; written < tensorBytes; written += chunk.length) yield chunk;
      },
    };
  }
  const totalBytes = tensorBytes * tensorCount;

  const writeMs = await best(() => writeSafetensorsFile(path, tensors, { format: "pt" }));
  report("stream-write-1GiB (fsync + rename)", "peftjs", totalBytes, writeMs);

  await readSafetensorsFile(path); // warm the page cache
  const lazyMs = await best(async () => {
    const reader = await openSafetensorsFile(path);
    await reader.read("layer.07.weight");
    await reader.close();
  });
  report("lazy-read-one-64MiB-tensor", "peftjs", tensorBytes, lazyMs);

  const fullMs = await best(() => readSafetensorsFile(path));
  report("full-read-1GiB (readSafetensorsFile)", "peftjs", totalBytes, fullMs);

  const allMs = await best(async () => {
    const reader = await openSafetensorsFile(path);
    await reader.readAll();
    await reader.close();
  });
  report("full-read-1GiB (lazy reader readAll)", "peftjs", totalBytes, allMs);

  const probe = spawnSync("python3", ["-c", "import safetensors, numpy; print(safetensors.__version__)"], {
    encoding: "utf8",
  });
  if (probe.status !== 0) {
    const reason = (probe.error?.message ?? probe.stderr.trim().split("\n").pop() ?? "unknown").slice(0, 200);
    console.log(
      JSON.stringify({
        bench: "python-safetensors",
        impl: "python-safetensors",
        size: 0,
        ms: null,
        mbps: null,
        skipped: `python3 cannot import safetensors/numpy: ${reason}`,
      }),
    );
  } else {
    const script = `
import json, os, time, numpy as np
from safetensors.numpy import save_file, load_file
from safetensors import safe_open
path = ${JSON.stringify(join(folder, "python.safetensors"))}
n = ${tensorBytes / 4}
tensors = {f"layer.{i:02d}.weight": np.frombuffer(np.random.bytes(n * 4), dtype=np.float32).reshape(n // 1024, 1024) for i in range(${tensorCount})}
def best(run):
    times = []
    for _ in range(${repeats}):
        start = time.perf_counter(); run(); times.append((time.perf_counter() - start) * 1000)
    return min(times)
def report(bench, size, ms):
    print(json.dumps({"bench": bench, "impl": "python-safetensors " + __import__("safetensors").__version__, "size": size, "ms": round(ms, 2), "mbps": round(size / 1e6 / (ms / 1e3), 1)}))
report("stream-write-1GiB (save_file)", ${totalBytes}, best(lambda: save_file(tensors, path, metadata={"format": "pt"})))
load_file(path)
def lazy():
    with safe_open(path, framework="numpy") as f: f.get_tensor("layer.07.weight")
report("lazy-read-one-64MiB-tensor", ${tensorBytes}, best(lazy))
report("full-read-1GiB (load_file)", ${totalBytes}, best(lambda: load_file(path)))
`;
    const result = spawnSync("python3", ["-c", script], { encoding: "utf8", maxBuffer: 1 << 20 });
    process.stdout.write(result.stdout);
    if (result.status !== 0) process.stderr.write(result.stderr);
  }
} finally {
  await rm(folder, { recursive: true, force: true });
}
