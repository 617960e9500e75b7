import { ModelConfigError, UnsupportedRopeTypeError } from "../errors.js";

/** A parsed `config.json` object. */
export type ConfigJson = Readonly<Record<string, unknown>>;

/**
 * What every causal language model's configuration has, whatever its architecture. Field names are the
 * camel-case forms of Hugging Face's; `raw` keeps the whole original object, unknown fields included, so that
 * writing the config back loses nothing.
 */
export interface CausalLMConfig {
  /** `model_type`, the key of the architecture registry (`"llama"`, `"mistral"`, …). */
  readonly modelType: string;
  /** Vocabulary size (`vocab_size`). */
  readonly vocabSize: number;
  /** Number of decoder layers (`num_hidden_layers`). */
  readonly numHiddenLayers: number;
  /** Longest supported sequence (`max_position_embeddings`, default 2048). */
  readonly maxPositionEmbeddings: number;
  /** Whether the output projection reuses the token embedding (`tie_word_embeddings`, default `false`). */
  readonly tieWordEmbeddings: boolean;
  /** Beginning-of-sequence id (`bos_token_id`), if any. */
  readonly bosTokenId: number | undefined;
  /** End-of-sequence ids (`eos_token_id`, a number or a list), possibly empty. */
  readonly eosTokenIds: readonly number[];
  /** The parsed `config.json` object, with every field (known or not) as read. */
  readonly raw: ConfigJson;
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `config[key]` (or `fallback` when absent) as a positive integer. @throws ModelConfigError naming the field. */
export function positiveInteger(config: ConfigJson, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (value === undefined) throw new ModelConfigError(`config.json lacks the required field "${key}"`);
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ModelConfigError(
      `config.json "${key}" must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `value` as a finite positive number. @throws ModelConfigError naming the field `key`. */
export function positiveNumber(value: unknown, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ModelConfigError(
      `config.json "${key}" must be a positive number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `config[key]` as a boolean (`fallback` when absent or null). @throws ModelConfigError naming the field. */
export function booleanField(config: ConfigJson, key: string, fallback: boolean): boolean {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean") {
    throw new ModelConfigError(`config.json "${key}" must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalTokenId(value: unknown, key: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new ModelConfigError(`config.json "${key}" must be a token id, got ${JSON.stringify(value)}`);
  }
  return value;
}

function eosIds(value: unknown): number[] {
  if (Array.isArray(value)) return value.map((id) => optionalTokenId(id, "eos_token_id")!);
  const id = optionalTokenId(value, "eos_token_id");
  return id === undefined ? [] : [id];
}

/**
 * The fields of {@link CausalLMConfig} from a `config.json` object whose `model_type` must be `modelType`
 * (an absent `model_type` is accepted, as older hand-written configs omit it).
 *
 * @throws ModelConfigError for a non-object, another `model_type`, or a missing or invalid field.
 */
export function parseCausalLMConfig(json: unknown, modelType: string): CausalLMConfig {
  if (!isJsonObject(json)) {
    throw new ModelConfigError(`config.json must hold an object, got ${JSON.stringify(json)}`);
  }
  if (json.model_type !== undefined && json.model_type !== modelType) {
    throw new ModelConfigError(
      `config.json "model_type" is ${JSON.stringify(json.model_type)}; expected ${JSON.stringify(modelType)}`,
    );
  }
  return {
    modelType,
    vocabSize: positiveInteger(json, "vocab_size"),
    numHiddenLayers: positiveInteger(json, "num_hidden_layers"),
    maxPositionEmbeddings: positiveInteger(json, "max_position_embeddings", 2048),
    tieWordEmbeddings: json.tie_word_embeddings === true,
    bosTokenId: optionalTokenId(json.bos_token_id, "bos_token_id"),
    eosTokenIds: eosIds(json.eos_token_id),
    raw: json,
  };
}

/**
 * The RoPE base of a plain (`"default"`) rotary embedding, from either layout: transformers ≥ 5 writes
 * `rope_parameters: {rope_theta, rope_type}`, older versions a top-level `rope_theta` plus an optional
 * `rope_scaling` (null for plain RoPE). Default 10000.
 *
 * @throws UnsupportedRopeTypeError for any other `rope_type` (`"llama3"`, `"linear"`, …).
 */
export function defaultRopeTheta(config: ConfigJson): number {
  const parameters = config.rope_parameters ?? config.rope_scaling;
  if (parameters !== undefined && parameters !== null) {
    if (!isJsonObject(parameters)) {
      throw new ModelConfigError(
        `config.json "rope_parameters" must be an object, got ${JSON.stringify(parameters)}`,
      );
    }
    const ropeType = parameters.rope_type ?? parameters.type ?? "default";
    if (ropeType !== "default") throw new UnsupportedRopeTypeError(String(ropeType));
    if (parameters.rope_theta !== undefined)
      return positiveNumber(parameters.rope_theta, "rope_parameters.rope_theta");
  }
  return config.rope_theta === undefined ? 10000 : positiveNumber(config.rope_theta, "rope_theta");
}
