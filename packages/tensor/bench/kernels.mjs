#!/usr/bin/env node
// Kernel benchmark at the size of a SmolLM2-135M layer (hidden 576, 9 heads / 3 KV heads, head_dim 64,
// intermediate 1536, vocab 49,152): training rows 4 × 128 = 512, a forward of 1 × 256, decoding M = 1. Prints
// one JSON line per measurement, `{bench, impl, ms, gflops | gbps, ...}`, each with the load average, the best
// wall-clock time and the best process CPU time of a call (on a loaded machine the CPU time shows how much of the
// wall time was spent waiting), and each kernel as a fraction of what this machine can do at most, measured in
// the same run: the f32x4 multiply-add ceiling (bench/lib/machine-limits.mjs) for compute-bound kernels, the
// WebAssembly read bandwidth for the matrix-vector kernels.
//
// Sections (each measurement in its own child process, on 1 and 2 threads; `--relaxed` children run with
// `--experimental-wasm-relaxed-simd`):
//   ceiling   f32x4 mul+add and relaxed madd GFLOP/s, read bandwidth GB/s
//   gemm      layer-shaped products (weights cached, steady state), with numpy and tfjs-wasm peers
//   prepack   a forward-shaped sequence of products with the packed-weight cache on and off, alternating
//   gemv      decoding products (M = 1 and 4; float32 and bfloat16 weights), with numpy and tfjs-wasm peers
//   fused     fused kernels against the same computation composed of separate ops
//
// Usage: pnpm build && node bench/kernels.mjs [--quick] [--sections=ceiling,gemm,...]
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { measureCeiling, measureReadBandwidth } from "./lib/machine-limits.mjs";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(packageRoot, "package.json"));
const quick = process.argv.includes("--quick");
const sectionsArgument = process.argv.find((argument) => argument.startsWith("--sections="));
const sections = sectionsArgument
  ? sectionsArgument.slice(11).split(",")
  : ["ceiling", "gemm", "prepack", "gemv", "fused"];

const hidden = 576;
const intermediate = 1536;
const keyValue = 192;
const vocabulary = 49_152;

/** The layer's projections as [name, out, in] (y = x·Wᵀ, W [out, in]). */
const projections = [
  ["q_proj", hidden, hidden],
  ["k_proj", keyValue, hidden],
  ["o_proj", hidden, hidden],
  ["gate_proj", intermediate, hidden],
  ["down_proj", hidden, intermediate],
  ["lm_head", vocabulary, hidden],
];

function pattern(size, salt) {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++)
    values[index] = ((index * 7919 + salt * 104729) % 2003) / 1001.5 - 1;
  return values;
}

/** Best wall-clock and best CPU milliseconds of `run` over `repeats` timed calls after `warm` warm-up calls. */
function time(run, repeats, warm = 2) {
  for (let index = 0; index < warm; index++) run();
  let best = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const usage = process.cpuUsage();
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
    const used = process.cpuUsage(usage);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  return { ms: best, cpuMs: cpu };
}

const repeats = (heavy) => (quick ? 3 : heavy ? 4 : 12);

async function library() {
  const distribution = join(packageRoot, "dist", "index.js");
  if (!existsSync(distribution)) throw new Error("dist/index.js is missing: run `pnpm build` first");
  return import(pathToFileURL(distribution).href);
}

/** A wasm backend with `threads` threads registered under a fresh name and made active. */
async function activate(tensor, threads, options = {}, name = "bench-wasm") {
  if (!tensor.isBackendRegistered(name)) {
    tensor.registerBackend({
      name,
      priority: 0,
      create: () => new tensor.WasmBackend({ threads, ...options }),
    });
  }
  await tensor.setBackend(name);
}

const children = {
  async ceiling(threads) {
    return { ceiling: await measureCeiling(threads), bandwidth: await measureReadBandwidth(threads) };
  },

  async gemm(threads) {
    const tensor = await library();
    await activate(tensor, threads);
    const results = [];
    for (const rows of [512, 256]) {
      const x = tensor.tensor(pattern(rows * intermediate, 1), [rows, intermediate]);
      for (const [name, out, input] of projections) {
        const weight = tensor.tensor(pattern(out * input, 2), [out, input]);
        const activation = tensor.slice(x, [0, 0], [rows, input]);
        // Training also needs dx = dy·W (weight as B, not transposed) and dW = dyᵀ·x.
        const upstream = tensor.tensor(pattern(rows * out, 3), [rows, out]);
        const products = [
          ["x·Wᵀ", () => tensor.matmul(activation, weight, { transposeB: true }), rows, input, out],
          ...(rows === 512
            ? [
                ["dy·W", () => tensor.matmul(upstream, weight), rows, out, input],
                ["dyᵀ·x", () => tensor.matmul(upstream, activation, { transposeA: true }), out, rows, input],
              ]
            : []),
        ];
        for (const [product, compute, m, k, n] of products) {
          const heavy = 2 * m * k * n > 2e10;
          const timing = time(() => compute().dispose(), repeats(heavy), 3);
          results.push({ shape: `${name} ${product}`, rows, m, k, n, ...timing });
        }
        tensor.dispose([weight, activation, upstream]);
      }
      x.dispose();
    }
    return results;
  },

  async prepack(threads) {
    const tensor = await library();
    // Two backends in one process, alternated call by call, so that both see the same machine load.
    const cached = "bench-cached";
    const unpacked = "bench-unpacked";
    await activate(tensor, threads, {}, cached);
    await activate(tensor, threads, { packedWeightCacheBytes: 0 }, unpacked);
    const sequence = async (backend, rows) => {
      await tensor.setBackend(backend);
      const weights = projections.map(([, out, input], index) =>
        tensor.tensor(pattern(out * input, index), [out, input]),
      );
      const x = tensor.tensor(pattern(rows * intermediate, 9), [rows, intermediate]);
      const run = () =>
        tensor.tidy(() => {
          projections.forEach(([, , input], index) => {
            tensor.matmul(tensor.slice(x, [0, 0], [rows, input]), weights[index], { transposeB: true });
          });
        });
      return { backend, run, dispose: () => tensor.dispose([...weights, x]) };
    };
    const results = [];
    for (const rows of [256, 32]) {
      const runs = [await sequence(cached, rows), await sequence(unpacked, rows)];
      const best = { [cached]: Number.POSITIVE_INFINITY, [unpacked]: Number.POSITIVE_INFINITY };
      const cpu = { ...best };
      for (let round = 0; round < (quick ? 4 : rows > 64 ? 8 : 20); round++) {
        for (const run of runs) {
          await tensor.setBackend(run.backend);
          const usage = process.cpuUsage();
          const start = performance.now();
          run.run();
          const used = process.cpuUsage(usage);
          // Rounds 0 and 1 warm up (and fill the cache: a weight is packed into it on its second use).
          if (round > 1) {
            best[run.backend] = Math.min(best[run.backend], performance.now() - start);
            cpu[run.backend] = Math.min(cpu[run.backend], (used.user + used.system) / 1000);
          }
        }
      }
      for (const run of runs) run.dispose();
      results.push({
        rows,
        cachedMs: best[cached],
        unpackedMs: best[unpacked],
        cachedCpuMs: cpu[cached],
        unpackedCpuMs: cpu[unpacked],
        flops: projections.reduce((sum, [, out, input]) => sum + 2 * rows * out * input, 0),
      });
    }
    return results;
  },

  async gemv(threads) {
    const tensor = await library();
    await activate(tensor, threads);
    const results = [];
    for (const [name, out, input] of projections) {
      for (const dtype of ["float32", "bfloat16"]) {
        const weight = tensor.cast(tensor.tensor(pattern(out * input, 4), [out, input]), dtype);
        for (const rows of [1, 4]) {
          const x = tensor.tensor(pattern(rows * input, 5), [rows, input]);
          const timing = time(
            () => tensor.matmul(x, weight, { transposeB: true }).dispose(),
            name === "lm_head" ? repeats(true) * 2 : 50,
          );
          results.push({
            shape: name,
            rows,
            dtype,
            out,
            input,
            bytes: out * input * (dtype === "float32" ? 4 : 2),
            ...timing,
          });
          x.dispose();
        }
        weight.dispose();
      }
    }
    return results;
  },

  async fused(threads) {
    const tensor = await library();
    await activate(tensor, threads);
    const { tensor: make, tidy, dispose } = tensor;
    const results = [];
    const measure = (kernel, shape, bytes, fused, composite) => {
      const fusedTiming = time(() => tidy(fused), repeats(false));
      const compositeTiming = time(() => tidy(composite), repeats(false));
      results.push({
        kernel,
        shape,
        bytes,
        ...fusedTiming,
        compositeMs: compositeTiming.ms,
        compositeCpuMs: compositeTiming.cpuMs,
      });
    };
    {
      const gate = make(pattern(512 * intermediate, 1), [512, intermediate]);
      const up = make(pattern(512 * intermediate, 2), [512, intermediate]);
      measure(
        "swiGlu",
        "[512, 1536]",
        3 * 512 * intermediate * 4,
        () => {
          tensor.swiGlu(gate, up);
        },
        () => {
          tensor.mul(tensor.silu(gate), up);
        },
      );
      const upstream = make(pattern(512 * intermediate, 3), [512, intermediate]);
      measure(
        "swiGlu backward (both inputs)",
        "[512, 1536]",
        5 * 512 * intermediate * 4,
        () => {
          tensor.valueAndGradients(
            () => tensor.sum(tensor.mul(tensor.swiGlu(gate, up), upstream)),
            [gate, up],
          );
        },
        () => {
          tensor.valueAndGradients(
            () => tensor.sum(tensor.mul(tensor.mul(tensor.silu(gate), up), upstream)),
            [gate, up],
          );
        },
      );
      dispose([gate, up, upstream]);
    }
    {
      // Attention scores of a training batch: [4·9, 128, 128], scale 1/8, causal.
      const scores = make(pattern(36 * 128 * 128, 4), [36, 128, 128]);
      const mask = make(
        Array.from({ length: 128 * 128 }, (_, index) =>
          index % 128 > Math.floor(index / 128) ? Number.NEGATIVE_INFINITY : 0,
        ),
        [128, 128],
      );
      measure(
        "attention softmax (scale, causal)",
        "[36, 128, 128]",
        2 * 36 * 128 * 128 * 4,
        () => {
          tensor.softmax(scores, { scale: 0.125, causal: true });
        },
        () => {
          tensor.softmax(tensor.add(tensor.scale(scores, 0.125), mask));
        },
      );
      dispose([scores, mask]);
    }
    {
      const x = make(pattern(512 * hidden, 5), [512, hidden]);
      const weight = make(
        pattern(hidden, 6).map((value) => 1 + value / 4),
        [hidden],
      );
      const upstream = make(pattern(512 * hidden, 7), [512, hidden]);
      measure(
        "rmsNorm backward (x)",
        "[512, 576]",
        3 * 512 * hidden * 4,
        () => {
          tensor.valueAndGradients(
            () => tensor.sum(tensor.mul(tensor.rmsNorm(x, weight, 1e-5), upstream)),
            [x],
          );
        },
        () => {
          // The composite the rule used before: r = 1/√(mean(x²) + ε), dx = r·(g − x·r²·mean(g ⊙ x)), g = dy ⊙ w.
          const reciprocal = tensor.div(
            1,
            tensor.sqrt(tensor.add(tensor.mean(tensor.mul(x, x), -1, true), 1e-5)),
          );
          const g = tensor.mul(upstream, weight);
          const projection = tensor.mul(
            tensor.mul(x, tensor.mul(reciprocal, reciprocal)),
            tensor.mean(tensor.mul(g, x), -1, true),
          );
          tensor.mul(tensor.sub(g, projection), reciprocal);
        },
      );
      dispose([x, weight, upstream]);
    }
    {
      const rows = quick ? 64 : 512;
      const logits = make(
        pattern(rows * vocabulary, 8).map((value) => value * 6),
        [rows, vocabulary],
      );
      const labels = make(
        Array.from({ length: rows }, (_, row) => (row * 7919) % vocabulary),
        [rows],
        "int32",
      );
      measure(
        "cross-entropy loss and gradient",
        `[${rows}, 49152]`,
        3 * rows * vocabulary * 4,
        () => {
          tensor.valueAndGradients(() => tensor.crossEntropy(logits, labels), [logits]);
        },
        () => {
          // What crossEntropy did before: log-softmax materialised ([rows, V] three times), a gather, and a
          // gradient built on the host from the read-back softmax.
          const centered = tensor.sub(logits, tensor.max(logits, 1, true));
          const logProbabilities = tensor.sub(
            centered,
            tensor.log(tensor.sum(tensor.exp(centered), 1, true)),
          );
          const positions = make(
            Array.from({ length: rows }, (_, row) => row * vocabulary + ((row * 7919) % vocabulary)),
            [rows],
            "int32",
          );
          tensor.mean(tensor.gather(tensor.reshape(logProbabilities, [rows * vocabulary, 1]), positions));
          const gradient = tensor.softmax(logits).toFloat32Array();
          for (let row = 0; row < rows; row++) {
            for (let column = 0; column < vocabulary; column++) gradient[row * vocabulary + column] /= rows;
            gradient[row * vocabulary + ((row * 7919) % vocabulary)] -= 1 / rows;
          }
          make(gradient, [rows, vocabulary]);
        },
      );
      dispose([logits, labels]);
    }
    return results;
  },

  async "tfjs-wasm"(threads) {
    const tf = require("@tensorflow/tfjs-core");
    const wasmBackend = require("@tensorflow/tfjs-backend-wasm");
    wasmBackend.setThreadsCount(threads);
    await tf.setBackend("wasm");
    await tf.ready();
    const results = [];
    for (const rows of [512, 256, 1]) {
      for (const [name, out, input] of projections) {
        // The weight stored as Wᵀ [in, out], tfjs's fast layout (its transposed-B product is ~13× slower here).
        const x = tf.tensor2d(pattern(rows * input, 1), [rows, input]);
        const weight = tf.tensor2d(pattern(out * input, 2), [input, out]);
        const heavy = 2 * rows * out * input > 2e10;
        const timing = time(() => tf.matMul(x, weight).dispose(), rows === 1 ? 30 : repeats(heavy), 3);
        results.push({ shape: `${name} x·Wᵀ`, rows, m: rows, k: input, n: out, ...timing });
        x.dispose();
        weight.dispose();
      }
    }
    return results;
  },
};

/** numpy float32 products (OpenBLAS on `threads` threads), or [] without python3 + numpy. */
function numpy(threads) {
  const script = `
import json, time, numpy as np
projections = ${JSON.stringify(projections)}
out = []
for rows in (512, 256, 1):
    for name, o, i in projections:
        rng = np.random.default_rng(0)
        x = rng.random((rows, i), dtype=np.float32); w = rng.random((o, i), dtype=np.float32)
        for _ in range(2): x @ w.T
        samples = []
        for _ in range(${quick ? 3 : 7} if rows > 1 else 30):
            t = time.perf_counter(); x @ w.T; samples.append((time.perf_counter() - t) * 1000)
        out.append(dict(shape=name + " x·Wᵀ", rows=rows, m=rows, k=i, n=o, ms=min(samples), note="numpy " + np.__version__))
print(json.dumps(out))
`;
  const environment = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
  };
  const result = spawnSync("python3", ["-c", script], {
    env: environment,
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (result.status !== 0) return [];
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

function child(section, threads, relaxed) {
  const result = spawnSync(
    process.execPath,
    [
      ...(relaxed ? ["--experimental-wasm-relaxed-simd"] : []),
      fileURLToPath(import.meta.url),
      "--child",
      section,
      String(threads),
      ...(quick ? ["--quick"] : []),
    ],
    { encoding: "utf8", maxBuffer: 1 << 26 },
  );
  if (result.status !== 0) {
    process.stderr.write(`kernels: ${section} (${threads} threads) failed: ${result.stderr.slice(-3000)}\n`);
    return undefined;
  }
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

if (process.argv[2] === "--child") {
  const output = await children[process.argv[3]](Number(process.argv[4]));
  process.stdout.write(`${JSON.stringify(output)}\n`);
  process.exit(0);
}

const load = () => Number(loadavg()[0].toFixed(2));
const round = (value, digits = 3) => Number(value.toFixed(digits));
const print = (line) => console.log(JSON.stringify(line));
const threadCounts = [1, 2];

// The machine's limits, per thread count: GFLOP/s of both multiply-add variants, GB/s of reads.
const limits = {};
for (const threads of threadCounts) {
  const measured = child("ceiling", threads, true) ?? { ceiling: {}, bandwidth: Number.NaN };
  limits[threads] = measured;
  for (const [variant, { gflops, accumulators }] of Object.entries(measured.ceiling)) {
    print({
      bench: "ceiling",
      impl: variant === "plain" ? "wasm-f32x4-mul-add" : "wasm-f32x4-relaxed-madd",
      threads,
      gflops: round(gflops, 1),
      gflops_per_thread: round(gflops / threads, 1),
      accumulators,
      load_average: load(),
    });
  }
  print({
    bench: "read-bandwidth",
    impl: "wasm-v128-load",
    threads,
    gbps: round(measured.bandwidth, 1),
    load_average: load(),
  });
}
const ceilingOf = (threads, relaxed) =>
  limits[threads]?.ceiling?.[relaxed ? "relaxed" : "plain"]?.gflops ?? Number.NaN;

if (sections.includes("gemm")) {
  for (const threads of threadCounts) {
    const peers = { numpy: numpy(threads), "tfjs-wasm": child("tfjs-wasm", threads, false) ?? [] };
    for (const relaxed of [false, true]) {
      for (const result of child("gemm", threads, relaxed) ?? []) {
        const flops = 2 * result.m * result.k * result.n;
        const gflops = flops / result.ms / 1e6;
        const line = {
          bench: "gemm-layer",
          impl: relaxed ? "peftjs-wasm-relaxed" : "peftjs-wasm",
          shape: result.shape,
          m: result.m,
          k: result.k,
          n: result.n,
          threads,
          ms: round(result.ms),
          cpu_ms: round(result.cpuMs),
          gflops: round(gflops, 1),
          fraction_of_ceiling: round(gflops / ceilingOf(threads, relaxed), 2),
          // Per core-second actually used: robust to other processes taking the cores (see the header).
          cpu_gflops_per_core: round(flops / result.cpuMs / 1e6, 1),
          cpu_fraction_of_core_ceiling: round(flops / result.cpuMs / 1e6 / ceilingOf(1, relaxed), 2),
          load_average: load(),
        };
        for (const [peer, rows] of Object.entries(peers)) {
          const match = rows.find((row) => row.shape === result.shape && row.rows === result.rows);
          if (match !== undefined) line[`ratio_to_${peer}`] = round(match.ms / result.ms, 2);
        }
        print(line);
      }
    }
    for (const [peer, rows] of Object.entries(peers)) {
      for (const row of rows.filter((candidate) => candidate.rows > 1)) {
        const gflops = (2 * row.m * row.k * row.n) / row.ms / 1e6;
        print({
          bench: "gemm-layer",
          impl: peer,
          shape: row.shape,
          m: row.m,
          k: row.k,
          n: row.n,
          threads,
          ms: round(row.ms),
          gflops: round(gflops, 1),
          load_average: load(),
        });
      }
    }
  }
}

if (sections.includes("prepack")) {
  for (const threads of threadCounts) {
    for (const result of child("prepack", threads, true) ?? []) {
      print({
        bench: "prepack",
        impl: "peftjs-wasm-relaxed",
        sequence: `forward of ${result.rows} tokens: q, k, o, gate, down, lm_head (x·Wᵀ)`,
        threads,
        ms: round(result.cachedMs),
        unpacked_ms: round(result.unpackedMs),
        gain: round(result.unpackedMs / result.cachedMs, 2),
        cpu_ms: round(result.cachedCpuMs),
        unpacked_cpu_ms: round(result.unpackedCpuMs),
        cpu_gain: round(result.unpackedCpuMs / result.cachedCpuMs, 2),
        gflops: round(result.flops / result.cachedMs / 1e6, 1),
        fraction_of_ceiling: round(result.flops / result.cachedMs / 1e6 / ceilingOf(threads, true), 2),
        load_average: load(),
      });
    }
  }
}

if (sections.includes("gemv")) {
  for (const threads of threadCounts) {
    const bandwidth = limits[threads]?.bandwidth ?? Number.NaN;
    const peers = { numpy: numpy(threads), "tfjs-wasm": child("tfjs-wasm", threads, false) ?? [] };
    for (const result of child("gemv", threads, true) ?? []) {
      const gbps = result.bytes / result.ms / 1e6;
      const line = {
        bench: "gemv",
        impl: "peftjs-wasm-relaxed",
        shape: `${result.shape} ${result.rows}×${result.input}·(${result.out}×${result.input})ᵀ`,
        dtype: result.dtype,
        rows: result.rows,
        threads,
        ms: round(result.ms, 4),
        cpu_ms: round(result.cpuMs, 4),
        gbps: round(gbps, 1),
        fraction_of_bandwidth: round(gbps / bandwidth, 2),
        cpu_gbps_per_core: round(result.bytes / result.cpuMs / 1e6, 1),
        load_average: load(),
      };
      if (result.dtype === "float32" && result.rows === 1) {
        for (const [peer, rows] of Object.entries(peers)) {
          const match = rows.find((row) => row.shape === `${result.shape} x·Wᵀ` && row.rows === 1);
          if (match !== undefined) line[`ratio_to_${peer}`] = round(match.ms / result.ms, 2);
        }
      }
      print(line);
    }
  }
}

if (sections.includes("fused")) {
  for (const threads of threadCounts) {
    for (const result of child("fused", threads, true) ?? []) {
      print({
        bench: "fused",
        impl: "peftjs-wasm-relaxed",
        kernel: result.kernel,
        shape: result.shape,
        threads,
        ms: round(result.ms),
        cpu_ms: round(result.cpuMs),
        gbps: round(result.bytes / result.ms / 1e6, 1),
        unfused_ms: round(result.compositeMs),
        speedup: round(result.compositeMs / result.ms, 2),
        cpu_speedup: round(result.compositeCpuMs / result.cpuMs, 2),
        load_average: load(),
      });
    }
  }
}
