/**
 * The model the task guide "Fine-tune a Hub model" runs on in the docs tests: a Llama of two layers, width 64,
 * whose vocabulary (2,008) is that of the guides' sp-bpe tokenizer, with seeded random weights (normal, σ 0.02;
 * norms 1), written as a Hugging Face model folder — `config.json`, `model.safetensors`, `tokenizer.json`,
 * `tokenizer_config.json` — for the sample to serve from a local Hub. Nothing is checked in: the weights are
 * 1 MB of noise, rebuilt identically on every run.
 */
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import type { RawTensor } from "@peftjs/io";
import { writeSafetensorsFile } from "@peftjs/io/node";

const config = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  vocab_size: 2008,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  hidden_act: "silu",
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: "float32",
};

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function float32Tensor(shape: number[], value: () => number): RawTensor {
  const values = new Float32Array(shape.reduce((product, size) => product * size, 1));
  for (let index = 0; index < values.length; index++) values[index] = value();
  return { dtype: "F32", shape, data: new Uint8Array(values.buffer) };
}

/** Writes the model folder into `folder`, with the tokenizer files of `tokenizerFolder`. */
export async function writeTinyHubModel(folder: string, tokenizerFolder: string): Promise<void> {
  const next = uniform(20261203);
  // Box–Muller: two uniforms give one standard normal.
  const normal = () => 0.02 * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const one = () => 1;
  const { hidden_size: hidden, intermediate_size: intermediate, vocab_size: vocabulary } = config;
  const headDim = config.head_dim;
  const query = config.num_attention_heads * headDim;
  const keyValue = config.num_key_value_heads * headDim;
  const tensors: Record<string, RawTensor> = {
    "model.embed_tokens.weight": float32Tensor([vocabulary, hidden], normal),
  };
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const prefix = `model.layers.${layer}.`;
    tensors[`${prefix}input_layernorm.weight`] = float32Tensor([hidden], one);
    tensors[`${prefix}self_attn.q_proj.weight`] = float32Tensor([query, hidden], normal);
    tensors[`${prefix}self_attn.k_proj.weight`] = float32Tensor([keyValue, hidden], normal);
    tensors[`${prefix}self_attn.v_proj.weight`] = float32Tensor([keyValue, hidden], normal);
    tensors[`${prefix}self_attn.o_proj.weight`] = float32Tensor([hidden, query], normal);
    tensors[`${prefix}post_attention_layernorm.weight`] = float32Tensor([hidden], one);
    tensors[`${prefix}mlp.gate_proj.weight`] = float32Tensor([intermediate, hidden], normal);
    tensors[`${prefix}mlp.up_proj.weight`] = float32Tensor([intermediate, hidden], normal);
    tensors[`${prefix}mlp.down_proj.weight`] = float32Tensor([hidden, intermediate], normal);
  }
  tensors["model.norm.weight"] = float32Tensor([hidden], one);
  tensors["lm_head.weight"] = float32Tensor([vocabulary, hidden], normal);
  await mkdir(folder, { recursive: true });
  await writeFile(`${folder}/config.json`, `${JSON.stringify(config, null, 2)}\n`);
  await writeSafetensorsFile(`${folder}/model.safetensors`, tensors, { format: "pt" });
  for (const file of ["tokenizer.json", "tokenizer_config.json"])
    await copyFile(`${tokenizerFolder}/${file}`, `${folder}/${file}`);
}
