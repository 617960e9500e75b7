import { GgufArchitectureError } from "../errors.js";
import {
  decoderHyperParameters,
  decoderTensorNames,
  type GgufArchitecture,
  requiredLayerTensors,
} from "./architecture.js";
import { type DecoderConfig, finiteNumber, positiveInteger } from "./model-config.js";

const slidingLayer = "sliding_attention";
const fullLayer = "full_attention";

/** The layer types of a Gemma 3 config: `layer_types`, or transformers' rule from `sliding_window_pattern`. */
function layerTypes(config: DecoderConfig): string[] {
  const given = config.json.layer_types;
  if (Array.isArray(given)) {
    if (
      given.length !== config.layerCount ||
      given.some((type) => type !== slidingLayer && type !== fullLayer)
    ) {
      throw new GgufArchitectureError(
        `config.json layer_types must list ${config.layerCount} of "${slidingLayer}" / "${fullLayer}", got ${JSON.stringify(given)}`,
      );
    }
    return given as string[];
  }
  const pattern = positiveInteger(
    config.json,
    config.json.sliding_window_pattern !== undefined ? "sliding_window_pattern" : "_sliding_window_pattern",
    6,
  );
  return Array.from({ length: config.layerCount }, (_, layer) =>
    (layer + 1) % pattern === 0 ? fullLayer : slidingLayer,
  );
}

/**
 * llama.cpp's Gemma 3 marks layer l as sliding when `l mod p < p − 1` for one period p
 * (`gemma3.attention.sliding_window_pattern`, default 6; 0 makes every layer sliding). Finds the p that gives
 * exactly these layer types.
 */
function slidingWindowPeriod(types: readonly string[]): number {
  const matches = (period: number) =>
    types.every((type, layer) => (type === slidingLayer) === (period === 0 || layer % period < period - 1));
  for (let period = 0; period <= types.length + 1; period++) if (matches(period)) return period;
  throw new GgufArchitectureError(
    `layer_types ${JSON.stringify(types)} is not periodic (sliding, …, sliding, full); llama.cpp's gemma3 takes one period for all layers`,
  );
}

/**
 * The factor folded into the q norm weights so that llama.cpp's fixed attention scale equals Gemma 3's
 * `query_pre_attn_scalar^−½`. llama.cpp scales scores by 1/√head_dim (1/√(hidden/heads) for the 62-layer 27B),
 * ignoring `query_pre_attn_scalar`; since q is RMS-normed right before RoPE and RoPE is linear, multiplying the
 * q norm weight by c = √(d_llama.cpp / query_pre_attn_scalar) multiplies every score by c and gives the right
 * scale. c = 1 for Google's own checkpoints.
 */
export function gemma3QueryScaleCorrection(config: DecoderConfig): number {
  const scalar = finiteNumber(config.json, "query_pre_attn_scalar", 256);
  if (scalar <= 0) throw new GgufArchitectureError(`query_pre_attn_scalar must be positive, got ${scalar}`);
  const llamaCppDenominator =
    config.layerCount === 62 ? config.hiddenSize / config.headCount : config.headDimension;
  return Math.sqrt(llamaCppDenominator / scalar);
}

const requiredSuffixes = [
  "attn_norm.weight",
  "attn_q.weight",
  "attn_k.weight",
  "attn_v.weight",
  "attn_output.weight",
  "attn_q_norm.weight",
  "attn_k_norm.weight",
  "post_attention_norm.weight",
  "ffn_norm.weight",
  "ffn_gate.weight",
  "ffn_up.weight",
  "ffn_down.weight",
  "post_ffw_norm.weight",
];

const queryNorm = /^model\.layers\.\d+\.self_attn\.q_norm\.weight$/;

/**
 * `model_type: "gemma3_text"` as llama.cpp's `Gemma3Model`: architecture `gemma3`, NeoX RoPE, norm weights
 * stored as 1 + w (Gemma multiplies by 1 + w, llama.cpp by the stored weight), four norms per layer, the
 * sliding-window period and both RoPE bases (full layers `rope.freq_base`, sliding layers
 * `rope.freq_base_swa`). Two things llama.cpp's own converter leaves out are written too: the sliding-window
 * period of `layer_types` (it relies on the default 6) and `query_pre_attn_scalar` (folded into the q norm).
 */
export const gemma3Architecture: GgufArchitecture = {
  modelType: "gemma3_text",
  ggufArchitecture: "gemma3",
  describe(config) {
    const activation = config.json.hidden_activation ?? config.json.hidden_act ?? "gelu_pytorch_tanh";
    if (activation !== "gelu_pytorch_tanh") {
      throw new GgufArchitectureError(
        `gemma3_text with hidden_activation "${String(activation)}": llama.cpp's gemma3 uses the tanh GELU`,
      );
    }
    if (config.json.attn_logit_softcapping !== undefined && config.json.attn_logit_softcapping !== null) {
      throw new GgufArchitectureError(
        `attn_logit_softcapping ${String(config.json.attn_logit_softcapping)}: llama.cpp's gemma3 has no attention soft-capping`,
      );
    }
    if (config.json.use_bidirectional_attention === true) {
      throw new GgufArchitectureError("use_bidirectional_attention is true: llama.cpp's gemma3 is causal");
    }
    const metadata = decoderHyperParameters("gemma3", config);
    const sliding = config.slidingRope;
    const slidingTheta =
      sliding?.theta ??
      (typeof config.json.rope_local_base_freq === "number" ? config.json.rope_local_base_freq : 10000);
    if (sliding !== undefined && sliding.type !== "default") {
      throw new GgufArchitectureError(
        `sliding-attention RoPE type "${sliding.type}": llama.cpp's gemma3 runs sliding layers with plain RoPE`,
      );
    }
    const softcap = config.json.final_logit_softcapping;
    if (softcap !== undefined && softcap !== null) {
      metadata.float32(
        "gemma3.final_logit_softcapping",
        finiteNumber(config.json, "final_logit_softcapping"),
      );
    }
    const types = layerTypes(config);
    if (types.includes(slidingLayer)) {
      metadata
        .uint32("gemma3.attention.sliding_window", positiveInteger(config.json, "sliding_window"))
        .uint32("gemma3.attention.sliding_window_pattern", slidingWindowPeriod(types))
        .float32("gemma3.rope.freq_base_swa", slidingTheta);
    }
    return { metadata, warnings: [] };
  },
  tensorName: decoderTensorNames({
    "post_attention_layernorm.weight": "post_attention_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
  }),
  outputRowPermutation: () => undefined,
  adjustValues(name, values, config) {
    if (!name.endsWith("norm.weight")) return values;
    const factor = queryNorm.test(name) ? gemma3QueryScaleCorrection(config) : 1;
    return values.map((value) => (1 + value) * factor);
  },
  extraTensors: () => [],
  requiredTensors: (config) => requiredLayerTensors(config, requiredSuffixes),
};
