import { type ConfigJson, isJsonObject, positiveInteger, positiveNumber } from "../config/parse.js";
import { ModelConfigError, UnsupportedModelOptionError, UnsupportedRopeTypeError } from "../errors.js";

/** The RoPE variants implemented here (transformers' `ROPE_INIT_FUNCTIONS`, without `longrope`). */
export const supportedRopeTypes = ["default", "linear", "dynamic", "llama3", "yarn"] as const;

/** One of {@link supportedRopeTypes}. */
export type RopeType = (typeof supportedRopeTypes)[number];

/**
 * A rotary embedding's parameters as transformers 5 standardises them (`config.rope_parameters`), whatever
 * layout the `config.json` used. Fields a type does not use are undefined.
 */
export interface RopeParameters {
  /** `rope_type` (older files: `rope_scaling.type`). */
  readonly ropeType: RopeType;
  /** The base θ (`rope_theta`, default 10000). */
  readonly ropeTheta: number;
  /** `factor` (linear, dynamic, llama3, yarn). */
  readonly factor?: number;
  /** `original_max_position_embeddings` (llama3; yarn, where it defaults to `max_position_embeddings`). */
  readonly originalMaxPositionEmbeddings?: number;
  /** llama3's `low_freq_factor`. */
  readonly lowFrequencyFactor?: number;
  /** llama3's `high_freq_factor`. */
  readonly highFrequencyFactor?: number;
  /** yarn's `attention_factor` (absent: derived from `factor`, `mscale`, `mscale_all_dim`). */
  readonly attentionFactor?: number;
  /** yarn's `beta_fast` (default 32). */
  readonly betaFast?: number;
  /** yarn's `beta_slow` (default 1). */
  readonly betaSlow?: number;
  /** yarn's `mscale`. */
  readonly mscale?: number;
  /** yarn's `mscale_all_dim`. */
  readonly mscaleAllDim?: number;
  /** yarn's `truncate` (default true: the correction range is widened to whole dimensions). */
  readonly truncate?: boolean;
  /** The model's `max_position_embeddings` (dynamic and yarn read it). */
  readonly maxPositionEmbeddings: number;
}

/** The keys each type reads besides `rope_type`/`type`/`rope_theta`; any other key is refused. */
const knownKeys: Record<RopeType, readonly string[]> = {
  default: [],
  linear: ["factor"],
  dynamic: ["factor", "original_max_position_embeddings"],
  llama3: ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
  yarn: [
    "factor",
    "attention_factor",
    "beta_fast",
    "beta_slow",
    "mscale",
    "mscale_all_dim",
    "original_max_position_embeddings",
    "truncate",
  ],
};

function isRopeType(value: unknown): value is RopeType {
  return typeof value === "string" && (supportedRopeTypes as readonly string[]).includes(value);
}

function optionalPositive(parameters: ConfigJson, key: string): number | undefined {
  const value = parameters[key];
  return value === undefined || value === null ? undefined : positiveNumber(value, `rope_parameters.${key}`);
}

function requiredPositive(parameters: ConfigJson, key: string, ropeType: string): number {
  const value = optionalPositive(parameters, key);
  if (value === undefined) {
    throw new ModelConfigError(`rope_type "${ropeType}" needs "rope_parameters.${key}", which is missing`);
  }
  return value;
}

/**
 * Reads the RoPE settings of a `config.json` from either layout: transformers ≥ 5 writes
 * `rope_parameters: {rope_type, rope_theta, …}`; older files a top-level `rope_theta` and an optional
 * `rope_scaling: {type | rope_type, factor, …}` (null for plain RoPE). A `rope_theta` inside the object wins
 * over the top-level one, as in transformers' `standardize_rope_params`.
 *
 * @throws UnsupportedRopeTypeError for a type outside {@link supportedRopeTypes} (e.g. `longrope`);
 *   UnsupportedModelOptionError for a key the type does not read (or `partial_rotary_factor` ≠ 1);
 *   ModelConfigError for a missing or invalid value.
 */
export function parseRopeParameters(config: ConfigJson): RopeParameters {
  const modelType = typeof config.model_type === "string" ? config.model_type : "llama";
  const maxPositionEmbeddings = positiveInteger(config, "max_position_embeddings", 2048);
  const partial = config.partial_rotary_factor;
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw new UnsupportedModelOptionError(
      modelType,
      "partial_rotary_factor",
      partial,
      "1 (rotary on the whole head)",
    );
  }
  const field = config.rope_parameters !== undefined ? "rope_parameters" : "rope_scaling";
  const parameters = config.rope_parameters ?? config.rope_scaling ?? {};
  if (!isJsonObject(parameters)) {
    throw new ModelConfigError(`config.json "${field}" must be an object, got ${JSON.stringify(parameters)}`);
  }
  const ropeType = parameters.rope_type ?? parameters.type ?? "default";
  if (!isRopeType(ropeType)) throw new UnsupportedRopeTypeError(String(ropeType), supportedRopeTypes);
  for (const key of Object.keys(parameters)) {
    if (["rope_type", "type", "rope_theta"].includes(key) || knownKeys[ropeType].includes(key)) continue;
    const read = ["rope_type", "rope_theta", ...knownKeys[ropeType]].join(", ");
    throw new UnsupportedModelOptionError(
      modelType,
      `${field}.${key}`,
      parameters[key],
      `rope_type "${ropeType}" reads ${read}`,
    );
  }
  const theta = parameters.rope_theta ?? config.rope_theta;
  const ropeTheta =
    theta === undefined || theta === null ? 10000 : positiveNumber(theta, `${field}.rope_theta`);
  const common = { ropeType, ropeTheta, maxPositionEmbeddings };
  switch (ropeType) {
    case "default":
      return common;
    case "linear":
    case "dynamic":
      return { ...common, factor: requiredPositive(parameters, "factor", ropeType) };
    case "llama3":
      return {
        ...common,
        factor: requiredPositive(parameters, "factor", ropeType),
        lowFrequencyFactor: requiredPositive(parameters, "low_freq_factor", ropeType),
        highFrequencyFactor: requiredPositive(parameters, "high_freq_factor", ropeType),
        originalMaxPositionEmbeddings: requiredPositive(
          parameters,
          "original_max_position_embeddings",
          ropeType,
        ),
      };
    case "yarn": {
      const original =
        optionalPositive(parameters, "original_max_position_embeddings") ?? maxPositionEmbeddings;
      const truncate = parameters.truncate ?? true;
      if (typeof truncate !== "boolean") {
        throw new ModelConfigError(
          `config.json "${field}.truncate" must be true or false, got ${JSON.stringify(truncate)}`,
        );
      }
      return {
        ...common,
        // transformers 5: without a factor, the ratio of the extended to the original context.
        factor: optionalPositive(parameters, "factor") ?? maxPositionEmbeddings / original,
        originalMaxPositionEmbeddings: original,
        attentionFactor: optionalPositive(parameters, "attention_factor"),
        betaFast: optionalPositive(parameters, "beta_fast") ?? 32,
        betaSlow: optionalPositive(parameters, "beta_slow") ?? 1,
        mscale: optionalPositive(parameters, "mscale"),
        mscaleAllDim: optionalPositive(parameters, "mscale_all_dim"),
        truncate,
      };
    }
  }
}
