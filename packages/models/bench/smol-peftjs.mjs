// The peftjs half of bench/smol.mjs (run it through that script, which adds the relaxed-SIMD flag and PyTorch).
// Usage: node --experimental-wasm-relaxed-simd bench/smol-peftjs.mjs MODEL_DIR [--backend=wasm]
//   [--benches=forward_1x256,generate_32,...] [--profile] [--packed-cache-mb=N]
// Prints JSON lines {bench, impl, ms, ...} with the bench names of ../shared/bench/smol_torch.py, and with
// --profile {bench: "profile", step, op, ms, calls, share} per public tensor op kind.
import { performance } from "node:perf_hooks";
import { resourceUsage } from "node:process";
import {
  addOperationObserver,
  createWasmBackendDefinition,
  getBackend,
  memory,
  registerBackend,
  setBackend,
  tidy,
  unregisterBackend,
} from "@peftjs/tensor";
import { AdamW, generate, train } from "../dist/index.js";
import { loadModel } from "../dist/node.js";

// @peftjs/adapters sits beside @peftjs/models (it depends on models for its tests), so the benchmark reaches it
// through the workspace instead of a dependency.
const adapters = await import("../../adapters/dist/index.js");

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const found = argv.find((argument) => argument.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const directory = argv.find((argument) => !argument.startsWith("--"));
const allBenches = [
  "forward_1x256",
  "generate_32",
  "init_pissa_niter_4_all_linear_r16",
  "init_pissa_all_linear_r16",
  "train_step_lora_qv_r16_4x128",
];
const benches = new Set(option("benches", allBenches.join(",")).split(","));
const profile = argv.includes("--profile");

const packedCacheMegabytes = option("packed-cache-mb", undefined);
if (packedCacheMegabytes !== undefined) {
  // The wasm backend with another bound on its packed-weight cache (0 turns it off), to weigh speed against RSS.
  unregisterBackend("wasm");
  registerBackend(
    createWasmBackendDefinition({ packedWeightCacheBytes: Number(packedCacheMegabytes) * 2 ** 20 }),
  );
}
await setBackend(option("backend", "wasm"));
const impl = `peftjs-${getBackend()}${packedCacheMegabytes === undefined ? "" : `-cache${packedCacheMegabytes}mb`}`;
const emit = (bench, ms, extra = {}) =>
  console.log(JSON.stringify({ bench, impl, ms: Math.round(ms * 100) / 100, ...extra }));

/** The fastest of `repetitions` calls after one warm-up call (as smol_torch.py's `best`). */
async function best(fn, repetitions = 3) {
  await fn();
  let fastest = Number.POSITIVE_INFINITY;
  for (let repetition = 0; repetition < repetitions; repetition++) {
    const start = performance.now();
    await fn();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest;
}

/**
 * Time per public op kind during `fn`: the time between one op's completion and the next is charged to the
 * next op (the engine reports an op when it returns; ops run synchronously), so the glue between ops counts
 * toward the op that follows it. Time after the last op is "(after last op)".
 */
async function profileOps(step, fn) {
  const byOp = new Map();
  let last = performance.now();
  const remove = addOperationObserver((record) => {
    const now = performance.now();
    const entry = byOp.get(record.name) ?? { ms: 0, calls: 0 };
    entry.ms += now - last;
    entry.calls++;
    byOp.set(record.name, entry);
    last = performance.now();
  });
  const start = performance.now();
  try {
    await fn();
  } finally {
    remove();
  }
  const total = performance.now() - start;
  const tail = performance.now() - last;
  byOp.set("(after last op)", { ms: tail, calls: 0 });
  for (const [op, { ms, calls }] of [...byOp].sort((a, b) => b[1].ms - a[1].ms)) {
    if (ms < total * 0.002) continue;
    console.log(
      JSON.stringify({
        bench: "profile",
        impl,
        step,
        op,
        ms: Math.round(ms * 10) / 10,
        calls,
        share: Math.round((ms / total) * 1000) / 1000,
      }),
    );
  }
  emit(`profile_${step}_total`, total);
}

// The token ids of smol_peftjs.mjs (a linear congruential stream over the vocabulary).
let seed = 12345;
const nextToken = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % 49152;
};
const tokens = (count) => Array.from({ length: count }, nextToken);

let start = performance.now();
const model = await loadModel(directory);
emit("load", performance.now() - start, { weightMegabytes: Math.round(memory().bytes / 2 ** 20) });

const ids256 = [tokens(256)];
const prompt = ids256[0].slice(0, 16);
const greedy32 = () => generate(model, prompt, { maxNewTokens: 32, stopTokens: [] });
if (benches.has("forward_1x256")) {
  const forward = () => tidy(() => void model.forward(ids256).dataSync());
  emit("forward_1x256", await best(forward), { tokens: 256 });
}
if (benches.has("generate_32")) {
  emit("generate_32", await best(greedy32, 2), { tokens: 32 });
  if (profile) await profileOps("generate_32", greedy32);
}

for (const init of ["pissa_niter_4", "pissa"]) {
  const bench = `init_${init}_all_linear_r16`;
  if (!benches.has(bench)) continue;
  const lora = adapters.LoraModel.create(model);
  const config = adapters.createLoraConfig({
    r: 16,
    lora_alpha: 16,
    target_modules: "all-linear",
    init_lora_weights: init,
  });
  start = performance.now();
  lora.addAdapter("p", config);
  emit(bench, performance.now() - start);
  lora.unload();
}

if (benches.has("train_step_lora_qv_r16_4x128")) {
  const lora = adapters.LoraModel.create(model);
  lora.addAdapter(
    "default",
    adapters.createLoraConfig({ r: 16, lora_alpha: 32, target_modules: ["q_proj", "v_proj"] }),
  );
  const optimizer = new AdamW({ learningRate: 1e-4 });
  const batch = { inputIds: [tokens(128), tokens(128), tokens(128), tokens(128)] };
  const step = () => train({ model, trainable: lora.trainable, optimizer, batches: [batch], steps: 1 });
  emit("train_step_lora_qv_r16_4x128", await best(step, 3), { tokens: 512 });
  if (profile) await profileOps("train_step_lora_qv_r16_4x128", step);
  lora.unload();
}
emit("peak_rss_mb", resourceUsage().maxRSS / 1024, {
  liveTensorMegabytes: Math.round(memory().bytes / 2 ** 20),
});
