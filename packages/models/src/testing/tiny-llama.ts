import { fromFloat32, type RawTensor } from "@peftjs/io";
import { createGenerator } from "@peftjs/tensor";

/** A tiny Llama config (2 layers, hidden 16, 4 heads / 2 KV heads, vocab 32) for tests that build their own weights. */
export const tinyLlamaConfig: Record<string, unknown> = {
  model_type: "llama",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 32,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-5,
  tie_word_embeddings: false,
};

/** Every tensor a Llama config reads (biases always included), N(0, 0.2) (norms 1 + N(0, 0.1)), seeded. */
export function randomCheckpoint(config: Record<string, unknown>, seed: number): Map<string, RawTensor> {
  const generator = createGenerator(seed);
  const hidden = config.hidden_size as number;
  const heads = config.num_attention_heads as number;
  const kvHeads = config.num_key_value_heads as number;
  const headDim = hidden / heads;
  const intermediate = config.intermediate_size as number;
  const vocab = config.vocab_size as number;
  const weights = new Map<string, RawTensor>();
  const add = (key: string, shape: number[], mean = 0, std = 0.2) => {
    const count = shape.reduce((product, extent) => product * extent, 1);
    weights.set(key, {
      dtype: "F32",
      shape,
      data: fromFloat32(generator.normalValues(count, mean, std), "F32"),
    });
  };
  add("model.embed_tokens.weight", [vocab, hidden]);
  for (let layer = 0; layer < (config.num_hidden_layers as number); layer++) {
    const prefix = `model.layers.${layer}`;
    const projections: [string, number, number][] = [
      ["self_attn.q_proj", heads * headDim, hidden],
      ["self_attn.k_proj", kvHeads * headDim, hidden],
      ["self_attn.v_proj", kvHeads * headDim, hidden],
      ["self_attn.o_proj", hidden, heads * headDim],
      ["mlp.gate_proj", intermediate, hidden],
      ["mlp.up_proj", intermediate, hidden],
      ["mlp.down_proj", hidden, intermediate],
    ];
    for (const [name, out, inFeatures] of projections) {
      add(`${prefix}.${name}.weight`, [out, inFeatures]);
      add(`${prefix}.${name}.bias`, [out]);
    }
    add(`${prefix}.input_layernorm.weight`, [hidden], 1, 0.1);
    add(`${prefix}.post_attention_layernorm.weight`, [hidden], 1, 0.1);
  }
  add("model.norm.weight", [hidden], 1, 0.1);
  add("lm_head.weight", [vocab, hidden]);
  return weights;
}
