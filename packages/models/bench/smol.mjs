// peftjs against PyTorch + PEFT on a SmolLM2-135M-shaped Llama (hidden 576, 9 heads / 3 KV heads, intermediate
// 1536, vocabulary 49,152, tied embeddings, random weights), both sides in one run: the table of issue 17.
//
// Usage (after `pnpm build`): node bench/smol.mjs [MODEL_DIR] [--layers=8] [--rounds=2] [--backend=wasm]
//   [--benches=forward_1x256,...] [--no-torch] [--profile] [--python=PATH] [--packed-cache-mb=N] [--torch-passive]
// MODEL_DIR defaults to /tmp/peftjs-bench-model-LAYERS; a missing model is written by
// `PYTHON bench/smol_torch.py MODEL_DIR --layers LAYERS --make` (torch + transformers, seed 0). PYTHON is
// --python, $BENCH_PYTHON, /tmp/peftjs-bench-venv/bin/python when present, else python3. Without a Python that
// has torch, the PyTorch side is skipped (and without the model too, the whole benchmark is).
//
// Each round runs PyTorch (2 threads, OpenMP's own wait policy as a user gets it and as
// shared/bench/vs-pytorch.sh runs it; `--torch-passive` sets OMP_WAIT_POLICY=PASSIVE, for a busy machine where
// OpenMP's spinning makes torch many times slower — on a quiet one it makes torch's SVDs up to 2.7× slower, so
// never compare a quiet run that used it) and then peftjs (wasm, relaxed SIMD), each in its own process so each
// process's peak RSS is its own, and prints their JSON lines {bench, impl, ms, round} between load averages.
// At the end {bench: "best"} keeps each side's fastest round per benchmark and divides them (ratio =
// peftjs / PyTorch time; for peak_rss_mb, memory). The machine may be shared: compare ratios from one run.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const found = argv.find((argument) => argument.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const layers = Number(option("layers", "8"));
const rounds = Number(option("rounds", "2"));
const modelDirectory =
  argv.find((argument) => !argument.startsWith("--")) ?? `/tmp/peftjs-bench-model-${layers}`;
const python =
  option("python", undefined) ??
  process.env.BENCH_PYTHON ??
  (existsSync("/tmp/peftjs-bench-venv/bin/python") ? "/tmp/peftjs-bench-venv/bin/python" : "python3");
const torchScript = join(here, "smol_torch.py");
const emit = (record) => console.log(JSON.stringify(record));
const load = () => loadavg().map((value) => Number(value.toFixed(2)));

/** OMP_WAIT_POLICY for the PyTorch side: the environment's, PASSIVE with --torch-passive, else OpenMP's default. */
const torchWaitPolicy = argv.includes("--torch-passive") ? "PASSIVE" : process.env.OMP_WAIT_POLICY;
const hasTorch =
  !argv.includes("--no-torch") &&
  spawnSync(python, ["-c", "import torch, transformers, peft, safetensors"], { stdio: "ignore" }).status ===
    0;
if (!existsSync(join(modelDirectory, "model.safetensors"))) {
  const made = hasTorch
    ? spawnSync(python, [torchScript, modelDirectory, "--layers", String(layers), "--make"], {
        stdio: ["ignore", "inherit", "inherit"],
      })
    : { status: 1 };
  if (made.status !== 0) {
    emit({
      bench: "skipped",
      reason: `no ${modelDirectory}/model.safetensors and no Python with torch + transformers to write it (${python} ${torchScript} ${modelDirectory} --layers ${layers} --make)`,
    });
    process.exit(0);
  }
}
emit({
  bench: "machine",
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  node: process.version,
  model: modelDirectory,
  layers,
  torch: hasTorch ? python : null,
  torchWaitPolicy: torchWaitPolicy ?? "OpenMP default",
});

/** Runs one side in its own process and returns its JSON rows (tagged with the round). */
function side(command, args, environment, round) {
  const run = spawnSync(command, args, {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    env: { ...process.env, ...environment },
  });
  const rows = [];
  for (const line of (run.stdout ?? "").split("\n")) {
    if (!line.startsWith("{")) continue;
    const row = { ...JSON.parse(line), round };
    emit(row);
    rows.push(row);
  }
  if (run.status !== 0) {
    emit({
      bench: "side_failed",
      command: args[0],
      round,
      error: (run.stderr ?? "").trim().split("\n").slice(-5),
    });
  }
  return rows;
}

const peftjsArguments = [
  "--experimental-wasm-relaxed-simd",
  join(here, "smol-peftjs.mjs"),
  modelDirectory,
  `--backend=${option("backend", "wasm")}`,
  ...argv.filter(
    (argument) =>
      argument.startsWith("--benches=") ||
      argument.startsWith("--packed-cache-mb=") ||
      argument === "--profile",
  ),
];
const all = [];
for (let round = 1; round <= rounds; round++) {
  emit({ bench: "load_average", when: `round ${round} start`, load: load() });
  if (hasTorch) {
    const torchEnvironment = {
      THREADS: "2",
      ...(torchWaitPolicy === undefined ? {} : { OMP_WAIT_POLICY: torchWaitPolicy }),
    };
    all.push(
      ...side(python, [torchScript, modelDirectory, "--layers", String(layers)], torchEnvironment, round),
    );
  }
  all.push(...side(process.execPath, peftjsArguments, {}, round));
  emit({ bench: "load_average", when: `round ${round} end`, load: load() });
}

const benchNames = [
  "forward_1x256",
  "train_step_lora_qv_r16_4x128",
  "generate_32",
  "init_pissa_all_linear_r16",
  "init_pissa_niter_4_all_linear_r16",
  "peak_rss_mb",
];
const fastest = (predicate, bench) => {
  const values = all.filter((row) => predicate(row.impl) && row.bench === bench).map((row) => row.ms);
  return values.length === 0 ? undefined : Math.min(...values);
};
const table = [];
for (const bench of benchNames) {
  const torch = fastest((impl) => impl === "torch", bench);
  const peftjs = fastest((impl) => impl?.startsWith("peftjs"), bench);
  if (peftjs === undefined) continue;
  const ratio = torch === undefined ? null : Math.round((peftjs / torch) * 100) / 100;
  emit({ bench: "best", of: bench, torch: torch ?? null, peftjs, ratio });
  table.push([bench, torch === undefined ? "-" : torch.toFixed(0), peftjs.toFixed(0), ratio ?? "-"]);
}
console.error(
  `\n${"benchmark".padEnd(36)} ${"torch".padStart(10)} ${"peftjs".padStart(10)} ${"ratio".padStart(7)}`,
);
for (const [bench, torch, peftjs, ratio] of table) {
  console.error(
    `${bench.padEnd(36)} ${torch.padStart(10)} ${peftjs.padStart(10)} ${String(ratio).padStart(7)}`,
  );
}
