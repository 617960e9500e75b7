// PiSSA / OLoRA init of every linear layer of a SmolLM2-135M-shaped Llama (random weights), through
// initializeAdapter, against PEFT's get_peft_model in the same run. The SVD/QR engines alone are timed by
// packages/linalg/bench/model-decompositions.mjs (whose Python script this one reuses).
//
// Usage (after `pnpm build`): node bench/model-init.mjs [MODEL_DIR] [--layers=8] [--rank=16] [--python=PATH]
//   [--no-torch] [--inits=pissa,pissa_niter_4,olora]
// MODEL_DIR defaults to /tmp/peftjs-bench-model-LAYERS; a missing model is built with
// `PYTHON ../linalg/bench/smol_torch_decompositions.py MODEL_DIR --make --layers LAYERS` (torch + transformers).
// Prints JSON lines {bench: "init_<init>_all_linear_r16", impl, ms}, the load average before and after, and
// {bench: "ratios"} (peftjs / torch from this run). The machine is shared: compare ratios from one run.
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

emit({ bench: "load_average", when: "start", load: load() });
const torchRows = [];
if (!process.argv.includes("--no-torch")) {
  const torch = spawnSync(python, [torchScript, modelDirectory, "--rank", String(rank), "--peft-only"], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  for (const line of (torch.stdout ?? "").split("\n")) {
    if (!line.startsWith("{")) continue;
    console.log(line);
    torchRows.push(JSON.parse(line));
  }
  if (torch.status !== 0) emit({ bench: "torch_skipped", reason: (torch.stderr ?? "").trim().split("\n").pop() });
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
  weights.set(name.slice(0, -".weight".length), weight);
}
const firstLayer = new Map([...weights].filter(([name]) => name.includes(".layers.0.")));

const totals = {};
for (const init of inits) {
  const config = parseLoraConfig({ r: rank, lora_alpha: rank, target_modules: "all-linear", init_lora_weights: init });
  initializeAdapter(config, firstLayer, { seed: 0 }); // warm-up (JIT, wasm compilation)
  const start = performance.now();
  initializeAdapter(config, weights, { seed: 0 });
  totals[init] = performance.now() - start;
  emit({ impl, bench: `init_${init}_all_linear_r${rank}`, ms: Math.round(totals[init] * 100) / 100, modules: weights.size });
}
emit({ bench: "load_average", when: "end", load: load() });
const ratios = {};
for (const init of inits) {
  const reference = torchRows.find((row) => row.bench === `init_${init}_all_linear_r${rank}`)?.ms;
  if (reference !== undefined) ratios[init] = Math.round((totals[init] / reference) * 100) / 100;
}
if (Object.keys(ratios).length > 0) emit({ bench: "ratios", ...ratios });
