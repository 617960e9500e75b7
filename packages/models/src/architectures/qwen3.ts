import type { RMSNorm } from "@peftjs/nn";
import type { Tensor } from "@peftjs/tensor";
import type { ConfigJson } from "../config/parse.js";
import type { CheckpointWeights } from "../loading/checkpoint-weights.js";
import type { Architecture } from "./architecture.js";
import { LlamaAttention, type LlamaConfig, LlamaForCausalLM, parseLlamaConfig } from "./llama.js";
import { assertFullAttention } from "./qwen2.js";

// Qwen3 (transformers' `modeling_qwen3.py`): Llama's decoder plus an RMSNorm over each query and key head
// (q_norm, k_norm: weight [head_dim], eps rms_norm_eps) applied after the head split and before RoPE;
// `head_dim` is independent of hidden_size/heads (Qwen3Config's default is 128); `attention_bias` on all four
// projections as in Llama. Sliding-window attention is refused as for Qwen2.

/** A Qwen3 configuration: Llama's fields. */
export type Qwen3Config = LlamaConfig;

/**
 * Parses a Qwen3 `config.json` object (`head_dim` defaults to 128, as `Qwen3Config`).
 *
 * @throws the errors of `parseLlamaConfig` and `assertFullAttention`.
 */
export function parseQwen3Config(json: ConfigJson): Qwen3Config {
  const config = parseLlamaConfig({ ...json, head_dim: json.head_dim ?? 128 }, "qwen3");
  assertFullAttention(json, "qwen3");
  return { ...config, raw: json };
}

/** Qwen3's `self_attn`: Llama's attention with `q_norm`/`k_norm` on each head before RoPE. */
export class Qwen3Attention extends LlamaAttention {
  q_norm: RMSNorm;
  k_norm: RMSNorm;

  constructor(config: Qwen3Config, weights: CheckpointWeights, path: string) {
    super(config, weights, path);
    const norm = { eps: config.rmsNormEps };
    this.q_norm = weights.rmsNorm(`${path}.q_norm`, config.headDim, norm);
    this.k_norm = weights.rmsNorm(`${path}.k_norm`, config.headDim, norm);
  }

  protected override normalizeQueries(queries: Tensor): Tensor {
    return this.q_norm.forward(queries);
  }

  protected override normalizeKeys(keys: Tensor): Tensor {
    return this.k_norm.forward(keys);
  }
}

/** `Qwen3ForCausalLM`: Llama with per-head query/key RMSNorms. */
export class Qwen3ForCausalLM extends LlamaForCausalLM<Qwen3Config> {
  protected override createAttention(
    config: Qwen3Config,
    weights: CheckpointWeights,
    path: string,
  ): LlamaAttention {
    return new Qwen3Attention(config, weights, path);
  }
}

/** The Qwen3 architecture (dense Qwen3): `model_type: "qwen3"`. */
export const qwen3: Architecture<Qwen3Config> = {
  modelType: "qwen3",
  parseConfig: parseQwen3Config,
  create: (config, weights, options) => new Qwen3ForCausalLM(config, weights, options),
};
