// Benchmarks of @peftjs/models on stories260K: forward tokens/s (batch 4 × 32) and greedy generation
// tokens/s (KV cache, from BOS), on every available @peftjs/tensor backend. Prints one JSON line per
// measurement. Run after `pnpm build`: `pnpm bench` (or `node bench/run.mjs`).
import { readFileSync } from "node:fs";
import { deserialize } from "@peftjs/io";
import { listBackends, probeBackends, setBackend } from "@peftjs/tensor";
import { BOS_TOKEN_ID, generate, LlamaForCausalLM } from "../dist/index.js";

const fixtures = new URL("../test/fixtures/stories260k/", import.meta.url);
const config = JSON.parse(readFileSync(new URL("config.json", fixtures), "utf8"));
const weights = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)))).tensors;
const reference = JSON.parse(readFileSync(new URL("reference.json", fixtures), "utf8"));

const batchSize = 4;
const sequenceLength = 32;
const batch = Array.from({ length: batchSize }, (_, row) => [
  BOS_TOKEN_ID,
  ...reference.greedy_token_ids.slice(row * 8, row * 8 + sequenceLength - 1),
]);
const generatedTokens = 128;

/** Runs `fn` until at least `minimumMs` have passed (after one warm-up call); returns seconds per call. */
function secondsPerCall(fn, minimumMs = 1500) {
  fn();
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < minimumMs) {
    fn();
    calls++;
  }
  return (performance.now() - start) / 1000 / calls;
}

await probeBackends();
const available = listBackends().filter((info) => info.availability?.available);
for (const info of available) {
  await setBackend(info.name);
  const model = LlamaForCausalLM.fromWeights(config, weights);
  const forwardSeconds = secondsPerCall(() => model.forward(batch).dispose());
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
  const generateSeconds = secondsPerCall(() =>
    generate(model, [BOS_TOKEN_ID], { maxNewTokens: generatedTokens, stopTokens: [] }),
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
  model.dispose();
}
