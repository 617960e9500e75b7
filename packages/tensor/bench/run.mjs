#!/usr/bin/env node
// Matrix-product benchmark of @peftjs/tensor against its peers, one JSON line per (impl, size):
// {bench: "matmul", impl, size, ms (best of the timed runs), gflops (2·n³ / best), runs, ...}.
//
// Implementations: every @peftjs/tensor backend that is available here (js always; wasm, gpu, ... join
// automatically when they pass their self-test), gpu.js's own default mode (`new GPU()`: in plain Node its
// fallback; the line reports which mode), and ml-matrix's `mmul`.
//
// Usage: pnpm build && pnpm bench   (or: node bench/run.mjs [--sizes=256,512,1024])
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(packageRoot, "package.json"));
const distribution = join(packageRoot, "dist", "index.js");
if (!existsSync(distribution)) {
  console.error("bench/run.mjs: dist/index.js is missing; run `pnpm build` first");
  process.exit(1);
}
const tensorLibrary = await import(pathToFileURL(distribution).href);

const sizesArgument = process.argv.find((argument) => argument.startsWith("--sizes="));
const sizes = sizesArgument ? sizesArgument.slice(8).split(",").map(Number) : [256, 512, 1024];

/** Deterministic inputs in [-1, 1) (the same for every implementation). */
function pattern(size, salt) {
  const values = new Float32Array(size);
  for (let index = 0; index < size; index++)
    values[index] = ((index * 7919 + salt * 104729) % 2003) / 1001.5 - 1;
  return values;
}

/** Runs `run` once to warm up, then times it until `budgetMs` is spent (at least 1, at most 10 timed runs). */
function time(run, budgetMs = 3000) {
  const warmStart = performance.now();
  run();
  const warmMs = performance.now() - warmStart;
  const repeats = Math.max(1, Math.min(10, Math.floor(budgetMs / Math.max(warmMs, 1))));
  let best = Number.POSITIVE_INFINITY;
  for (let repeat = 0; repeat < repeats; repeat++) {
    const start = performance.now();
    run();
    best = Math.min(best, performance.now() - start);
  }
  return { ms: best, runs: repeats };
}

function emit(impl, size, timing, extra = {}) {
  const gflops = (2 * size ** 3) / (timing.ms * 1e6);
  console.log(
    JSON.stringify({
      bench: "matmul",
      impl,
      size,
      ms: Number(timing.ms.toFixed(3)),
      gflops: Number(gflops.toFixed(3)),
      runs: timing.runs,
      ...extra,
    }),
  );
}

/** Largest |difference| between two products, to show that every implementation computed the same thing. */
function maxDifference(left, right) {
  let largest = 0;
  for (let index = 0; index < left.length; index++)
    largest = Math.max(largest, Math.abs(left[index] - right[index]));
  return largest;
}

const references = new Map();

// Every available @peftjs/tensor backend.
const backends = (await tensorLibrary.probeBackends()).filter((info) => info.availability?.available);
for (const info of backends) {
  await tensorLibrary.setBackend(info.name);
  for (const size of sizes) {
    const a = tensorLibrary.tensor(pattern(size * size, 1), [size, size]);
    const b = tensorLibrary.tensor(pattern(size * size, 2), [size, size]);
    let product;
    const timing = time(() => {
      product?.dispose();
      product = tensorLibrary.matmul(a, b);
      product.dataSync();
    });
    const values = product.dataSync();
    if (!references.has(size)) references.set(size, values);
    emit(`peftjs-${info.name}`, size, timing, {
      max_abs_diff_vs_first: maxDifference(values, references.get(size)),
    });
    for (const tensor of [a, b, product]) tensor.dispose();
  }
}
await tensorLibrary.setBackend("js");

// gpu.js in its default mode (in plain Node: its fallback; the mode is reported).
try {
  const { GPU } = require("gpu.js");
  const gpu = new GPU();
  for (const size of sizes) {
    const kernel = gpu
      .createKernel(function multiply(left, right) {
        let sum = 0;
        for (let index = 0; index < this.constants.size; index++) {
          sum += left[this.thread.y][index] * right[index][this.thread.x];
        }
        return sum;
      })
      .setOutput([size, size])
      .setConstants({ size })
      .setPrecision("single");
    const toRows = (flat) =>
      Array.from({ length: size }, (_, row) => flat.subarray(row * size, (row + 1) * size));
    const left = toRows(pattern(size * size, 1));
    const right = toRows(pattern(size * size, 2));
    let rows;
    const timing = time(() => {
      rows = kernel(left, right);
    }, 6000);
    const flat = new Float32Array(size * size);
    for (const [index, row] of rows.entries()) flat.set(row, index * size);
    emit("gpu.js", size, timing, {
      mode: gpu.mode,
      max_abs_diff_vs_first: maxDifference(flat, references.get(size)),
    });
    kernel.destroy?.();
  }
  gpu.destroy?.();
} catch (error) {
  console.log(JSON.stringify({ bench: "matmul", impl: "gpu.js", skipped: String(error?.message ?? error) }));
}

// ml-matrix's mmul.
try {
  const { Matrix } = require("ml-matrix");
  for (const size of sizes) {
    const toMatrix = (flat) =>
      new Matrix(
        Array.from({ length: size }, (_, row) => Array.from(flat.subarray(row * size, (row + 1) * size))),
      );
    const left = toMatrix(pattern(size * size, 1));
    const right = toMatrix(pattern(size * size, 2));
    let product;
    const timing = time(() => {
      product = left.mmul(right);
    });
    const flat = Float32Array.from(product.to1DArray());
    emit("ml-matrix", size, timing, { max_abs_diff_vs_first: maxDifference(flat, references.get(size)) });
  }
} catch (error) {
  console.log(
    JSON.stringify({ bench: "matmul", impl: "ml-matrix", skipped: String(error?.message ?? error) }),
  );
}
process.exit(0);
