import { GgufArchitectureError } from "../errors.js";
import {
  decoderHyperParameters,
  decoderTensorNames,
  type GgufArchitecture,
  requiredLayerTensors,
} from "./architecture.js";
import type { DecoderConfig } from "./model-config.js";

const baseSuffixes = [
  "attn_norm.weight",
  "attn_q.weight",
  "attn_k.weight",
  "attn_v.weight",
  "attn_output.weight",
  "ffn_norm.weight",
  "ffn_gate.weight",
  "ffn_up.weight",
  "ffn_down.weight",
];

function slidingWindowWarnings(config: DecoderConfig): string[] {
  if (config.json.use_sliding_window !== true) return [];
  return [
    `use_sliding_window is true: llama.cpp's ${config.modelType} graph has no sliding window, so positions beyond sliding_window ${String(config.json.sliding_window)} attend further back than in transformers`,
  ];
}

function checkActivation(config: DecoderConfig): void {
  const activation = config.json.hidden_act ?? "silu";
  if (activation !== "silu") {
    throw new GgufArchitectureError(
      `${config.modelType} with hidden_act "${String(activation)}": llama.cpp uses SiLU`,
    );
  }
}

/**
 * `model_type: "qwen2"` as llama.cpp's `Qwen2Model`: architecture `qwen2`, NeoX RoPE (rows keep their order),
 * q/k/v biases.
 */
export const qwen2Architecture: GgufArchitecture = {
  modelType: "qwen2",
  ggufArchitecture: "qwen2",
  describe(config) {
    checkActivation(config);
    if (config.headDimension * config.headCount !== config.hiddenSize) {
      throw new GgufArchitectureError(
        `qwen2 with head_dim ${config.headDimension} × ${config.headCount} heads ≠ hidden_size ${config.hiddenSize}: llama.cpp's qwen2 graph needs them equal`,
      );
    }
    return { metadata: decoderHyperParameters("qwen2", config), warnings: slidingWindowWarnings(config) };
  },
  tensorName: decoderTensorNames({ "post_attention_layernorm.weight": "ffn_norm.weight" }),
  outputRowPermutation: () => undefined,
  adjustValues: (_name, values) => values,
  extraTensors: () => [],
  requiredTensors: (config) => requiredLayerTensors(config, baseSuffixes),
};

/**
 * `model_type: "qwen3"` as llama.cpp's `Qwen3Model`: architecture `qwen3`, NeoX RoPE, per-head RMS norms of
 * q and k (`attn_q_norm` / `attn_k_norm`) before RoPE.
 */
export const qwen3Architecture: GgufArchitecture = {
  modelType: "qwen3",
  ggufArchitecture: "qwen3",
  describe(config) {
    checkActivation(config);
    return { metadata: decoderHyperParameters("qwen3", config), warnings: slidingWindowWarnings(config) };
  },
  tensorName: decoderTensorNames({
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
  }),
  outputRowPermutation: () => undefined,
  adjustValues: (_name, values) => values,
  extraTensors: () => [],
  requiredTensors: (config) =>
    requiredLayerTensors(config, [...baseSuffixes, "attn_q_norm.weight", "attn_k_norm.weight"]),
};
