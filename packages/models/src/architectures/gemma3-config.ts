import { activationByName } from "@peftjs/nn";
import {
  booleanField,
  type CausalLMConfig,
  type ConfigJson,
  isJsonObject,
  parseCausalLMConfig,
  positiveInteger,
  positiveNumber,
} from "../config/parse.js";
import { ModelConfigError, UnsupportedModelOptionError, UnsupportedRopeTypeError } from "../errors.js";

// The fields of transformers' `Gemma3TextConfig` (5.18) and their defaults where a config.json omits them.

/** The attention kind of one Gemma 3 layer (`layer_types`). */
export type Gemma3LayerType = "sliding_attention" | "full_attention";

const layerTypeNames: readonly Gemma3LayerType[] = ["sliding_attention", "full_attention"];

/** A Gemma 3 text configuration (`model_type: "gemma3_text"`), parsed from `config.json`. */
export interface Gemma3TextConfig extends CausalLMConfig {
  /** Model width (`hidden_size`). */
  readonly hiddenSize: number;
  /** Width of the gated MLP (`intermediate_size`). */
  readonly intermediateSize: number;
  /** Number of query heads (`num_attention_heads`). */
  readonly numAttentionHeads: number;
  /** Number of key/value heads (`num_key_value_heads`). */
  readonly numKeyValueHeads: number;
  /** Width of one head (`head_dim`, default 256; independent of `hidden_size`). */
  readonly headDim: number;
  /** Epsilon of every RMSNorm (`rms_norm_eps`, default 1e-6). */
  readonly rmsNormEps: number;
  /** The MLP activation's name (`hidden_activation`, default `"gelu_pytorch_tanh"`). */
  readonly hiddenActivation: string;
  /** Whether q/k/v/o projections have biases (`attention_bias`, default false). */
  readonly attentionBias: boolean;
  /** Attention scores are scaled by `query_pre_attn_scalar^−½` (default 256), not `head_dim^−½`. */
  readonly queryPreAttnScalar: number;
  /** `sliding_window`: how many most recent keys (itself included) a sliding layer's query sees. */
  readonly slidingWindow: number;
  /** The kind of every layer (`layer_types`, or derived from `sliding_window_pattern`, default 6). */
  readonly layerTypes: readonly Gemma3LayerType[];
  /** The RoPE base of each layer kind (default: 10000 sliding, 1e6 full). */
  readonly ropeTheta: Readonly<Record<Gemma3LayerType, number>>;
}

function refuseNonNull(raw: ConfigJson, key: string, supported: string): void {
  const value = raw[key];
  if (value !== undefined && value !== null) {
    throw new UnsupportedModelOptionError("gemma3_text", key, value, supported);
  }
}

/**
 * `layer_types`, or, in configs written before it existed, transformers' rule from `sliding_window_pattern`
 * (also read as `_sliding_window_pattern`, default 6): layer `i` is sliding unless `(i + 1)` is a multiple.
 */
function parseLayerTypes(raw: ConfigJson, numHiddenLayers: number): Gemma3LayerType[] {
  const given = raw.layer_types;
  if (given === undefined || given === null) {
    const pattern = positiveInteger(
      raw,
      raw.sliding_window_pattern !== undefined ? "sliding_window_pattern" : "_sliding_window_pattern",
      6,
    );
    return Array.from({ length: numHiddenLayers }, (_, layer) =>
      (layer + 1) % pattern === 0 ? "full_attention" : "sliding_attention",
    );
  }
  if (!Array.isArray(given) || given.length !== numHiddenLayers) {
    throw new ModelConfigError(
      `config.json "layer_types" must list one type per layer (${numHiddenLayers}), got ${JSON.stringify(given)}`,
    );
  }
  return given.map((type, layer) => {
    if (!layerTypeNames.includes(type as Gemma3LayerType)) {
      throw new UnsupportedModelOptionError(
        "gemma3_text",
        `layer_types[${layer}]`,
        type,
        layerTypeNames.map((name) => JSON.stringify(name)).join(", "),
      );
    }
    return type as Gemma3LayerType;
  });
}

/** `sliding_window` (default 4096); null only when no layer slides. */
function parseSlidingWindow(raw: ConfigJson, layerTypes: readonly Gemma3LayerType[]): number {
  if (raw.sliding_window === null) {
    if (!layerTypes.includes("sliding_attention")) return Number.POSITIVE_INFINITY;
    throw new ModelConfigError(
      `config.json "sliding_window" is null but layer_types has sliding_attention layers`,
    );
  }
  return positiveInteger(raw, "sliding_window", 4096);
}

/** The base of one plain RoPE entry; any scaling type is refused. */
function defaultRopeBase(entry: unknown, key: string): number {
  if (!isJsonObject(entry)) {
    throw new ModelConfigError(`config.json "${key}" must be an object, got ${JSON.stringify(entry)}`);
  }
  const ropeType = entry.rope_type ?? entry.type ?? "default";
  if (ropeType !== "default") throw new UnsupportedRopeTypeError(String(ropeType));
  const partial = entry.partial_rotary_factor;
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw new UnsupportedModelOptionError("gemma3_text", `${key}.partial_rotary_factor`, partial, "1");
  }
  return positiveNumber(entry.rope_theta, `${key}.rope_theta`);
}

/**
 * The RoPE base per layer kind. transformers 5 writes `rope_parameters` keyed by layer type
 * (`{"sliding_attention": {"rope_type", "rope_theta"}, "full_attention": {…}}`); older configs give the
 * full layers' base as `rope_theta` (default 1e6) with optional `rope_scaling`, and the sliding layers' as
 * `rope_local_base_freq` (default 10000).
 */
function parseRopeTheta(raw: ConfigJson, layerTypes: readonly Gemma3LayerType[]) {
  const parameters = raw.rope_parameters;
  if (parameters !== undefined && parameters !== null) {
    if (
      !isJsonObject(parameters) ||
      parameters.rope_theta !== undefined ||
      parameters.rope_type !== undefined
    ) {
      throw new ModelConfigError(
        `config.json "rope_parameters" of gemma3_text must be keyed by layer type ("sliding_attention", "full_attention"), got ${JSON.stringify(parameters)}`,
      );
    }
    const base = (type: Gemma3LayerType) => {
      if (parameters[type] === undefined) {
        if (layerTypes.includes(type)) {
          throw new ModelConfigError(`config.json "rope_parameters" lacks the entry "${type}"`);
        }
        return Number.NaN; // never read: no layer of this kind
      }
      return defaultRopeBase(parameters[type], `rope_parameters.${type}`);
    };
    return { sliding_attention: base("sliding_attention"), full_attention: base("full_attention") };
  }
  const scaling = raw.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    if (!isJsonObject(scaling)) {
      throw new ModelConfigError(
        `config.json "rope_scaling" must be an object or null, got ${JSON.stringify(scaling)}`,
      );
    }
    const ropeType = scaling.rope_type ?? scaling.type ?? "default";
    if (ropeType !== "default") throw new UnsupportedRopeTypeError(String(ropeType));
  }
  return {
    sliding_attention:
      raw.rope_local_base_freq === undefined
        ? 10000
        : positiveNumber(raw.rope_local_base_freq, "rope_local_base_freq"),
    full_attention: raw.rope_theta === undefined ? 1e6 : positiveNumber(raw.rope_theta, "rope_theta"),
  };
}

/**
 * Parses a Gemma 3 text `config.json` object (`Gemma3TextConfig`, the text model of Gemma 3 and the whole of
 * Gemma-3-270M/1B).
 *
 * @throws ModelConfigError for a missing or invalid field or another `model_type`; UnsupportedModelOptionError
 *   for `attn_logit_softcapping`/`final_logit_softcapping` other than null, `use_bidirectional_attention`,
 *   a non-zero `attention_dropout` or an unknown layer type; UnsupportedRopeTypeError for RoPE scaling;
 *   UnsupportedActivationError for a `hidden_activation` that `@peftjs/nn` does not implement.
 */
export function parseGemma3TextConfig(json: unknown): Gemma3TextConfig {
  const base = parseCausalLMConfig(json, "gemma3_text");
  const raw = base.raw;
  refuseNonNull(raw, "attn_logit_softcapping", "null");
  refuseNonNull(raw, "final_logit_softcapping", "null");
  if (booleanField(raw, "use_bidirectional_attention", false)) {
    throw new UnsupportedModelOptionError("gemma3_text", "use_bidirectional_attention", true, "false");
  }
  const dropout = raw.attention_dropout ?? 0;
  if (dropout !== 0) throw new UnsupportedModelOptionError("gemma3_text", "attention_dropout", dropout, "0");
  const numAttentionHeads = positiveInteger(raw, "num_attention_heads");
  const numKeyValueHeads = positiveInteger(raw, "num_key_value_heads");
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ModelConfigError(
      `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
    );
  }
  const headDim = positiveInteger(raw, "head_dim", 256);
  if (headDim % 2 !== 0) throw new ModelConfigError(`head_dim ${headDim} must be even for rotary embeddings`);
  const hiddenActivation = raw.hidden_activation ?? "gelu_pytorch_tanh";
  if (typeof hiddenActivation !== "string") {
    throw new ModelConfigError(
      `config.json "hidden_activation" must be a string, got ${JSON.stringify(hiddenActivation)}`,
    );
  }
  activationByName(hiddenActivation);
  const layerTypes = parseLayerTypes(raw, base.numHiddenLayers);
  return {
    ...base,
    maxPositionEmbeddings: positiveInteger(raw, "max_position_embeddings", 131072),
    tieWordEmbeddings: booleanField(raw, "tie_word_embeddings", true),
    hiddenSize: positiveInteger(raw, "hidden_size"),
    intermediateSize: positiveInteger(raw, "intermediate_size"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: raw.rms_norm_eps === undefined ? 1e-6 : positiveNumber(raw.rms_norm_eps, "rms_norm_eps"),
    hiddenActivation,
    attentionBias: booleanField(raw, "attention_bias", false),
    queryPreAttnScalar:
      raw.query_pre_attn_scalar === undefined
        ? 256
        : positiveNumber(raw.query_pre_attn_scalar, "query_pre_attn_scalar"),
    slidingWindow: parseSlidingWindow(raw, layerTypes),
    layerTypes,
    ropeTheta: parseRopeTheta(raw, layerTypes),
  };
}
