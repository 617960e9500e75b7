import type { WeightStoreOptions } from "@peftjs/state";
import type { CausalLM } from "../causal-lm.js";
import { type CausalLMConfig, isJsonObject } from "../config/parse.js";
import { ModelConfigError, UnsupportedModelTypeError } from "../errors.js";
import { CheckpointWeights, type ModelWeights } from "../loading/checkpoint-weights.js";
import type { Architecture } from "./architecture.js";
import { gemma3Text } from "./gemma3.js";
import { llama } from "./llama.js";
import { mistral } from "./mistral.js";
import { qwen2 } from "./qwen2.js";
import { qwen3 } from "./qwen3.js";

/** The architectures by `model_type`. A new architecture is one file in this folder and one entry here. */
const architectures = new Map<string, Architecture>(
  [llama, mistral, qwen2, qwen3, gemma3Text].map((entry) => [entry.modelType, entry]),
);

/**
 * Adds an architecture defined outside this package.
 *
 * @throws ModelConfigError when its `model_type` is taken.
 */
export function registerArchitecture(architecture: Architecture): void {
  if (architectures.has(architecture.modelType)) {
    throw new ModelConfigError(
      `an architecture for model_type "${architecture.modelType}" is already registered`,
    );
  }
  architectures.set(architecture.modelType, architecture);
}

/** The supported `model_type` values. */
export function listArchitectures(): string[] {
  return [...architectures.keys()];
}

/** The architecture of a `model_type`. @throws UnsupportedModelTypeError listing the supported ones. */
export function architectureFor(modelType: string): Architecture {
  const architecture = architectures.get(modelType);
  if (architecture === undefined) throw new UnsupportedModelTypeError(modelType, listArchitectures());
  return architecture;
}

/**
 * Parses a `config.json` object with the parser of its `model_type`.
 *
 * @throws ModelConfigError when the object or its `model_type` is missing or malformed;
 *   UnsupportedModelTypeError for an unknown `model_type`; the architecture's errors for unsupported options.
 */
export function parseModelConfig(json: unknown): CausalLMConfig {
  if (!isJsonObject(json)) {
    throw new ModelConfigError(`config.json must hold an object, got ${JSON.stringify(json)}`);
  }
  if (typeof json.model_type !== "string") {
    throw new ModelConfigError(
      `config.json "model_type" must name the architecture (one of ${listArchitectures()
        .map((name) => JSON.stringify(name))
        .join(", ")}), got ${JSON.stringify(json.model_type)}`,
    );
  }
  return architectureFor(json.model_type).parseConfig(json);
}

/** Options of {@link createModel}. */
export interface CreateModelOptions {
  /** Options of the model's weight store (`model.weights`): mutation policy, warning sink. */
  weightStore?: WeightStoreOptions;
  /**
   * Hand the checkpoint tensors' bytes to the model's weight store (`model.weights`) instead of copying them,
   * so the model does not hold its weights twice (default `false`). Set it only for buffers nothing else will
   * write, such as tensors just read from a file: the store's snapshots and fingerprints are of these bytes.
   * `loadModel` and `loadModelFromUrl` set it for the bytes they read.
   */
  takeOverBytes?: boolean;
}

function isParsedConfig(value: unknown): value is CausalLMConfig {
  return isJsonObject(value) && typeof value.modelType === "string" && isJsonObject(value.raw);
}

/**
 * Builds a model from its configuration (the `config.json` object, or a config parsed by
 * {@link parseModelConfig}) and its checkpoint tensors keyed as in Hugging Face checkpoints. Weights of any
 * float dtype are computed in float32; `model.weights` keeps them as stored. Keys the architecture does not
 * read are ignored.
 *
 * @throws the config errors of {@link parseModelConfig}; ModelWeightsError naming a missing key or a shape that
 *   does not fit the config.
 */
export function createModel(
  config: unknown,
  weights: ModelWeights,
  options: CreateModelOptions = {},
): CausalLM {
  const parsed = isParsedConfig(config) ? config : parseModelConfig(config);
  const checkpoint = new CheckpointWeights(weights, { ownsBytes: options.takeOverBytes === true });
  try {
    return architectureFor(parsed.modelType).create(parsed, checkpoint, options.weightStore);
  } catch (error) {
    checkpoint.disposeTaken();
    throw error;
  }
}
