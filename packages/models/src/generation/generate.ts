import { createGenerator } from "@peftjs/tensor";
import type { CausalLM } from "../causal-lm.js";
import { ModelInputError } from "../errors.js";
import { readValues } from "../read-values.js";
import { type SamplingOptions, sampleToken, validateSamplingOptions } from "./sampling.js";

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** How many tokens to generate at most. */
  maxNewTokens: number;
  /** Seed of the Philox generator that drives sampling (ignored when greedy). Default 0. */
  seed?: number;
  /**
   * Generation stops after emitting one of these ids (it is included in the result). Default: the config's
   * `eos_token_id`s; pass `[]` to always generate `maxNewTokens` tokens.
   */
  stopTokens?: readonly number[];
  /** Called with each new token and its index; returning `false` stops generation after it. */
  onToken?: (token: number, index: number) => unknown;
}

/**
 * Generates a continuation of `promptIds` (one sequence, at least one token, e.g. `[BOS]`) with a key/value
 * cache: the prompt is run once, then one token per step. Greedy by default; with `temperature > 0`, tokens
 * are sampled using a `createGenerator(seed)` stream, so a seed gives the same tokens on every backend.
 *
 * @returns the new tokens (the prompt is not repeated).
 * @throws ModelInputError for an empty prompt, bad sampling options, or when prompt plus new tokens exceed
 *   `max_position_embeddings`.
 */
export async function generate(
  model: CausalLM,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<number[]> {
  const { maxNewTokens } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) {
    throw new ModelInputError(`maxNewTokens must be an integer ≥ 0, got ${maxNewTokens}`);
  }
  if (promptIds.length === 0)
    throw new ModelInputError("generation needs a prompt of at least one token (e.g. BOS)");
  const limit = model.config.maxPositionEmbeddings;
  if (promptIds.length + maxNewTokens - 1 > limit) {
    throw new ModelInputError(
      `prompt of ${promptIds.length} tokens plus ${maxNewTokens} new tokens exceeds max_position_embeddings ${limit}`,
    );
  }
  validateSamplingOptions(options);
  const stopTokens = new Set(options.stopTokens ?? model.config.eosTokenIds);
  const sampling = (options.temperature ?? 0) > 0;
  const generator = sampling ? createGenerator(options.seed ?? 0) : undefined;
  const cache = model.createCache(1);
  const generated: number[] = [];
  try {
    let input: readonly number[] = promptIds;
    while (generated.length < maxNewTokens) {
      // The head runs on the last position only: the next token needs no other logits.
      const logits = model.forward([input], { cache, lastPositionOnly: true });
      const lastLogits = await readValues(logits);
      logits.dispose();
      const uniform = generator === undefined ? 0 : generator.uniformValues(1, 0, 1)[0]!;
      const token = sampleToken(lastLogits, options, uniform);
      generated.push(token);
      const keepGoing = options.onToken?.(token, generated.length - 1);
      if (keepGoing === false || stopTokens.has(token)) break;
      input = [token];
    }
  } finally {
    cache.dispose();
  }
  return generated;
}
