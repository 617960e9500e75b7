import type { WeightStoreOptions } from "@peftjs/state";
import type { CausalLM } from "../causal-lm.js";
import type { CausalLMConfig } from "../config/parse.js";
import type { CheckpointWeights } from "../loading/checkpoint-weights.js";

/**
 * One model architecture, keyed by the `model_type` of Hugging Face's `config.json`: how to read its config
 * and how to build the model from a checkpoint. Each lives in one file under `src/architectures/` and is
 * listed once in `src/architectures/registry.ts` (see CONTRIBUTING.md, "Adding a model architecture").
 */
export interface Architecture<Config extends CausalLMConfig = CausalLMConfig> {
  /** `config.json`'s `model_type`, e.g. `"llama"`. */
  readonly modelType: string;
  /**
   * Parses `config.json`. Options the implementation does not support must be refused with a typed error
   * naming the field and value (never ignored).
   */
  parseConfig(json: Readonly<Record<string, unknown>>): Config;
  /** Builds the model, taking its parameters from `weights` (which records the model's identity). */
  create(config: Config, weights: CheckpointWeights, options?: WeightStoreOptions): CausalLM<Config>;
}
