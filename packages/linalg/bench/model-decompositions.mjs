// The decompositions of PEFT's PiSSA and OLoRA inits at real model size, peftjs against PyTorch in one run.
// Model: a SmolLM2-135M-shaped Llama with random weights (hidden 576, 9 heads / 3 KV heads so k/v are
// 192 × 576, intermediate 1536, all seven linear types per layer), the one ../shared/bench/smol_torch.py builds.
//
// Usage (after `pnpm build`): node bench/model-decompositions.mjs [MODEL_DIR] [--layers=8] [--rank=16]
//   [--python=PATH] [--no-torch] [--rounds=2]
// MODEL_DIR defaults to /tmp/peftjs-bench-model-LAYERS. When MODEL_DIR/model.safetensors is missing it is built
// with `PYTHON bench/smol_torch_decompositions.py MODEL_DIR --make --layers LAYERS` (torch + transformers).
// PYTHON: --python, else $BENCH_PYTHON, else /tmp/peftjs-bench-venv/bin/python, else python3; its lines are
// skipped (with a note) when it has no torch; it runs with THREADS (default 2) torch threads and
// OpenMP's wait policy (--torch-passive: PASSIVE; see below). Prints JSON lines {bench, impl, ms, ...}:
//   svd_<proj> / svd_all_linear             torch.linalg.svd(W, full_matrices=False) (PEFT "pissa")
//   svd_topk_<proj> / svd_topk_all_linear   peftjs svdTopK(W, r) (the exact "pissa" init's engine)
//   svd_lowrank_niter4_*                    torch.svd_lowrank(W, q=r, niter=4) / peftjs svdLowRank (PEFT "pissa_niter_4")
//   qr_*                                    torch.linalg.qr(W) (PEFT "olora") / peftjs qr of W[:, :r] (all OLoRA needs)
// (PEFT's whole init, and peftjs's init path, are timed by packages/adapters/bench/model-init.mjs.)
// Per-projection figures are the mean per matrix, *_all_linear the sum over all matrices. Each of `rounds`
// rounds runs the PyTorch process, then peftjs, so both see the same load; the closing {bench: "best"} lines
// keep each side's fastest round, {bench: "ratios"} divides them, and the load average is printed around
// every round (the development machine is shared: compare ratios from one run, not absolute times).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize } from "@peftjs/io";
import { getBackend, setBackend, slice, tensor } from "@peftjs/tensor";
import { qr, svdLowRank, svdTopK } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const option = (name, fallback) => {
  const found = process.argv.find((argument) => argument.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const layers = Number(option("layers", "8"));
const rank = Number(option("rank", "16"));
const positional = process.argv.slice(2).filter((argument) => !argument.startsWith("--"));
const modelDirectory = positional[0] ?? `/tmp/peftjs-bench-model-${layers}`;
const python =
  option("python", undefined) ??
  process.env.BENCH_PYTHON ??
  (existsSync("/tmp/peftjs-bench-venv/bin/python") ? "/tmp/peftjs-bench-venv/bin/python" : "python3");
const torchScript = join(here, "smol_torch_decompositions.py");

const emit = (record) => console.log(JSON.stringify(record));
const load = () => loadavg().map((value) => Number(value.toFixed(2)));

if (!existsSync(join(modelDirectory, "model.safetensors"))) {
  const made = spawnSync(python, [torchScript, modelDirectory, "--make", "--layers", String(layers)], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (made.status !== 0) {
    console.error(
      `no ${modelDirectory}/model.safetensors, and building it failed: run\n  ${python} ${torchScript} ${modelDirectory} --make --layers ${layers}\nwith torch and transformers installed`,
    );
    process.exit(1);
  }
}

// OpenMP's own wait policy (as a user runs torch) unless --torch-passive or OMP_WAIT_POLICY says otherwise:
// PASSIVE rescues torch on a busy machine but slows its SVDs up to 2.7× on a quiet one.
const torchEnvironment = process.argv.includes("--torch-passive")
  ? { ...process.env, OMP_WAIT_POLICY: "PASSIVE" }
  : { ...process.env };
const runTorch = !process.argv.includes("--no-torch");
if (runTorch) {
  // OpenMP's default spinning makes torch's 2 threads 10–30× slower on a busy machine (measured: 2.5–9.6 s
  // instead of 0.14–0.5 s for one 1536 × 576 SVD at load 8); passive waiting, like our workers' Atomics.wait,
  // keeps the two sides comparable. Set OMP_WAIT_POLICY yourself to override.
  emit({
    bench: "torch_settings",
    threads: torchEnvironment.THREADS ?? "2",
    ompWaitPolicy: torchEnvironment.OMP_WAIT_POLICY,
  });
}

/** One PyTorch process: the per-matrix decompositions (PEFT's init is model-init.mjs's). */
function torchRound(round) {
  const torch = spawnSync(python, [torchScript, modelDirectory, "--rank", String(rank), "--skip-peft"], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
    env: torchEnvironment,
  });
  const rows = [];
  for (const line of (torch.stdout ?? "").split("\n")) {
    if (!line.startsWith("{")) continue;
    const row = { ...JSON.parse(line), round };
    emit(row);
    rows.push(row);
  }
  if (torch.status !== 0)
    emit({ bench: "torch_skipped", reason: (torch.stderr ?? "").trim().split("\n").pop() });
  return rows;
}

await setBackend("auto");
const impl = `peftjs-${getBackend()}`;
const { tensors } = deserialize(new Uint8Array(readFileSync(join(modelDirectory, "model.safetensors"))));
const weights = [];
for (const [name, raw] of tensors) {
  if (!name.endsWith("_proj.weight")) continue;
  if (raw.dtype !== "F32") throw new Error(`${name}: expected F32 weights, got ${raw.dtype}`);
  const values = new Float32Array(raw.data.byteLength / 4);
  new Uint8Array(values.buffer).set(raw.data);
  weights.push({ name, projection: name.split(".").at(-2), weight: tensor(values, raw.shape) });
}

const decompositions = {
  svd_topk: (w) => {
    const result = svdTopK(w, rank);
    const details = { iterations: result.iterations, residual: result.residual, converged: result.converged };
    for (const value of [result.u, result.s, result.vt]) value.dispose();
    return details;
  },
  svd_lowrank_niter4: (w, index) => {
    const result = svdLowRank(w, rank, { niter: 4, seed: index });
    for (const value of [result.u, result.s, result.v]) value.dispose();
  },
  qr: (w) => {
    // OLoRA needs Q[:, :r] and R[:r] only: the QR of the first r columns (same reflectors as a full QR).
    const leading = slice(w, [0, 0], [-1, rank]);
    const result = qr(leading);
    for (const value of [leading, result.q, result.r]) value.dispose();
  },
};
// Warm-up on the first layer (JIT, wasm compilation), outside every timing.
for (const decompose of Object.values(decompositions)) {
  for (const [index, entry] of weights.entries())
    if (entry.name.includes(".layers.0.")) decompose(entry.weight, index);
}

/** One peftjs round: every decomposition over every matrix, each matrix timed on its own. */
function peftjsRound(round) {
  const rows = [];
  for (const [label, decompose] of Object.entries(decompositions)) {
    const perProjection = new Map();
    let total = 0;
    let worstResidual = 0;
    let mostIterations = 0;
    let allConverged = true;
    for (const [index, entry] of weights.entries()) {
      const start = performance.now();
      const details = decompose(entry.weight, index);
      const ms = performance.now() - start;
      total += ms;
      perProjection.set(entry.projection, [...(perProjection.get(entry.projection) ?? []), ms]);
      if (details !== undefined) {
        worstResidual = Math.max(worstResidual, details.residual);
        mostIterations = Math.max(mostIterations, details.iterations);
        allConverged &&= details.converged;
      }
    }
    for (const [projection, list] of perProjection) {
      const shape = weights.find((entry) => entry.projection === projection).weight.shape;
      rows.push({
        impl,
        bench: `${label}_${projection}`,
        ms: round2(mean(list)),
        matrices: list.length,
        shape,
        round,
      });
    }
    const extra = label === "svd_topk" ? { worstResidual, mostIterations, allConverged } : {};
    rows.push({
      impl,
      bench: `${label}_all_linear`,
      ms: round2(total),
      matrices: weights.length,
      ...extra,
      round,
    });
  }
  for (const row of rows) emit(row);
  return rows;
}

const rounds = Number(option("rounds", "2"));
const all = [];
for (let round = 1; round <= rounds; round++) {
  emit({ bench: "load_average", when: `round ${round} start`, load: load() });
  if (runTorch) all.push(...torchRound(round));
  all.push(...peftjsRound(round));
  emit({ bench: "load_average", when: `round ${round} end`, load: load() });
}

const best = (implementation, bench) =>
  Math.min(...all.filter((row) => row.impl === implementation && row.bench === bench).map((row) => row.ms));
const pairs = [
  ["svd_topk_all_linear", "svd_all_linear"],
  ["svd_lowrank_niter4_all_linear", "svd_lowrank_niter4_all_linear"],
  ["qr_all_linear", "qr_all_linear"],
];
const ratios = {};
for (const [ours, theirs] of pairs) {
  const mine = best(impl, ours);
  const reference = runTorch ? best("torch", theirs) : Number.NaN;
  emit({ bench: "best", peftjs: ours, peftjsMs: mine, torch: theirs, torchMs: reference });
  if (Number.isFinite(reference)) ratios[`${ours} / torch ${theirs}`] = round2(mine / reference);
}
if (Object.keys(ratios).length > 0) emit({ bench: "ratios", ...ratios });

function mean(list) {
  return list.reduce((sum, value) => sum + value, 0) / list.length;
}

function round2(value) {
  return Math.round(value * 100) / 100;
}
