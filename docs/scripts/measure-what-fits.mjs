/**
 * Measures what the "What fits" page reports: LoRA training step time and memory per model size on the wasm
 * backend, in Node. Sizes are stories260K (the real weights) and Llama configurations of the shapes of
 * llama2.c's stories15M, stories42M and stories110M with random weights (the time and memory of a step do not
 * depend on the values). Each: LoRA r 8 on q_proj and v_proj, AdamW, one batch of 4 × 32 tokens; two warm-up
 * steps, then the median of five. Prints one JSON line per size. Run after `pnpm build`, from `docs/`:
 * `node scripts/measure-what-fits.mjs [names…]`. Note the load average: the machine may be shared.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createLoraConfig, LoraModel } from "@peftjs/adapters";
import { deserialize } from "@peftjs/io";
import { AdamW, createModel, train } from "@peftjs/models";
import { backendStatus, createGenerator, setBackend } from "@peftjs/tensor";

const storiesFolder = new URL("../../apps/peftjs/assets/stories260k/", import.meta.url);

/** llama2.c's TinyStories models: dim, hidden (SwiGLU), layers, heads, vocabulary. */
const shapes = {
  stories15M: { hidden_size: 288, intermediate_size: 768, num_hidden_layers: 6, num_attention_heads: 6 },
  stories42M: { hidden_size: 512, intermediate_size: 1376, num_hidden_layers: 8, num_attention_heads: 8 },
  stories110M: { hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 12 },
};

function syntheticModel(shape) {
  const config = {
    model_type: "llama",
    vocab_size: 32000,
    max_position_embeddings: 1024,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    num_key_value_heads: shape.num_attention_heads,
    ...shape,
  };
  const generator = createGenerator(0);
  const tensors = new Map();
  const add = (name, shapeOf, value) => {
    const size = shapeOf.reduce((product, side) => product * side, 1);
    const values = new Float32Array(size);
    if (value === undefined) {
      const random = generator.uniform([size], -0.02, 0.02).toFloat32Array();
      values.set(random);
    } else values.fill(value);
    tensors.set(name, { dtype: "F32", shape: shapeOf, data: new Uint8Array(values.buffer) });
  };
  const { hidden_size: h, intermediate_size: m, vocab_size: v } = config;
  add("model.embed_tokens.weight", [v, h]);
  add("model.norm.weight", [h], 1);
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const prefix = `model.layers.${layer}.`;
    for (const name of ["q_proj", "k_proj", "v_proj", "o_proj"])
      add(`${prefix}self_attn.${name}.weight`, [h, h]);
    add(`${prefix}mlp.gate_proj.weight`, [m, h]);
    add(`${prefix}mlp.up_proj.weight`, [m, h]);
    add(`${prefix}mlp.down_proj.weight`, [h, m]);
    add(`${prefix}input_layernorm.weight`, [h], 1);
    add(`${prefix}post_attention_layernorm.weight`, [h], 1);
  }
  return { config, tensors };
}

function storiesModel() {
  const config = JSON.parse(readFileSync(new URL("config.json", storiesFolder), "utf8"));
  const { tensors } = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", storiesFolder))));
  return { config, tensors };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const megabytes = (bytes) => Math.round(bytes / 2 ** 20);

await setBackend("wasm");
const names = process.argv.length > 2 ? process.argv.slice(2) : ["stories260K", ...Object.keys(shapes)];
for (const name of names) {
  const before = process.memoryUsage().rss;
  const { config, tensors } = name === "stories260K" ? storiesModel() : syntheticModel(shapes[name]);
  const parameters = [...tensors.values()].reduce((sum, t) => sum + t.data.byteLength / 4, 0);
  const model = createModel(config, tensors);
  const lora = LoraModel.create(model);
  lora.addAdapter(
    "default",
    createLoraConfig({ r: 8, lora_alpha: 16, target_modules: ["q_proj", "v_proj"] }),
  );
  const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 0 });
  const generator = createGenerator(1);
  const ids = generator.uniform([4 * 32], 0, config.vocab_size - 1).toFloat32Array();
  const batch = {
    inputIds: Array.from({ length: 4 }, (_, row) =>
      Array.from(ids.slice(row * 32, row * 32 + 32), Math.floor),
    ),
  };
  const times = [];
  let peak = 0;
  for (let step = 0; step < 7; step++) {
    const started = performance.now();
    await train({ model, trainable: lora.trainable, optimizer, batches: [batch], steps: 1 });
    if (step >= 2) times.push(performance.now() - started);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  console.log(
    JSON.stringify({
      model: name,
      parameters: Math.round(parameters),
      backend: backendStatus().reason,
      batch: "4x32",
      lora: "r8 q_proj,v_proj",
      msPerStep: Math.round(median(times)),
      rssMiB: megabytes(peak),
      rssGrowthMiB: megabytes(peak - before),
      loadAverage: loadavg()[0].toFixed(2),
      date: new Date().toISOString(),
    }),
  );
  model.dispose();
}
