// PiSSA / OLoRA init of every linear layer of a SmolLM2-135M-shaped Llama (random weights), through
// initializeAdapter, against PEFT's get_peft_model in the same run. The SVD/QR engines alone are timed by
// packages/linalg/bench/model-decompositions.mjs (whose Python script this one reuses).
//
// Usage (after `pnpm build`): node bench/model-init.mjs [MODEL_DIR] [--layers=8] [--rank=16] [--python=PATH]
//   [--no-torch] [--inits=pissa,pissa_niter_4,olora] [--rounds=2]
// MODEL_DIR defaults to /tmp/peftjs-bench-model-LAYERS; a missing model is built with
// `PYTHON ../linalg/bench/smol_torch_decompositions.py MODEL_DIR --make --layers LAYERS` (torch + transformers).
// Each round runs PyTorch (one process: get_peft_model per init, on 2 threads with OpenMP's wait policy;
// --torch-passive sets OMP_WAIT_POLICY=PASSIVE) and then peftjs, printing JSON lines {bench: "init_<init>_all_linear_r16", impl, ms, round} and
// the load average; {bench: "best"} keeps each side's fastest round and {bench: "ratios"} divides them.
// The machine is shared: compare ratios from one run.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize } from "@peftjs/io";
import { getBackend, setBackend } from "@peftjs/tensor";
import { initializeAdapter, matrix, parseLoraConfig } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const option = (name, fallback) => {
  const found = process.argv.find((argument) => argument.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const layers = Number(option("layers", "8"));
const rank = Number(option("rank", "16"));
const inits = option("inits", "pissa,pissa_niter_4,olora").split(",");
const modelDirectory =
  process.argv.slice(2).find((argument) => !argument.startsWith("--")) ?? `/tmp/peftjs-bench-model-${layers}`;
const python =
  option("python", undefined) ??
  process.env.BENCH_PYTHON ??
  (existsSync("/tmp/peftjs-bench-venv/bin/python") ? "/tmp/peftjs-bench-venv/bin/python" : "python3");
const torchScript = join(here, "../../linalg/bench/smol_torch_decompositions.py");
const emit = (record) => console.log(JSON.stringify(record));
const load = () => loadavg().map((value) => Number(value.toFixed(2)));

if (!existsSync(join(modelDirectory, "model.safetensors"))) {
  const made = spawnSync(python, [torchScript, modelDirectory, "--make", "--layers", String(layers)], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (made.status !== 0) {
    console.error(
      `no ${modelDirectory}/model.safetensors, and building it failed: run\n  ${python} ${torchScript} ${modelDirectory} --make --layers ${layers}`,
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
  // OpenMP's default spinning makes torch 10–30× slower on a busy machine (see model-decompositions.mjs).
  emit({
    bench: "torch_settings",
    threads: torchEnvironment.THREADS ?? "2",
    ompWaitPolicy: torchEnvironment.OMP_WAIT_POLICY,
  });
}

function torchRound(round) {
  const torch = spawnSync(python, [torchScript, modelDirectory, "--rank", String(rank), "--peft-only"], {
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
const weights = new Map();
for (const [name, raw] of tensors) {
  if (!name.endsWith("_proj.weight")) continue;
  const values = new Float32Array(raw.data.byteLength / 4);
  new Uint8Array(values.buffer).set(raw.data);
  const weight = { values: matrix(raw.shape[0], raw.shape[1], values), dtype: "F32" };
  weights.set(name.slice(0, -".weight".length), {
    outFeatures: raw.shape[0],
    inFeatures: raw.shape[1],
    readWeight: () => weight,
  });
}
const firstLayer = new Map([...weights].filter(([name]) => name.includes(".layers.0.")));
const configs = new Map(
  inits.map((init) => [
    init,
    parseLoraConfig({ r: rank, lora_alpha: rank, target_modules: "all-linear", init_lora_weights: init }),
  ]),
);
// Warm-up on the first layer (JIT, wasm compilation), outside every timing.
for (const config of configs.values()) initializeAdapter(config, firstLayer, { seed: 0 });

function peftjsRound(round) {
  const rows = [];
  for (const [init, config] of configs) {
    const start = performance.now();
    initializeAdapter(config, weights, { seed: 0 });
    const ms = Math.round((performance.now() - start) * 100) / 100;
    const row = { impl, bench: `init_${init}_all_linear_r${rank}`, ms, modules: weights.size, round };
    emit(row);
    rows.push(row);
  }
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
const ratios = {};
for (const init of inits) {
  const bench = `init_${init}_all_linear_r${rank}`;
  const mine = best(impl, bench);
  const reference = runTorch ? best("torch", bench) : Number.NaN;
  emit({ bench: "best", init, peftjsMs: mine, torchMs: reference });
  if (Number.isFinite(reference)) ratios[init] = Math.round((mine / reference) * 100) / 100;
}
if (Object.keys(ratios).length > 0) emit({ bench: "ratios", ...ratios });
