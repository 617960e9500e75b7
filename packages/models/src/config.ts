import { ModelConfigError, UnsupportedRopeTypeError } from "./errors.js";

/**
 * A Llama configuration, parsed from a Hugging Face `config.json` (`LlamaConfig`). Field names are the
 * camel-case forms of Hugging Face's; `raw` keeps the whole original object, unknown fields included, so that
 * writing the config back loses nothing.
 */
export interface LlamaConfig {
  /** Model width (`hidden_size`). */
  readonly hiddenSize: number;
  /** Width of the SwiGLU MLP (`intermediate_size`). */
  readonly intermediateSize: number;
  /** Number of decoder layers (`num_hidden_layers`). */
  readonly numHiddenLayers: number;
  /** Number of query heads (`num_attention_heads`). */
  readonly numAttentionHeads: number;
  /** Number of key/value heads (`num_key_value_heads`, default `num_attention_heads`). */
  readonly numKeyValueHeads: number;
  /** Width of one head (`head_dim`, default `hidden_size / num_attention_heads`). */
  readonly headDim: number;
  /** Epsilon of every RMSNorm (`rms_norm_eps`, default 1e-6 as transformers). */
  readonly rmsNormEps: number;
  /** RoPE base (`rope_parameters.rope_theta` or top-level `rope_theta`, default 10000). */
  readonly ropeTheta: number;
  /** Vocabulary size (`vocab_size`). */
  readonly vocabSize: number;
  /** Whether the output projection reuses the token embedding (`tie_word_embeddings`, default `false`). */
  readonly tieWordEmbeddings: boolean;
  /** Longest supported sequence (`max_position_embeddings`, default 2048). */
  readonly maxPositionEmbeddings: number;
  /** Beginning-of-sequence id (`bos_token_id`), if any. */
  readonly bosTokenId: number | undefined;
  /** End-of-sequence ids (`eos_token_id`, a number or a list), possibly empty. */
  readonly eosTokenIds: readonly number[];
  /** The parsed `config.json` object, with every field (known or not) as read. */
  readonly raw: Readonly<Record<string, unknown>>;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function positiveInteger(config: JsonObject, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (value === undefined) throw new ModelConfigError(`config.json lacks the required field "${key}"`);
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ModelConfigError(
      `config.json "${key}" must be a positive integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function positiveNumber(value: unknown, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new ModelConfigError(
      `config.json "${key}" must be a positive number, got ${JSON.stringify(value)}`,
    );
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
 * The RoPE base from either layout: transformers ≥ 5 writes `rope_parameters: {rope_theta, rope_type}`,
 * older versions a top-level `rope_theta` plus an optional `rope_scaling` (null for plain RoPE).
 */
function ropeTheta(config: JsonObject): number {
  const parameters = config.rope_parameters ?? config.rope_scaling;
  if (parameters !== undefined && parameters !== null) {
    if (!isObject(parameters)) {
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

/**
 * Parses a Hugging Face Llama `config.json` object.
 *
 * @throws ModelConfigError when a required field is missing or a value is invalid (heads that do not divide
 *   the width, key/value heads that do not divide the query heads, ...).
 * @throws UnsupportedRopeTypeError for a RoPE type other than `"default"` (e.g. `"llama3"`, `"linear"`).
 */
export function parseLlamaConfig(json: unknown): LlamaConfig {
  if (!isObject(json))
    throw new ModelConfigError(`config.json must hold an object, got ${JSON.stringify(json)}`);
  const modelType = json.model_type;
  if (modelType !== undefined && modelType !== "llama") {
    throw new ModelConfigError(`config.json "model_type" is ${JSON.stringify(modelType)}; expected "llama"`);
  }
  const hiddenSize = positiveInteger(json, "hidden_size");
  const numAttentionHeads = positiveInteger(json, "num_attention_heads");
  const numKeyValueHeads = positiveInteger(json, "num_key_value_heads", numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ModelConfigError(
      `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
    );
  }
  if (json.head_dim === undefined && hiddenSize % numAttentionHeads !== 0) {
    throw new ModelConfigError(
      `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numAttentionHeads} and head_dim is not given`,
    );
  }
  const headDim = positiveInteger(json, "head_dim", hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) throw new ModelConfigError(`head_dim ${headDim} must be even for rotary embeddings`);
  const activation = json.hidden_act ?? "silu";
  if (activation !== "silu") {
    throw new ModelConfigError(
      `config.json "hidden_act" is ${JSON.stringify(activation)}; only "silu" is supported`,
    );
  }
  for (const key of ["attention_bias", "mlp_bias"]) {
    if (json[key] === true) throw new ModelConfigError(`config.json "${key}": true is not supported`);
  }
  return {
    hiddenSize,
    intermediateSize: positiveInteger(json, "intermediate_size"),
    numHiddenLayers: positiveInteger(json, "num_hidden_layers"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: json.rms_norm_eps === undefined ? 1e-6 : positiveNumber(json.rms_norm_eps, "rms_norm_eps"),
    ropeTheta: ropeTheta(json),
    vocabSize: positiveInteger(json, "vocab_size"),
    tieWordEmbeddings: json.tie_word_embeddings === true,
    maxPositionEmbeddings: positiveInteger(json, "max_position_embeddings", 2048),
    bosTokenId: optionalTokenId(json.bos_token_id, "bos_token_id"),
    eosTokenIds: eosIds(json.eos_token_id),
    raw: json,
  };
}
