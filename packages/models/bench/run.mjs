// Benchmarks of @peftjs/models on stories260K: forward tokens/s (batch 4 × 32), greedy generation tokens/s
// (KV cache, from BOS) and LoRA training steps/s (r 8 on q_proj and v_proj, batch 4 × 32, AdamW), on every
// available @peftjs/tensor backend. Prints one JSON line per measurement. Run after `pnpm build`:
// `pnpm bench` (or `node bench/run.mjs`).
import { readFileSync } from "node:fs";
import { deserialize } from "@peftjs/io";
import { Linear, linear, Module } from "@peftjs/nn";
import { add, createGenerator, listBackends, probeBackends, scale, setBackend, zeros } from "@peftjs/tensor";
import { AdamW, createModel, generate, train } from "../dist/index.js";

const fixtures = new URL("../test/fixtures/stories260k/", import.meta.url);
const config = JSON.parse(readFileSync(new URL("config.json", fixtures), "utf8"));
const weights = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)))).tensors;
const reference = JSON.parse(readFileSync(new URL("reference.json", fixtures), "utf8"));

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const bosTokenId = 1;
const batchSize = 4;
const sequenceLength = 32;
const batch = Array.from({ length: batchSize }, (_, row) => [
  bosTokenId,
  ...reference.greedy_token_ids.slice(row * 8, row * 8 + sequenceLength - 1),
]);
const generatedTokens = 128;
const loraRank = 8;
const loraScaling = 2;

/** A minimal LoRA layer (the real one is @peftjs/adapters'): W·x + s·B·(A·x). */
class BenchLora extends Module {
  constructor(base, generator) {
    super();
    this.base = base;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.loraA = generator.kaimingUniform([loraRank, base.inFeatures], base.inFeatures);
    this.loraB = zeros([base.outFeatures, loraRank]);
  }
  forward(input) {
    return add(this.base.forward(input), scale(linear(linear(input, this.loraA), this.loraB), loraScaling));
  }
}

/** Wraps q_proj and v_proj with the minimal LoRA (A kaiming-uniform, B = 0) and returns its trainable set. */
function attachLora(model) {
  const generator = createGenerator(0);
  const layers = new Map();
  for (const [name, module] of model.namedModules()) {
    if (!(module instanceof Linear) || !/\.(q_proj|v_proj)$/.test(name)) continue;
    model.replaceModule(name, (base) => {
      const layer = new BenchLora(base, generator);
      layers.set(name, layer);
      return layer;
    });
  }
  return {
    parameters: () =>
      new Map(
        [...layers].flatMap(([name, layer]) => [
          [`${name}.lora_A`, layer.loraA],
          [`${name}.lora_B`, layer.loraB],
        ]),
      ),
    setParameters: (updated) => {
      for (const [name, layer] of layers) {
        layer.loraA.dispose();
        layer.loraB.dispose();
        layer.loraA = updated.get(`${name}.lora_A`);
        layer.loraB = updated.get(`${name}.lora_B`);
      }
    },
  };
}

/** Runs `fn` until at least `minimumMs` have passed (after one warm-up call); returns seconds per call. */
async function secondsPerCall(fn, minimumMs = 1500) {
  await fn();
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < minimumMs) {
    await fn();
    calls++;
  }
  return (performance.now() - start) / 1000 / calls;
}

await probeBackends();
const available = listBackends().filter((info) => info.availability?.available);
for (const info of available) {
  await setBackend(info.name);
  const model = createModel(config, weights);
  const forwardSeconds = await secondsPerCall(() => model.forward(batch).dispose());
  console.log(
    JSON.stringify({
      bench: "stories260k.forward",
      backend: info.name,
      batch: batchSize,
      sequence: sequenceLength,
      tokensPerSecond: Math.round((batchSize * sequenceLength) / forwardSeconds),
      msPerForward: Number((forwardSeconds * 1000).toFixed(3)),
    }),
  );
  const generateSeconds = await secondsPerCall(() =>
    generate(model, [bosTokenId], { maxNewTokens: generatedTokens, stopTokens: [] }),
  );
  console.log(
    JSON.stringify({
      bench: "stories260k.generate",
      backend: info.name,
      newTokens: generatedTokens,
      kvCache: true,
      tokensPerSecond: Math.round(generatedTokens / generateSeconds),
    }),
  );
  const trainable = attachLora(model);
  const optimizer = new AdamW({ learningRate: 5e-3, eps: 1e-6, weightDecay: 0 });
  const trainSeconds = await secondsPerCall(
    () => train({ model, trainable, optimizer, batches: [{ inputIds: batch }], steps: 1 }),
    3000,
  );
  console.log(
    JSON.stringify({
      bench: "stories260k.train-lora",
      backend: info.name,
      batch: batchSize,
      sequence: sequenceLength,
      rank: loraRank,
      targets: ["q_proj", "v_proj"],
      stepsPerSecond: Number((1 / trainSeconds).toFixed(2)),
      msPerStep: Number((trainSeconds * 1000).toFixed(1)),
    }),
  );
  model.dispose();
}
