// Benchmarks of @peftjs/adapters on the stories260K fixture, one JSON line per measurement.
// Run after `pnpm build`: `pnpm bench`. Numbers are wall-clock medians of a few repetitions.
import { fileURLToPath } from "node:url";
import {
  COMBINATION_TYPES,
  combinationTraits,
  combineAdapters,
  convertToLora,
  initializeAdapter,
  matrix,
  parseLoraConfig,
  recompressAdapter,
} from "../dist/index.js";
import { loadPeftAdapter } from "../dist/node.js";
import { readRaw } from "./read-fixture.mjs";

const fixtures = fileURLToPath(new URL("../test/fixtures/", import.meta.url));

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn, repetitions = 5) {
  const samples = [];
  for (let i = 0; i < repetitions; i++) {
    const start = performance.now();
    fn();
    samples.push(performance.now() - start);
  }
  return median(samples);
}

/** An init target over a float32 weight matrix (sizes, and the weight for inits that read it). */
function target(values) {
  const weight = { values, dtype: "F32" };
  return { outFeatures: values.rows, inFeatures: values.columns, readWeight: () => weight };
}

function report(bench, details, ms) {
  console.log(JSON.stringify({ bench, ...details, ms: Number(ms.toFixed(3)) }));
}

const raw = readRaw(`${fixtures}stories260k/model.safetensors`);
const weights = new Map();
for (const [key, tensor] of raw) {
  if (!key.endsWith("_proj.weight")) continue;
  weights.set(
    key.slice(0, -".weight".length),
    target(matrix(tensor.shape[0], tensor.shape[1], tensor.values)),
  );
}

for (const init of [true, "pissa", "pissa_niter_4", "olora"]) {
  const config = parseLoraConfig({
    r: 8,
    lora_alpha: 8,
    init_lora_weights: init,
    target_modules: "all-linear",
  });
  const ms = time(() => initializeAdapter(config, weights, { seed: 0 }));
  report("init", { init, modules: 35, r: 8, model: "stories260K" }, ms);
}

// one larger layer (1024 × 1024, Gaussian), where the exact PiSSA init takes the top-k (block Lanczos) path
{
  const size = 1024;
  const values = new Float32Array(size * size);
  for (let i = 0; i < values.length; i++) values[i] = (Math.sin(i * 12.9898) * 43758.5453) % 1;
  const large = new Map([["model.layers.0.self_attn.q_proj", target(matrix(size, size, values))]]);
  for (const init of ["pissa", "pissa_niter_4", "olora"]) {
    const config = parseLoraConfig({
      r: 16,
      lora_alpha: 16,
      init_lora_weights: init,
      target_modules: ["q_proj"],
    });
    report(
      "init",
      { init, modules: 1, r: 16, shape: [size, size] },
      time(() => initializeAdapter(config, large), 1),
    );
  }
}

const trained = await loadPeftAdapter(`${fixtures}peft/pissa/adapter_trained`);
const initial = await loadPeftAdapter(`${fixtures}peft/pissa/adapter_init`);
report(
  "convert",
  { case: "pissa", modules: 20 },
  time(() => convertToLora(trained, initial)),
);
const converted = convertToLora(trained, initial);
const recompressed = recompressAdapter(converted, 8);
report(
  "recompress",
  {
    case: "pissa",
    from_rank: 16,
    to_rank: 8,
    total_relative_error: Number(recompressed.report.totalRelativeError.toFixed(6)),
  },
  time(() => recompressAdapter(converted, 8)),
);

const a = await loadPeftAdapter(`${fixtures}peft/lora_default/adapter_trained`);
const b = await loadPeftAdapter(`${fixtures}peft/weighted/adapter_b_trained`);
for (const type of COMBINATION_TYPES) {
  const traits = combinationTraits(type);
  const options = {
    type,
    ...(traits.pruning === "none" ? {} : { density: 0.5 }),
    ...(traits.acts === "deltas" ? { svdRank: 8 } : {}),
  };
  const { report: errors } = combineAdapters([a, b], [0.6, 0.4], options);
  report(
    "combine",
    { type, max_relative_error: Number(errors.maxRelativeError.toFixed(6)) },
    time(() => combineAdapters([a, b], [0.6, 0.4], options)),
  );
}
