#!/usr/bin/env node
// f32 GEMM benchmark of the wasm backend against its peers, printing one JSON line per (impl, size, threads):
// {bench, impl, size, threads, ms (best), median_ms, gflops (from the best), median_gflops, runs, load_average,
// cpu_ms (best process CPU time of a run, Node implementations), ratio_to_<peer> (peer time / our time, best)}.
//
// Each implementation runs in its own child process (tfjs fixes its thread count once per process, relaxed SIMD
// needs a V8 flag on Node 20), then the parent prints every line with our ratio to each peer at the same size
// (and the same thread count where the peer has one). Peers: @tensorflow/tfjs-backend-wasm (XNNPACK),
// ml-matrix, gpu.js in its default Node mode, and numpy through `python3` when present.
//
// Usage: node bench/wasm-gemm.mjs [--quick]   (run `pnpm build` first; `--quick` does fewer repetitions)
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(packageRoot, "package.json"));
const quick = process.argv.includes("--quick");

/** Product shapes: [name, m, k, n]. */
const shapes = [
  ["1024", 1024, 1024, 1024],
  ["2048", 2048, 2048, 2048],
  ["4096x4096*4096x16", 4096, 4096, 16],
];

function pattern(size, salt) {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++)
    values[index] = ((index * 7919 + salt * 104729) % 2003) / 1001.5 - 1;
  return values;
}

/**
 * Times `run` (after one warm-up call): best and median wall-clock milliseconds, and the best process CPU
 * time of a run (all threads together; on a loaded machine it shows how much of the wall time was waiting).
 */
function time(run, repeats) {
  run();
  const samples = [];
  let cpu = Number.POSITIVE_INFINITY;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const usage = process.cpuUsage();
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
    const used = process.cpuUsage(usage);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  samples.sort((left, right) => left - right);
  return { best: samples[0], median: samples[Math.floor(samples.length / 2)], runs: samples.length, cpu };
}

function repeatsFor(m, k, n) {
  const flops = 2 * m * k * n;
  if (quick) return 3;
  return flops > 1e10 ? 5 : 9;
}

/** Loads WasmBackend from the built package, or bundles the backend's sources when dist does not export it. */
async function loadWasmBackend() {
  const dist = join(packageRoot, "dist", "index.js");
  if (existsSync(dist)) {
    const module = await import(pathToFileURL(dist).href);
    if (module.WasmBackend) return module.WasmBackend;
  }
  const esbuild = createRequire(require.resolve("tsup"))("esbuild");
  // Inside the package's node_modules so that the bundle resolves @peftjs/io like the sources do.
  const outfile = join(packageRoot, "node_modules", ".cache", "peftjs-wasm-bench", `wasm-${process.pid}.mjs`);
  esbuild.buildSync({
    entryPoints: [join(packageRoot, "src", "backends", "wasm", "index.ts")],
    bundle: true,
    format: "esm",
    platform: "node",
    outfile,
    external: ["@peftjs/io"],
  });
  const module = await import(pathToFileURL(outfile).href);
  rmSync(outfile);
  return module.WasmBackend;
}

const measures = {
  async wasm(threads) {
    const WasmBackend = await loadWasmBackend();
    const backend = new WasmBackend({ threads });
    const availability = await backend.initialize();
    const results = [];
    for (const [size, m, k, n] of shapes) {
      const a = { handle: backend.upload(pattern(m * k, 1), "float32"), shape: [1, m, k], dtype: "float32" };
      const b = { handle: backend.upload(pattern(k * n, 2), "float32"), shape: [1, k, n], dtype: "float32" };
      const matmul = backend.kernels.matmul;
      const attributes = { transposeA: false, transposeB: false };
      const timing = time(
        () => backend.dispose(matmul([a, b], attributes, backend).handle),
        repeatsFor(m, k, n),
      );
      results.push({ size, m, k, n, ...timing, note: availability.reason });
      backend.dispose(a.handle);
      backend.dispose(b.handle);
    }
    backend.close();
    return results;
  },
  async "tfjs-wasm"(threads) {
    const tf = require("@tensorflow/tfjs-core");
    const wasmBackend = require("@tensorflow/tfjs-backend-wasm");
    wasmBackend.setThreadsCount(threads);
    await tf.setBackend("wasm");
    await tf.ready();
    const results = [];
    for (const [size, m, k, n] of shapes) {
      const a = tf.tensor2d(pattern(m * k, 1), [m, k]);
      const b = tf.tensor2d(pattern(k * n, 2), [k, n]);
      const timing = time(() => tf.matMul(a, b).dispose(), repeatsFor(m, k, n));
      results.push({ size, m, k, n, ...timing, note: `tfjs-backend-wasm, threads requested ${threads}` });
      a.dispose();
      b.dispose();
    }
    return results;
  },
  async "ml-matrix"() {
    const { Matrix } = require("ml-matrix");
    const results = [];
    for (const [size, m, k, n] of shapes) {
      if (m * k * n > 2 ** 30) continue; // 2048³ takes minutes in plain JavaScript
      const a = new Matrix(m, k);
      const b = new Matrix(k, n);
      const left = pattern(m * k, 1);
      const right = pattern(k * n, 2);
      for (let row = 0; row < m; row++)
        for (let column = 0; column < k; column++) a.set(row, column, left[row * k + column]);
      for (let row = 0; row < k; row++)
        for (let column = 0; column < n; column++) b.set(row, column, right[row * n + column]);
      results.push({ size, m, k, n, ...time(() => a.mmul(b), quick ? 1 : 2) });
    }
    return results;
  },
  async "gpu.js"() {
    const { GPU } = require("gpu.js");
    const gpu = new GPU();
    const results = [];
    for (const [size, m, k, n] of shapes) {
      if (m * k * n > 2 ** 30) continue;
      const kernel = gpu
        .createKernel(function multiply(a, b) {
          let sum = 0;
          for (let index = 0; index < this.constants.depth; index++) {
            sum += a[this.thread.y][index] * b[index][this.thread.x];
          }
          return sum;
        })
        .setOutput([n, m])
        .setConstants({ depth: k });
      const toRows = (values, rows, columns) =>
        Array.from({ length: rows }, (_, row) => values.subarray(row * columns, (row + 1) * columns));
      const a = toRows(pattern(m * k, 1), m, k);
      const b = toRows(pattern(k * n, 2), k, n);
      results.push({
        size,
        m,
        k,
        n,
        ...time(() => kernel(a, b), quick ? 1 : 2),
        note: `gpu.js mode ${gpu.mode}`,
      });
    }
    gpu.destroy();
    return results;
  },
};

/** numpy float32 matmul through python3 (its OpenBLAS on `threads` threads), or [] when unavailable. */
function measureNumpy(threads) {
  const script = `
import json, time, numpy as np
shapes = ${JSON.stringify(shapes)}
out = []
for size, m, k, n in shapes:
    rng = np.random.default_rng(0)
    a = rng.random((m, k), dtype=np.float32); b = rng.random((k, n), dtype=np.float32)
    a @ b
    samples = []
    for _ in range(${quick ? 3 : 9}):
        t = time.perf_counter(); a @ b; samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    out.append(dict(size=size, m=m, k=k, n=n, best=samples[0], median=samples[len(samples)//2], runs=len(samples), note="numpy " + np.__version__))
print(json.dumps(out))
`;
  const environment = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
  };
  delete environment.OPENBLAS_CORETYPE;
  delete environment.OPENBLAS_L2_SIZE;
  const result = spawnSync("python3", ["-c", script], { env: environment, encoding: "utf8" });
  if (result.status !== 0) return [];
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

function runChild(impl, threads, extraFlags = []) {
  const result = spawnSync(
    process.execPath,
    [
      ...extraFlags,
      fileURLToPath(import.meta.url),
      "--child",
      impl,
      String(threads),
      ...(quick ? ["--quick"] : []),
    ],
    { encoding: "utf8", maxBuffer: 1 << 24 },
  );
  if (result.status !== 0) {
    process.stderr.write(`wasm-gemm: ${impl} (${threads} threads) failed: ${result.stderr.slice(-2000)}\n`);
    return [];
  }
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

if (process.argv[2] === "--child") {
  const impl = process.argv[3];
  const threads = Number(process.argv[4]);
  const results = await measures[impl](threads);
  process.stdout.write(`${JSON.stringify(results)}\n`);
  process.exit(0);
}

const rows = [];
const collect = (impl, threads, results) => {
  // One-minute load average after the run: other processes on the machine slow every implementation down.
  const load = Number(loadavg()[0].toFixed(2));
  for (const result of results) rows.push({ impl, threads, load, ...result });
};
for (const threads of [1, 2]) collect("peftjs-wasm", threads, runChild("wasm", threads));
for (const threads of [1, 2]) {
  collect("peftjs-wasm-relaxed", threads, runChild("wasm", threads, ["--experimental-wasm-relaxed-simd"]));
}
for (const threads of [1, 2]) collect("tfjs-wasm", threads, runChild("tfjs-wasm", threads));
for (const threads of [1, 2]) collect("numpy", threads, measureNumpy(threads));
collect("ml-matrix", 1, runChild("ml-matrix", 1));
collect("gpu.js", 1, runChild("gpu.js", 1));

const gflops = (row, milliseconds) => (2 * row.m * row.k * row.n) / milliseconds / 1e6;
const peers = ["tfjs-wasm", "numpy", "ml-matrix", "gpu.js"];
for (const row of rows) {
  const line = {
    bench: "gemm-f32",
    impl: row.impl,
    size: row.size,
    threads: row.threads,
    ms: Number(row.best.toFixed(3)),
    median_ms: Number(row.median.toFixed(3)),
    gflops: Number(gflops(row, row.best).toFixed(2)),
    median_gflops: Number(gflops(row, row.median).toFixed(2)),
    runs: row.runs,
    load_average: row.load,
  };
  if (row.cpu !== undefined) line.cpu_ms = Number(row.cpu.toFixed(3));
  if (row.impl.startsWith("peftjs")) {
    for (const peer of peers) {
      const candidates = rows.filter((other) => other.impl === peer && other.size === row.size);
      const match = candidates.find((other) => other.threads === row.threads) ?? candidates[0];
      if (match !== undefined) line[`ratio_to_${peer}`] = Number((match.best / row.best).toFixed(3));
    }
  }
  if (row.note !== undefined) line.note = row.note;
  console.log(JSON.stringify(line));
}
