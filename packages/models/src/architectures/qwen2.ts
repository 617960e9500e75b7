import type { ConfigJson } from "../config/parse.js";
import { ModelConfigError, UnsupportedModelOptionError } from "../errors.js";
import type { CheckpointWeights } from "../loading/checkpoint-weights.js";
import type { Architecture } from "./architecture.js";
import { LlamaAttention, type LlamaConfig, LlamaForCausalLM, parseLlamaConfig } from "./llama.js";

// Qwen2 (transformers' `modeling_qwen2.py`): Llama's decoder with biases on q_proj, k_proj and v_proj (always;
// o_proj has none and the config has no `attention_bias`). Sliding-window attention (`use_sliding_window`)
// is refused with a typed error (peftjs has no per-layer window rule for Qwen2 yet).

/** A Qwen2 configuration: Llama's fields (`attentionBias` true: the q/k/v biases; o_proj has none). */
export type Qwen2Config = LlamaConfig;

/**
 * Refuses the sliding-window settings of Qwen2/Qwen3 configs unless they mean plain causal attention:
 * `use_sliding_window` must be false (or absent) and every entry of `layer_types` `"full_attention"`.
 * (`sliding_window`/`max_window_layers` only matter when `use_sliding_window` is true, as in transformers.)
 *
 * @throws UnsupportedModelOptionError naming `use_sliding_window` or the offending `layer_types` entry;
 *   ModelConfigError for a malformed `layer_types`.
 */
export function assertFullAttention(json: ConfigJson, modelType: string): void {
  const useSlidingWindow = json.use_sliding_window ?? false;
  if (useSlidingWindow !== false) {
    throw new UnsupportedModelOptionError(modelType, "use_sliding_window", useSlidingWindow, "false");
  }
  const layerTypes = json.layer_types;
  if (layerTypes === undefined || layerTypes === null) return;
  if (!Array.isArray(layerTypes) || layerTypes.length !== json.num_hidden_layers) {
    throw new ModelConfigError(
      `config.json "layer_types" must list one entry per layer (${JSON.stringify(json.num_hidden_layers)}), got ${JSON.stringify(layerTypes)}`,
    );
  }
  for (const [layer, type] of layerTypes.entries()) {
    if (type !== "full_attention") {
      throw new UnsupportedModelOptionError(modelType, `layer_types[${layer}]`, type, '"full_attention"');
    }
  }
}

/**
 * Parses a Qwen2 `config.json` object.
 *
 * @throws the errors of {@link parseLlamaConfig} and {@link assertFullAttention}.
 */
export function parseQwen2Config(json: ConfigJson): Qwen2Config {
  const config = parseLlamaConfig(json, "qwen2");
  assertFullAttention(json, "qwen2");
  return { ...config, attentionBias: true };
}

/** `Qwen2ForCausalLM`: Llama with q/k/v biases and none on o_proj. */
export class Qwen2ForCausalLM extends LlamaForCausalLM<Qwen2Config> {
  protected override createAttention(
    config: Qwen2Config,
    weights: CheckpointWeights,
    path: string,
  ): LlamaAttention {
    return new LlamaAttention(config, weights, path, { queryKeyValue: true, output: false });
  }
}

/** The Qwen2 architecture (Qwen2, Qwen2.5): `model_type: "qwen2"`. */
export const qwen2: Architecture<Qwen2Config> = {
  modelType: "qwen2",
  parseConfig: parseQwen2Config,
  create: (config, weights, options) => new Qwen2ForCausalLM(config, weights, options),
};
