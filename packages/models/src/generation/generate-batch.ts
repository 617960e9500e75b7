import { createGenerator } from "@peftjs/tensor";
import type { CausalLM } from "../causal-lm.js";
import { ModelInputError } from "../errors.js";
import { readValues } from "../read-values.js";
import type { GenerateOptions } from "./generate.js";
import { sampleToken, validateSamplingOptions } from "./sampling.js";

/** Options of {@link generateBatch}: those of `generate`, with a row index in `onToken`. */
export interface GenerateBatchOptions extends Omit<GenerateOptions, "onToken"> {
  /** Called with each new token of row `row` and its index in that row; returning `false` stops that row. */
  onToken?: (token: number, index: number, row: number) => unknown;
}

/**
 * Generates a continuation of every row of `prompts` in one batch: the prompts (equal lengths, at least one
 * token each) run once as a batch, then one token per row per step with a shared key/value cache, so every
 * row stays the same batch row from start to end (what a mixed-adapter batch needs: the adapters'
 * `withAdapterNames` keeps row `i` on its adapter across the cache steps). A row stops at a stop token or
 * when `onToken` returns `false`; stopped rows are still fed (their last token) until every row has stopped,
 * and nothing after their stop is returned. Greedy decoding gives each row what {@link generate} gives it
 * alone; with `temperature > 0` the rows draw, in row order, from one `createGenerator(seed)` stream.
 *
 * @returns the new tokens of each row (prompts not repeated).
 * @throws ModelInputError for no prompts, ragged or empty prompts, bad sampling options, or when a prompt
 *   plus the new tokens exceed `max_position_embeddings`.
 */
export async function generateBatch(
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  options: GenerateBatchOptions,
): Promise<number[][]> {
  const { maxNewTokens } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) {
    throw new ModelInputError(`maxNewTokens must be an integer ≥ 0, got ${maxNewTokens}`);
  }
  if (prompts.length === 0) throw new ModelInputError("generateBatch needs at least one prompt");
  const length = prompts[0]!.length;
  for (const [row, prompt] of prompts.entries()) {
    if (prompt.length === 0) {
      throw new ModelInputError(`prompt ${row} is empty; generation needs at least one token (e.g. BOS)`);
    }
    if (prompt.length !== length) {
      throw new ModelInputError(
        `prompts must have equal lengths (no padding): prompt 0 has ${length} tokens, prompt ${row} has ${prompt.length}`,
      );
    }
  }
  const limit = model.config.maxPositionEmbeddings;
  if (length + maxNewTokens - 1 > limit) {
    throw new ModelInputError(
      `prompts of ${length} tokens plus ${maxNewTokens} new tokens exceed max_position_embeddings ${limit}`,
    );
  }
  validateSamplingOptions(options);
  const stopTokens = new Set(options.stopTokens ?? model.config.eosTokenIds);
  const sampling = (options.temperature ?? 0) > 0;
  const generator = sampling ? createGenerator(options.seed ?? 0) : undefined;
  const batch = prompts.length;
  const vocab = model.config.vocabSize;
  const cache = model.createCache(batch);
  const generated: number[][] = prompts.map(() => []);
  const running = prompts.map(() => maxNewTokens > 0);
  try {
    let input: readonly (readonly number[])[] = prompts;
    for (let step = 0; step < maxNewTokens && running.includes(true); step++) {
      // [batch, 1, vocab]: the head runs on each row's last position only.
      const logits = model.forward(input, { cache, lastPositionOnly: true });
      const values = await readValues(logits);
      logits.dispose();
      const next: number[][] = [];
      for (let row = 0; row < batch; row++) {
        const tokens = generated[row]!;
        if (!running[row]) {
          next.push([tokens.at(-1) ?? prompts[row]!.at(-1)!]);
          continue;
        }
        const uniform = generator === undefined ? 0 : generator.uniformValues(1, 0, 1)[0]!;
        const token = sampleToken(values.subarray(row * vocab, (row + 1) * vocab), options, uniform);
        tokens.push(token);
        const keepGoing = options.onToken?.(token, tokens.length - 1, row);
        if (keepGoing === false || stopTokens.has(token) || tokens.length >= maxNewTokens)
          running[row] = false;
        next.push([token]);
      }
      input = next;
    }
  } finally {
    cache.dispose();
  }
  return generated;
}
