import { readFile } from "node:fs/promises";
import { createLoraConfig, LoraModel } from "@peftjs/adapters";
import { readCheckpoint, readJsonFile } from "@peftjs/io/node";
import { AdamW, createModel, train } from "@peftjs/models";
import { loadLlama2cTokenizer } from "@peftjs/models/node";
import { setBackend } from "@peftjs/tensor";

await setBackend("wasm");
const dir = "../apps/peftjs/assets/stories260k";
const config = await readJsonFile(`${dir}/config.json`);
const { tensors } = await readCheckpoint(dir);
const tokenizer = await loadLlama2cTokenizer(`${dir}/tok512.bin`);
const text = await readFile("../apps/peftjs/assets/corpus/pip-the-robot.txt", "utf8");
const tokens = text
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l.length > 0)
  .flatMap((l) => tokenizer.encode(l));
const gcd = (a, b) => (b === 0 ? a : gcd(b, a % b));
function windowBatches(tokens, batchSize, sequenceLength) {
  const starts = tokens.length - sequenceLength;
  let stride = 61;
  while (gcd(stride, starts) !== 1) stride++;
  return (step) => ({
    inputIds: Array.from({ length: batchSize }, (_, row) => {
      const start = ((step * batchSize + row) * stride) % starts;
      return tokens.slice(start, start + sequenceLength);
    }),
  });
}
const batches = windowBatches(tokens, 4, 32);
const steps = Number(process.argv[2] ?? 60);
const shiftData = process.argv[3] === "shift";
const projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const half = (l) => mean(l.slice(Math.floor(l.length / 2)));
for (let seed = 0; seed < 6; seed++) {
  const out = {};
  for (const method of ["lora", "pissa"]) {
    const t = performance.now();
    const model = createModel(config, tensors);
    const lora = LoraModel.create(model);
    lora.addAdapter(
      method,
      createLoraConfig({
        r: 8,
        lora_alpha: 8,
        target_modules: projections,
        init_lora_weights: method === "pissa" ? "pissa" : true,
      }),
      { seed },
    );
    const data = shiftData ? (step) => batches(step + seed * 997) : batches;
    const { losses } = await train({
      model,
      trainable: lora.trainable,
      optimizer: new AdamW({ learningRate: 5e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0 }),
      batches: data,
      steps,
    });
    out[method] = { half: half(losses), last: losses.at(-1), ms: Math.round(performance.now() - t) };
  }
  console.log(JSON.stringify({ seed, ...out, gap: (out.lora.half - out.pissa.half) / out.lora.half }));
}
