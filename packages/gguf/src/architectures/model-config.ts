import { GgufArchitectureError } from "../errors.js";

/** RoPE settings of one attention kind, as transformers stores them (`rope_parameters` or the older keys). */
export interface RopeParameters {
  /** θ, the frequency base. */
  readonly theta: number;
  /** `default`, `linear`, `llama3`, `yarn`, … */
  readonly type: string;
  /** Every other field (`factor`, `low_freq_factor`, `original_max_position_embeddings`, …). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** The fields of a decoder-only `config.json` that the GGUF layout needs, read and checked once. */
export interface DecoderConfig {
  /** The raw `config.json`. */
  readonly json: Readonly<Record<string, unknown>>;
  /** `model_type`. */
  readonly modelType: string;
  /** `hidden_size`. */
  readonly hiddenSize: number;
  /** `intermediate_size`. */
  readonly intermediateSize: number;
  /** `num_hidden_layers`. */
  readonly layerCount: number;
  /** `num_attention_heads`. */
  readonly headCount: number;
  /** `num_key_value_heads` (default: `num_attention_heads`). */
  readonly keyValueHeadCount: number;
  /** `head_dim` (default: hidden_size / num_attention_heads). */
  readonly headDimension: number;
  /** Whether `head_dim` was given explicitly. */
  readonly explicitHeadDimension: boolean;
  /** `vocab_size`. */
  readonly vocabSize: number;
  /** `max_position_embeddings`. */
  readonly contextLength: number;
  /** `rms_norm_eps`. */
  readonly rmsNormEpsilon: number;
  /** `tie_word_embeddings` (transformers' default: true). */
  readonly tieWordEmbeddings: boolean;
  /** RoPE of full-attention layers. */
  readonly rope: RopeParameters;
  /** RoPE of sliding-window layers, when the config gives them their own. */
  readonly slidingRope: RopeParameters | undefined;
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** A positive integer field of `config.json`, or `fallback` when absent. */
export function positiveInteger(json: Record<string, unknown>, field: string, fallback?: number): number {
  const value = json[field] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new GgufArchitectureError(
      `config.json ${field} must be a positive integer, got ${describe(json[field])}`,
    );
  }
  return value;
}

/** A finite number field of `config.json`, or `fallback` when absent. */
export function finiteNumber(json: Record<string, unknown>, field: string, fallback?: number): number {
  const value = json[field] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new GgufArchitectureError(
      `config.json ${field} must be a finite number, got ${describe(json[field])}`,
    );
  }
  return value;
}

function ropeFrom(
  source: Record<string, unknown>,
  fallbackTheta: number | undefined,
  where: string,
): RopeParameters {
  const theta = source.rope_theta ?? fallbackTheta ?? 10000;
  if (typeof theta !== "number" || !Number.isFinite(theta) || theta <= 0) {
    throw new GgufArchitectureError(
      `config.json ${where}.rope_theta must be a positive number, got ${describe(theta)}`,
    );
  }
  const type = source.rope_type ?? source.type ?? "default";
  if (typeof type !== "string") {
    throw new GgufArchitectureError(`config.json ${where}.rope_type must be a string, got ${describe(type)}`);
  }
  return { theta, type, fields: source };
}

function objectField(json: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  const value = json[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new GgufArchitectureError(`config.json ${field} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Reads the common decoder fields of a Hugging Face `config.json`. RoPE settings come from
 * `rope_parameters` (transformers 5, possibly keyed by layer type `full_attention` / `sliding_attention`) or
 * from the older `rope_theta` + `rope_scaling`, as llama.cpp's converter reads them.
 * @throws GgufArchitectureError naming a missing or malformed field
 */
export function readDecoderConfig(json: Record<string, unknown>): DecoderConfig {
  const modelType = json.model_type;
  if (typeof modelType !== "string") {
    throw new GgufArchitectureError(`config.json has no model_type (got ${describe(modelType)})`);
  }
  const hiddenSize = positiveInteger(json, "hidden_size");
  const headCount = positiveInteger(json, "num_attention_heads");
  const explicitHeadDimension = json.head_dim !== undefined && json.head_dim !== null;
  if (!explicitHeadDimension && hiddenSize % headCount !== 0) {
    throw new GgufArchitectureError(
      `config.json hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${headCount} and head_dim is not given`,
    );
  }
  const headDimension = explicitHeadDimension ? positiveInteger(json, "head_dim") : hiddenSize / headCount;
  const keyValueHeadCount = positiveInteger(json, "num_key_value_heads", headCount);
  if (headCount % keyValueHeadCount !== 0) {
    throw new GgufArchitectureError(
      `config.json num_attention_heads ${headCount} is not a multiple of num_key_value_heads ${keyValueHeadCount}`,
    );
  }
  const topTheta = typeof json.rope_theta === "number" ? json.rope_theta : undefined;
  const parameters = objectField(json, "rope_parameters") ?? objectField(json, "rope_scaling") ?? {};
  const perLayerType = "full_attention" in parameters || "sliding_attention" in parameters;
  let rope: RopeParameters;
  let slidingRope: RopeParameters | undefined;
  if (perLayerType) {
    const full = objectField(parameters, "full_attention");
    const sliding = objectField(parameters, "sliding_attention");
    rope = ropeFrom(full ?? {}, topTheta, "rope_parameters.full_attention");
    slidingRope =
      sliding === undefined ? undefined : ropeFrom(sliding, topTheta, "rope_parameters.sliding_attention");
  } else {
    rope = ropeFrom(parameters, topTheta, "rope_parameters");
  }
  const tie = json.tie_word_embeddings ?? true;
  if (typeof tie !== "boolean") {
    throw new GgufArchitectureError(
      `config.json tie_word_embeddings must be a boolean, got ${describe(tie)}`,
    );
  }
  return {
    json,
    modelType,
    hiddenSize,
    intermediateSize: positiveInteger(json, "intermediate_size"),
    layerCount: positiveInteger(json, "num_hidden_layers"),
    headCount,
    keyValueHeadCount,
    headDimension,
    explicitHeadDimension,
    vocabSize: positiveInteger(json, "vocab_size"),
    contextLength: positiveInteger(json, "max_position_embeddings"),
    rmsNormEpsilon: finiteNumber(json, "rms_norm_eps"),
    tieWordEmbeddings: tie,
    rope,
    slidingRope,
  };
}
