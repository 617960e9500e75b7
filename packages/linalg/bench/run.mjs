// Benchmarks of @peftjs/linalg against ml-matrix and numpy (when python3 with numpy is present).
// Prints one JSON line per measurement: {bench, impl, size, ms, ...}. Build first: `pnpm build`.
// Usage: node bench/run.mjs [--quick] [--only=svd,qr,large,error]
//   --quick: smaller sizes, for a smoke run; --only: run just the named groups (svd, qr, large = svdTopK and
//   svdLowRank on 4096², error = svdLowRank error against niter).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGenerator, getBackend, setBackend, tensor } from "@peftjs/tensor";
import { Matrix, SingularValueDecomposition } from "ml-matrix";
import { qr, reconstructionError, svd, svdLowRank, svdTopK } from "../dist/index.js";

const quick = process.argv.includes("--quick");
const onlyArgument = process.argv.find((argument) => argument.startsWith("--only="));
const groups = new Set((onlyArgument ?? "--only=svd,qr,large,error").slice("--only=".length).split(","));
// The best available backend (wasm SIMD GEMM in Node): svdTopK/svdLowRank run their products through it.
await setBackend("auto");
const backend = getBackend();
const workDirectory = mkdtempSync(join(tmpdir(), "peftjs-linalg-bench-"));

function emit(record) {
  console.log(JSON.stringify(record.impl === "peftjs" ? { ...record, backend } : record));
}

/** Wall time and CPU time (all threads of this process: a steadier figure on a busy machine). */
function time(fn) {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const result = fn();
  const cpu = process.cpuUsage(cpuStart);
  return { ms: performance.now() - start, cpuMs: (cpu.user + cpu.system) / 1000, result };
}

function gaussianValues(count, seed) {
  return createGenerator(seed).normal([count], 0, 1).toFloat32Array();
}

/** A = Σ_{i<64} 100·0.9^i·x_i·y_iᵀ/(‖x_i‖‖y_i‖) + 0.01·G: a decaying, weight-like spectrum above a noise floor. */
function weightLikeMatrix(m, n, seed) {
  const values = gaussianValues(m * n, seed);
  for (let i = 0; i < values.length; i++) values[i] *= 0.01;
  const terms = 64;
  const x = gaussianValues(m * terms, seed + 1);
  const y = gaussianValues(n * terms, seed + 2);
  for (let t = 0; t < terms; t++) {
    const weight = (100 * 0.9 ** t) / Math.sqrt(m * n);
    for (let i = 0; i < m; i++) {
      const xi = x[t * m + i] * weight;
      const row = i * n;
      for (let j = 0; j < n; j++) values[row + j] += xi * y[t * n + j];
    }
  }
  return values;
}

/** Runs a numpy script on a float32 matrix file; returns its parsed JSON lines (none when numpy is missing). */
function numpy(script, args) {
  const environment = { ...process.env };
  delete environment.OPENBLAS_CORETYPE;
  delete environment.OPENBLAS_L2_SIZE;
  const run = spawnSync("python3", ["-c", script, ...args.map(String)], {
    env: environment,
    encoding: "utf8",
  });
  if (run.status !== 0) return [];
  return run.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line));
}

const numpySvd = `
import sys, json, time, numpy as np
path, m, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a = np.fromfile(path, dtype=np.float32).reshape(m, n)
np.linalg.svd(a[:64, :64], full_matrices=False)
best, cpu = float("inf"), 0.0
for _ in range(int(sys.argv[4])):
    t, c = time.perf_counter(), time.process_time()
    np.linalg.svd(a, full_matrices=False)
    if time.perf_counter() - t < best: best, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"ms": best * 1000, "cpuMs": cpu * 1000, "numpy": np.__version__}))
`;

// torch._lowrank.get_approximate_basis + _svd_lowrank with numpy in float32 (m ≥ n here).
const numpyLowRank = `
import sys, json, time, numpy as np
path, m, n, q, niter = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
a = np.fromfile(path, dtype=np.float32).reshape(m, n)
rng = np.random.default_rng(0)
def svd_lowrank(a):
    r = rng.standard_normal((n, q)).astype(np.float32)
    basis = np.linalg.qr(a @ r)[0]
    for _ in range(niter):
        basis = np.linalg.qr(a.T @ basis)[0]
        basis = np.linalg.qr(a @ basis)[0]
    b = basis.T @ a
    u, s, vt = np.linalg.svd(b, full_matrices=False)
    return basis @ u, s, vt.T
svd_lowrank(a)
best, cpu = float("inf"), 0.0
for _ in range(3):
    t, c = time.perf_counter(), time.process_time()
    svd_lowrank(a)
    if time.perf_counter() - t < best: best, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"ms": best * 1000, "cpuMs": cpu * 1000}))
`;

function writeMatrix(values, name) {
  const path = join(workDirectory, name);
  writeFileSync(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return path;
}

try {
  // 1. Full thin SVD of square Gaussian matrices.
  for (const n of !groups.has("svd") ? [] : quick ? [128, 256] : [256, 512, 1024]) {
    const values = gaussianValues(n * n, n);
    const a = tensor(values, [n, n]);
    const size = `${n}x${n}`;
    const repeats = n <= 256 ? 3 : 1;
    let best = { ms: Number.POSITIVE_INFINITY, cpuMs: 0 };
    let error = 0;
    for (let r = 0; r < repeats; r++) {
      const run = time(() => svd(a));
      if (run.ms < best.ms) best = run;
      error = reconstructionError(a, run.result.u, run.result.s, run.result.vt);
    }
    emit({ bench: "svd", impl: "peftjs", size, ms: best.ms, cpuMs: best.cpuMs, reconstructionError: error });
    const matrix = new Matrix(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) matrix.set(i, j, values[i * n + j]);
    const ml = time(() => new SingularValueDecomposition(matrix, { autoTranspose: true }));
    emit({ bench: "svd", impl: "ml-matrix", size, ms: ml.ms, cpuMs: ml.cpuMs });
    for (const record of numpy(numpySvd, [writeMatrix(values, `svd${n}.f32`), n, n, 3])) {
      emit({ bench: "svd", impl: "numpy", size, ms: record.ms, cpuMs: record.cpuMs, version: record.numpy });
    }
  }

  // 2. QR of a tall matrix (the OLoRA shape family).
  if (groups.has("qr")) {
    const [m, n] = quick ? [512, 128] : [2048, 512];
    const a = tensor(gaussianValues(m * n, 7), [m, n]);
    emit({ bench: "qr", impl: "peftjs", size: `${m}x${n}`, ms: time(() => qr(a)).ms });
  }

  // 3. svdTopK and svdLowRank on a 4096² weight-like matrix.
  if (groups.has("large")) {
    const big = quick ? 1024 : 4096;
    const values = weightLikeMatrix(big, big, 11);
    const a = tensor(values, [big, big]);
    const size = `${big}x${big}`;
    const topK = time(() => svdTopK(a, 16));
    emit({
      bench: "svdTopK",
      impl: "peftjs",
      size: `${size} k=16`,
      ms: topK.ms,
      cpuMs: topK.cpuMs,
      iterations: topK.result.iterations,
      residual: topK.result.residual,
      converged: topK.result.converged,
    });
    // As the numpy peer below: best of 3 after one warm-up call; the first (cold, JIT-compiling) call too.
    const first = time(() => svdLowRank(a, 16, { niter: 4, seed: 0 }));
    let lowRank = { ms: Number.POSITIVE_INFINITY, cpuMs: 0 };
    for (let r = 0; r < 3; r++) {
      const run = time(() => svdLowRank(a, 16, { niter: 4, seed: 0 }));
      if (run.ms < lowRank.ms) lowRank = run;
    }
    emit({
      bench: "svdLowRank",
      impl: "peftjs",
      size: `${size} q=16 niter=4`,
      ms: lowRank.ms,
      cpuMs: lowRank.cpuMs,
      firstMs: first.ms,
      firstCpuMs: first.cpuMs,
    });
    for (const record of numpy(numpyLowRank, [writeMatrix(values, "big.f32"), big, big, 16, 4])) {
      emit({
        bench: "svdLowRank",
        impl: "numpy",
        size: `${size} q=16 niter=4`,
        ms: record.ms,
        cpuMs: record.cpuMs,
      });
    }
  }

  // 4. svdLowRank error against the Eckart–Young optimum as niter grows, for slowly decaying spectra.
  if (groups.has("error")) {
    const n = quick ? 256 : 512;
    const q = 16;
    const gaussian = tensor(gaussianValues(n * n, 5), [n, n]);
    const orthogonal = [
      qr(gaussian).q.toFloat32Array(),
      qr(tensor(gaussianValues(n * n, 6), [n, n])).q.toFloat32Array(),
    ];
    for (const [name, decay] of [
      ["1/sqrt(i+1)", (i) => 1 / Math.sqrt(i + 1)],
      ["1/(i+1)", (i) => 1 / (i + 1)],
      ["0.99^i", (i) => 0.99 ** i],
    ]) {
      const spectrum = Array.from({ length: n }, (_, i) => decay(i));
      const product = new Float32Array(n * n);
      const [left, right] = orthogonal;
      const scaled = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let k = 0; k < n; k++) scaled[i * n + k] = left[i * n + k] * spectrum[k];
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let k = 0; k < n; k++) sum += scaled[i * n + k] * right[j * n + k];
          product[i * n + j] = sum;
        }
      }
      const matrix = tensor(product, [n, n]);
      const total = Math.sqrt(spectrum.reduce((s, v) => s + v * v, 0));
      const optimal = Math.sqrt(spectrum.slice(q).reduce((s, v) => s + v * v, 0)) / total;
      for (const niter of [0, 1, 2, 4, 8]) {
        const run = time(() => svdLowRank(matrix, q, { niter, seed: 0 }));
        const { u, s, v } = run.result;
        const vValues = v.toFloat32Array();
        const vt = new Float32Array(q * n);
        for (let i = 0; i < n; i++) for (let j = 0; j < q; j++) vt[j * n + i] = vValues[i * q + j];
        const error = reconstructionError(matrix, u, s, tensor(vt, [q, n]));
        emit({
          bench: "svdLowRank-error",
          impl: "peftjs",
          size: `${n}x${n} q=${q} spectrum=${name}`,
          niter,
          ms: run.ms,
          relativeError: error,
          optimalRelativeError: optimal,
          ratio: error / optimal,
        });
      }
    }
  }
} finally {
  rmSync(workDirectory, { recursive: true, force: true });
}
