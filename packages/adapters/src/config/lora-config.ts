import { LoraConfigError, UnsupportedLoraOptionError } from "../errors.js";
import { listInitMethods } from "../inits/registry.js";
import { variantConfigFields } from "../variants/registry.js";

/**
 * How the adapter weights are initialised, PEFT's `init_lora_weights`:
 * `true` kaiming-uniform A (a = √5) and zero B; `false` random A and B (not a no-op, for tests); `"gaussian"` A ~ N(0, 1/r);
 * `"pissa"` exact top-r SVD; `"pissa_niter_K"` randomized SVD with K subspace iterations; `"olora"` QR.
 */
export type InitLoraWeights =
  | boolean
  | "gaussian"
  | "pissa"
  | `pissa_niter_${number}`
  | "olora"
  | (string & {});

/**
 * Which layer biases train with the adapter, PEFT's `bias`: `"none"`; `"lora_only"` the biases of the layers
 * LoRA wraps; `"all"` every bias of the model. peftjs keeps them as the adapter's own biases (see
 * `LoraAdapter.biases`) rather than overwriting the base model's, as PEFT does.
 */
export type LoraBias = "none" | "all" | "lora_only";

/**
 * A LoRA adapter configuration with Hugging Face PEFT's field names (snake_case, as in `adapter_config.json`) and
 * defaults. Fields PEFT knows but peftjs does not interpret, and fields from newer PEFT versions, are kept in
 * {@link LoraConfig.otherFields} and written back unchanged.
 */
export interface LoraConfig {
  /** Always `"LORA"`. */
  peft_type: "LORA";
  /** PEFT task type, e.g. `"CAUSAL_LM"`; kept for PEFT, not interpreted. */
  task_type: string | null;
  /** Name or path of the base model the adapter was trained on. */
  base_model_name_or_path: string | null;
  /** Hub revision of the base model. */
  revision: string | null;
  /** True when saved for inference (PEFT writes `true` on save). */
  inference_mode: boolean;
  /** LoRA rank r (default 8). */
  r: number;
  /** LoRA alpha α (default 8); scaling is α/r, or α/√r with {@link LoraConfig.use_rslora}. */
  lora_alpha: number;
  /** Dropout probability applied to the adapter input (default 0). */
  lora_dropout: number;
  /**
   * Modules to wrap: a list (a module matches when its name equals an entry or ends with `.entry`), a regex string
   * that must match the full module name, `"all-linear"`, or null (the model type's default, e.g. q_proj, v_proj).
   */
  target_modules: string[] | string | null;
  /** Modules never to wrap: same forms as {@link LoraConfig.target_modules} (list with suffix matching or full-match regex). */
  exclude_modules: string[] | string | null;
  /** True when the wrapped layer stores its weight as [in, out] (GPT-2 Conv1D); false for Linear. */
  fan_in_fan_out: boolean;
  /** Which layer biases train and are saved with the adapter, see {@link LoraBias}. */
  bias: LoraBias;
  /** Rank-stabilised scaling α/√r instead of α/r. */
  use_rslora: boolean;
  /**
   * Modules trained and saved in full (PEFT's `ModulesToSaveWrapper`): an entry names every module whose name
   * ends with it (Linear, Embedding or RMSNorm modules), e.g. `["lm_head"]`.
   */
  modules_to_save: string[] | null;
  /** The init, see {@link InitLoraWeights}. */
  init_lora_weights: InitLoraWeights;
  /** Only wrap the layers with these indices (list-form target_modules only). */
  layers_to_transform: number[] | number | null;
  /** Name(s) of the layer list, e.g. `"layers"`, used to find the layer index; requires layers_to_transform. */
  layers_pattern: string[] | string | null;
  /** Per-module ranks: key matches module name `n` when `^(.*\.)?(key)$` matches `n`; first match wins. */
  rank_pattern: Record<string, number>;
  /** Per-module alphas, matched as {@link LoraConfig.rank_pattern}. */
  alpha_pattern: Record<string, number>;
  /**
   * Rows of an embedding to train on their own (PEFT's `TrainableTokensWrapper`): a list of token ids for the
   * model's input embedding, or `{ "<embedding module>": ids }`; null for none. On a model whose output head is
   * tied to the embedding, the head uses the same rows.
   */
  trainable_token_indices: number[] | Record<string, number[]> | null;
  /** Every other field of `adapter_config.json`, kept verbatim and written back. */
  otherFields: Record<string, unknown>;
}

/** The fields of {@link LoraConfig} a caller may set; everything else takes PEFT's default. */
export type LoraConfigInput = Partial<Omit<LoraConfig, "otherFields" | "peft_type">> & {
  otherFields?: Record<string, unknown>;
};

/** The PEFT version whose field set and defaults peftjs writes (the fixtures were produced by it). */
export const PEFT_COMPATIBLE_VERSION = "0.21.0";

const typedFieldNames = [
  "peft_type",
  "task_type",
  "base_model_name_or_path",
  "revision",
  "inference_mode",
  "r",
  "lora_alpha",
  "lora_dropout",
  "target_modules",
  "exclude_modules",
  "fan_in_fan_out",
  "bias",
  "use_rslora",
  "modules_to_save",
  "init_lora_weights",
  "layers_to_transform",
  "layers_pattern",
  "rank_pattern",
  "alpha_pattern",
  "trainable_token_indices",
] as const;

/**
 * PEFT 0.21 fields that peftjs does not interpret, with the value that means "off". A config that sets one of
 * them to anything else is refused with {@link UnsupportedLoraOptionError} (see `unsupportedOptionChecks`).
 */
const peftInertDefaults: Record<string, unknown> = {
  alora_invocation_tokens: null,
  arrow_config: null,
  auto_mapping: null,
  corda_config: null,
  ensure_weight_tying: false,
  eva_config: null,
  kasa_config: null,
  layer_replication: null,
  loftq_config: {},
  lora_bias: false,
  lora_ga_config: null,
  megatron_config: null,
  megatron_core: "megatron.core",
  monteclora_config: null,
  peft_version: PEFT_COMPATIBLE_VERSION,
  qalora_group_size: 16,
  target_parameters: null,
  use_bdlora: null,
  use_dora: false,
  use_qalora: false,
  velora_config: null,
};

/**
 * Fields whose non-default value changes the adapter's behaviour in a way peftjs does not implement — unless a
 * registered LoRA variant claims the field (its `configField`), as a DoRA variant would claim `use_dora`.
 */
const unsupportedWhenSet: Record<string, string> = {
  use_dora: "DoRA (weight-decomposed LoRA)",
  use_qalora: "QALoRA",
  use_bdlora: "BD-LoRA",
  lora_bias: "a bias on lora_B",
  loftq_config: "LoftQ initialisation",
  eva_config: "EVA initialisation",
  corda_config: "CorDA initialisation",
  lora_ga_config: "LoRA-GA initialisation",
  kasa_config: "KaSA",
  arrow_config: "Arrow routing",
  monteclora_config: "MonteCLoRA",
  velora_config: "VeLoRA",
  alora_invocation_tokens: "activated LoRA (aLoRA)",
  layer_replication: "layer replication",
  megatron_config: "Megatron parallel layers",
  target_parameters: "targeting nn.Parameter (MoE experts)",
  ensure_weight_tying: "adapting the output head tied to an adapted embedding (ensure_weight_tying)",
};

function isOff(value: unknown): boolean {
  if (value === null || value === undefined || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value as object).length === 0;
  return false;
}

/** Matches `pissa_niter_K` and captures K. */
const pissaNiterPattern = /^pissa_niter_(\d+)$/;

/** The number of subspace iterations K of a `"pissa_niter_K"` init, or undefined for any other init. */
export function pissaIterations(init: InitLoraWeights): number | undefined {
  if (typeof init !== "string") return undefined;
  const match = pissaNiterPattern.exec(init);
  return match ? Number(match[1]) : undefined;
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function expectStringListOrString(field: string, value: unknown): string[] | string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((entry) => typeof entry === "string")) return [...value];
  throw new LoraConfigError(`${field} must be a list of strings, a string or null, got ${describe(value)}`);
}

function expectNumberRecord(field: string, value: unknown): Record<string, number> {
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new LoraConfigError(
      `${field} must be an object mapping module patterns to numbers, got ${describe(value)}`,
    );
  }
  const result: Record<string, number> = {};
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== "number" || !Number.isFinite(entry)) {
      throw new LoraConfigError(`${field}["${key}"] must be a finite number, got ${describe(entry)}`);
    }
    result[key] = entry;
  }
  return result;
}

function validateInit(value: unknown): InitLoraWeights {
  if (typeof value !== "boolean" && typeof value !== "string") {
    throw new LoraConfigError(`init_lora_weights must be a boolean or a string, got ${describe(value)}`);
  }
  const iterations = pissaIterations(value);
  if (iterations !== undefined && iterations < 1) {
    throw new LoraConfigError(`init_lora_weights "${value}" needs at least one subspace iteration`);
  }
  // the init registry (src/inits/) decides which values exist, third-party inits included
  const methods = listInitMethods();
  if (!methods.some((method) => method.handles(value))) {
    const examples = methods.flatMap((method) => method.examples).map((example) => JSON.stringify(example));
    throw new UnsupportedLoraOptionError(
      "init_lora_weights",
      `init_lora_weights ${JSON.stringify(value)} is not supported; registered init methods take ${examples.join(", ")} (and "pissa_niter_K")`,
    );
  }
  return value;
}

function validateRegex(field: string, pattern: string): void {
  try {
    new RegExp(pattern);
  } catch (error) {
    throw new LoraConfigError(`${field} "${pattern}" is not a valid regular expression`, { cause: error });
  }
}

function validatePositiveInteger(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new LoraConfigError(`${field} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function validateTokenIdList(field: string, value: unknown): void {
  if (!Array.isArray(value) || value.length === 0) {
    throw new LoraConfigError(`${field} must be a non-empty list of token ids, got ${describe(value)}`);
  }
  const seen = new Set<number>();
  for (const id of value) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new LoraConfigError(`${field} must hold token ids (integers ≥ 0), got ${describe(id)}`);
    }
    // PEFT writes the rows with index_copy, whose result is undefined for a repeated index
    if (seen.has(id)) throw new LoraConfigError(`${field} repeats token id ${id}`);
    seen.add(id);
  }
}

function validateTokenIndices(value: unknown): void {
  if (value === null) return;
  if (Array.isArray(value)) {
    validateTokenIdList("trainable_token_indices", value);
    return;
  }
  if (typeof value !== "object") {
    throw new LoraConfigError(
      `trainable_token_indices must be a list of token ids, an object of lists or null, got ${describe(value)}`,
    );
  }
  for (const [module, ids] of Object.entries(value as Record<string, unknown>)) {
    validateTokenIdList(`trainable_token_indices["${module}"]`, ids);
  }
}

/**
 * Checks a config for values peftjs cannot honour and for contradictions PEFT also rejects, and throws
 * {@link LoraConfigError} or {@link UnsupportedLoraOptionError} naming the offending field and value.
 */
export function validateLoraConfig(config: LoraConfig): void {
  validatePositiveInteger("r", config.r);
  if (typeof config.lora_alpha !== "number" || !Number.isFinite(config.lora_alpha)) {
    throw new LoraConfigError(`lora_alpha must be a finite number, got ${describe(config.lora_alpha)}`);
  }
  if (!(config.lora_dropout >= 0 && config.lora_dropout < 1)) {
    throw new LoraConfigError(`lora_dropout must be in [0, 1), got ${describe(config.lora_dropout)}`);
  }
  validateInit(config.init_lora_weights);
  for (const [key, rank] of Object.entries(config.rank_pattern)) {
    validatePositiveInteger(`rank_pattern["${key}"]`, rank);
    validateRegex(`rank_pattern key`, key);
  }
  for (const key of Object.keys(config.alpha_pattern)) validateRegex(`alpha_pattern key`, key);
  if (typeof config.target_modules === "string" && config.target_modules.toLowerCase() !== "all-linear") {
    validateRegex("target_modules", config.target_modules);
  }
  if (typeof config.exclude_modules === "string") validateRegex("exclude_modules", config.exclude_modules);
  if (config.bias !== "none" && config.bias !== "all" && config.bias !== "lora_only") {
    throw new LoraConfigError(`bias must be "none", "all" or "lora_only", got ${describe(config.bias)}`);
  }
  for (const entry of config.modules_to_save ?? []) {
    if (typeof entry !== "string" || entry === "") {
      throw new LoraConfigError(`modules_to_save must hold module names, got ${describe(entry)}`);
    }
  }
  validateTokenIndices(config.trainable_token_indices);
  const usesLayerIndexes =
    config.layers_to_transform !== null &&
    !(Array.isArray(config.layers_to_transform) && config.layers_to_transform.length === 0);
  if (typeof config.target_modules === "string" && usesLayerIndexes) {
    throw new LoraConfigError("layers_to_transform cannot be used when target_modules is a string (a regex)");
  }
  if (typeof config.target_modules === "string" && config.layers_pattern !== null) {
    throw new LoraConfigError("layers_pattern cannot be used when target_modules is a string (a regex)");
  }
  if (config.layers_pattern !== null && config.layers_pattern.length > 0 && !usesLayerIndexes) {
    throw new LoraConfigError(
      `layers_pattern ${describe(config.layers_pattern)} is set, so layers_to_transform must be set too`,
    );
  }
  const variantFields = new Set(variantConfigFields());
  for (const [field, feature] of Object.entries(unsupportedWhenSet)) {
    const value = config.otherFields[field];
    // a registered LoRA variant (src/variants/) implements the option its config field selects
    if (!isOff(value) && !variantFields.has(field)) {
      throw new UnsupportedLoraOptionError(
        field,
        `${field} = ${describe(value)} asks for ${feature}, which peftjs does not implement; refusing rather than ignoring it`,
      );
    }
  }
}

/**
 * Builds a validated {@link LoraConfig} from the fields given, PEFT's defaults for the rest
 * (r 8, lora_alpha 8, lora_dropout 0, init_lora_weights true, bias "none", …).
 */
export function createLoraConfig(input: LoraConfigInput = {}): LoraConfig {
  const { otherFields, ...fields } = input;
  const config: LoraConfig = {
    peft_type: "LORA",
    task_type: null,
    base_model_name_or_path: null,
    revision: null,
    inference_mode: false,
    r: 8,
    lora_alpha: 8,
    lora_dropout: 0,
    target_modules: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    bias: "none",
    use_rslora: false,
    modules_to_save: null,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    trainable_token_indices: null,
    ...stripUndefined(fields),
    otherFields: { ...(otherFields ?? {}) },
  };
  validateLoraConfig(config);
  return config;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}

function expectBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "boolean")
    throw new LoraConfigError(`${field} must be a boolean, got ${describe(value)}`);
  return value;
}

function expectNullableString(field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string")
    throw new LoraConfigError(`${field} must be a string or null, got ${describe(value)}`);
  return value;
}

function expectLayers(value: unknown): number[] | number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (Array.isArray(value) && value.every((entry) => typeof entry === "number" && Number.isInteger(entry))) {
    return [...value];
  }
  throw new LoraConfigError(
    `layers_to_transform must be an integer, a list of integers or null, got ${describe(value)}`,
  );
}

/**
 * Parses the object read from a PEFT `adapter_config.json`. Unknown fields are kept in `otherFields`; a non-LoRA
 * `peft_type`, malformed values and unsupported options throw.
 */
export function parseLoraConfig(json: unknown): LoraConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new LoraConfigError(`adapter_config.json must hold a JSON object, got ${describe(json)}`);
  }
  const source = json as Record<string, unknown>;
  const peftType = source.peft_type ?? "LORA";
  if (peftType !== "LORA") {
    throw new UnsupportedLoraOptionError("peft_type", `peft_type "${String(peftType)}" is not LoRA`);
  }
  const otherFields: Record<string, unknown> = {};
  const known = new Set<string>(typedFieldNames);
  for (const [key, value] of Object.entries(source)) {
    if (!known.has(key)) otherFields[key] = value;
  }
  const bias = source.bias ?? "none";
  if (bias !== "none" && bias !== "all" && bias !== "lora_only") {
    throw new LoraConfigError(`bias must be "none", "all" or "lora_only", got ${describe(bias)}`);
  }
  const modulesToSave = expectStringListOrString("modules_to_save", source.modules_to_save);
  const dropout = source.lora_dropout ?? 0;
  if (typeof dropout !== "number")
    throw new LoraConfigError(`lora_dropout must be a number, got ${describe(dropout)}`);
  const alpha = source.lora_alpha ?? 8;
  if (typeof alpha !== "number")
    throw new LoraConfigError(`lora_alpha must be a number, got ${describe(alpha)}`);
  return createLoraConfig({
    task_type: expectNullableString("task_type", source.task_type),
    base_model_name_or_path: expectNullableString("base_model_name_or_path", source.base_model_name_or_path),
    revision: expectNullableString("revision", source.revision),
    inference_mode: expectBoolean("inference_mode", source.inference_mode, false),
    r: validatePositiveInteger("r", source.r ?? 8),
    lora_alpha: alpha,
    lora_dropout: dropout,
    target_modules: expectStringListOrString("target_modules", source.target_modules),
    exclude_modules: expectStringListOrString("exclude_modules", source.exclude_modules),
    fan_in_fan_out: expectBoolean("fan_in_fan_out", source.fan_in_fan_out, false),
    bias,
    use_rslora: expectBoolean("use_rslora", source.use_rslora, false),
    modules_to_save: typeof modulesToSave === "string" ? [modulesToSave] : modulesToSave,
    init_lora_weights: validateInit(source.init_lora_weights ?? true),
    layers_to_transform: expectLayers(source.layers_to_transform),
    layers_pattern: expectStringListOrString("layers_pattern", source.layers_pattern),
    rank_pattern: expectNumberRecord("rank_pattern", source.rank_pattern),
    alpha_pattern: expectNumberRecord("alpha_pattern", source.alpha_pattern),
    trainable_token_indices: (source.trainable_token_indices ??
      null) as LoraConfig["trainable_token_indices"],
    otherFields,
  });
}

/**
 * The JSON object PEFT would write for this config: PEFT 0.21's full field set with its defaults, then the kept
 * `otherFields`, then the typed fields, with keys sorted as PEFT's `json.dumps(sort_keys=True)` does.
 */
export function loraConfigToJson(config: LoraConfig): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...peftInertDefaults, ...config.otherFields };
  for (const field of typedFieldNames) merged[field] = structuredClone(config[field]);
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(merged).sort()) sorted[key] = merged[key];
  return sorted;
}

/** `adapter_config.json` text as PEFT writes it (sorted keys, two-space indent, no trailing newline). */
export function serializeLoraConfig(config: LoraConfig): string {
  return JSON.stringify(loraConfigToJson(config), null, 2);
}

/** A deep copy of `config` with `changes` applied and validated; `config` itself is never modified. */
export function withLoraConfig(config: LoraConfig, changes: LoraConfigInput): LoraConfig {
  const copy = structuredClone(config);
  const { otherFields, ...fields } = changes;
  return createLoraConfig({
    ...copy,
    ...stripUndefined(fields),
    otherFields: { ...copy.otherFields, ...(otherFields ?? {}) },
  });
}
