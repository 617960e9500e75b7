import type { GgufArchitecture } from "./architecture.js";
import type { DecoderConfig } from "./model-config.js";

/** The linear projections of a decoder layer, by their Hugging Face module suffix. */
export const layerLinearModules = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const;

/**
 * Every linear module a LoRA can target in this model (`model.layers.N.<projection>`, and `lm_head` when the
 * model has its own output projection), with the GGUF name of its weight. A tied `lm_head` is left out: llama.cpp
 * has no separate tensor for it.
 */
export function linearModuleNames(
  architecture: GgufArchitecture,
  config: DecoderConfig,
): Map<string, string> {
  const modules = new Map<string, string>();
  for (let layer = 0; layer < config.layerCount; layer++) {
    for (const suffix of layerLinearModules) {
      const module = `model.layers.${layer}.${suffix}`;
      const name = architecture.tensorName(`${module}.weight`);
      if (typeof name === "string") modules.set(module, name);
    }
  }
  if (!config.tieWordEmbeddings) modules.set("lm_head", "output.weight");
  return modules;
}
