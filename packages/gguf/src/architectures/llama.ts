import { GgufArchitectureError } from "../errors.js";
import {
  decoderHyperParameters,
  decoderTensorNames,
  type GgufArchitecture,
  llamaQueryKeyPermutation,
  requiredLayerTensors,
} from "./architecture.js";
import { llama3RopeFactors } from "./llama3-rope.js";
import type { DecoderConfig } from "./model-config.js";

const layerTensors = { "post_attention_layernorm.weight": "ffn_norm.weight" };
const requiredSuffixes = [
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

function checkActivation(config: DecoderConfig): void {
  const activation = config.json.hidden_act ?? "silu";
  if (activation !== "silu") {
    throw new GgufArchitectureError(
      `${config.modelType} with hidden_act "${String(activation)}": llama.cpp's llama graph uses SiLU`,
    );
  }
}

/**
 * The Llama family as llama.cpp's converter writes it (`LlamaModel`): architecture `llama`, q/k rows permuted
 * for its interleaved RoPE, Llama 3 RoPE scaling as a `rope_freqs.weight` tensor, the output projection left out
 * when it is tied to the embedding.
 */
export function llamaFamily(
  modelType: string,
  warnings: (config: DecoderConfig) => string[],
): GgufArchitecture {
  return {
    modelType,
    ggufArchitecture: "llama",
    describe(config) {
      checkActivation(config);
      if (
        config.json.pretraining_tp !== undefined &&
        config.json.pretraining_tp !== 1 &&
        config.json.pretraining_tp !== null
      ) {
        throw new GgufArchitectureError(
          `pretraining_tp ${String(config.json.pretraining_tp)} is not supported (only 1)`,
        );
      }
      return { metadata: decoderHyperParameters("llama", config, ["llama3"]), warnings: warnings(config) };
    },
    tensorName: decoderTensorNames(layerTensors),
    outputRowPermutation: llamaQueryKeyPermutation,
    adjustValues: (_name, values) => values,
    extraTensors(config) {
      if (config.rope.type !== "llama3") return [];
      const values = llama3RopeFactors(config.rope, config.headDimension);
      return [{ name: "rope_freqs.weight", shape: [values.length], values }];
    },
    requiredTensors: (config) => requiredLayerTensors(config, requiredSuffixes),
  };
}

/** `model_type: "llama"`. */
export const llamaArchitecture: GgufArchitecture = llamaFamily("llama", () => []);
