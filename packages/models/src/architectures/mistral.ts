import { ModelConfigError } from "../errors.js";
import type { Architecture } from "./architecture.js";
import { type LlamaConfig, LlamaForCausalLM, parseLlamaConfig } from "./llama.js";

// Mistral (transformers' `modeling_mistral.py`) is Llama with sliding-window attention on every layer:
// query i sees keys i − W < j ≤ i (W = `sliding_window`; null means full causal attention).

/** A Mistral configuration: Llama's fields and the attention window. */
export interface MistralConfig extends LlamaConfig {
  /** `sliding_window`: how many most recent keys (itself included) a query sees, or null for all of them. */
  readonly slidingWindow: number | null;
}

function parseMistralConfig(json: Readonly<Record<string, unknown>>): MistralConfig {
  const window = json.sliding_window ?? null;
  if (window !== null && !(typeof window === "number" && Number.isInteger(window) && window > 0)) {
    throw new ModelConfigError(
      `config.json "sliding_window" must be a positive integer or null, got ${JSON.stringify(window)}`,
    );
  }
  return { ...parseLlamaConfig(json, "mistral"), slidingWindow: window };
}

/** `MistralForCausalLM`: a Llama whose every layer attends within the sliding window. */
export class MistralForCausalLM extends LlamaForCausalLM<MistralConfig> {
  protected override slidingWindow(): number | undefined {
    return this.config.slidingWindow ?? undefined;
  }
}

/** The Mistral architecture: `model_type: "mistral"`. */
export const mistral: Architecture<MistralConfig> = {
  modelType: "mistral",
  parseConfig: parseMistralConfig,
  create: (config, weights, options) => new MistralForCausalLM(config, weights, options),
};
