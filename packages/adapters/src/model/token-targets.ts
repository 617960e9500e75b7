import type { TrainableTokenRows } from "../adapter.js";
import type { LoraConfig } from "../config/lora-config.js";
import { AdapterShapeError, LoraConfigError } from "../errors.js";
import { tokenIndicesFor } from "../files/peft-format.js";
import { embeddingNames } from "../initialize.js";
import { matrix } from "../math/matrix.js";
import type { PlacementContext } from "./placement.js";

// Which embeddings `trainable_token_indices` trains and where their rows start, as PEFT's
// `set_additional_trainable_modules` decides: a list trains the model's input embedding (the first embedding in
// model order), an object names embedding modules by name or `.`-suffix.

/** The embeddings the config's `trainable_token_indices` trains, with their token ids, in model order. */
export function tokenTargets(config: LoraConfig, context: PlacementContext): Map<string, readonly number[]> {
  const indices = config.trainable_token_indices;
  const targets = new Map<string, readonly number[]>();
  if (indices === null) return targets;
  const embeddings = embeddingNames(context.modules);
  if (Array.isArray(indices)) {
    const input = embeddings[0];
    if (input === undefined) {
      throw new LoraConfigError(
        `trainable_token_indices ${JSON.stringify(indices)} needs an embedding, and the model has none`,
      );
    }
    targets.set(input, indices);
    return targets;
  }
  for (const key of Object.keys(indices)) {
    if (!embeddings.some((name) => name === key || name.endsWith(`.${key}`))) {
      throw new LoraConfigError(
        `trainable_token_indices names "${key}", which is not an embedding of the model (embeddings: ${JSON.stringify(embeddings)})`,
      );
    }
  }
  for (const name of embeddings) {
    const ids = tokenIndicesFor(config, name);
    if (ids !== undefined) targets.set(name, ids);
  }
  return targets;
}

/**
 * The token rows an adapter starts from or loads: the file's rows where it has them, else the embedding's own
 * rows at those ids (PEFT's `init_weights=True`: the model is unchanged until training moves them). Undefined
 * when the config trains no tokens.
 *
 * @throws AdapterShapeError for an id outside the vocabulary or file rows of the wrong shape.
 */
export function initialTokenRows(
  config: LoraConfig,
  context: PlacementContext,
  fileRows?: ReadonlyMap<string, TrainableTokenRows>,
): Map<string, TrainableTokenRows> | undefined {
  const targets = tokenTargets(config, context);
  if (targets.size === 0) return undefined;
  const result = new Map<string, TrainableTokenRows>();
  for (const [name, indices] of targets) {
    const target = context.modules.get(name)!;
    const [vocabulary, width] = [target.inFeatures, target.outFeatures];
    const outside = indices.find((index) => index >= vocabulary);
    if (outside !== undefined) {
      throw new AdapterShapeError(
        `trainable token id ${outside} is outside the vocabulary of "${name}" (${vocabulary} rows)`,
      );
    }
    const stored = fileRows?.get(name);
    if (stored !== undefined) {
      if (stored.rows.rows !== indices.length || stored.rows.columns !== width) {
        throw new AdapterShapeError(
          `trainable_tokens_delta of "${name}" is [${stored.rows.rows}, ${stored.rows.columns}], expected [${indices.length}, ${width}]`,
        );
      }
      result.set(name, { indices, rows: stored.rows });
      continue;
    }
    const weight = target.readWeight().values;
    const rows = new Float32Array(indices.length * width);
    indices.forEach((index, row) => {
      rows.set(weight.data.subarray(index * width, (index + 1) * width), row * width);
    });
    result.set(name, { indices, rows: matrix(indices.length, width, rows) });
  }
  return result;
}
