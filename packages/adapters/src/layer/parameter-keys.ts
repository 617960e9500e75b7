/** PEFT's prefix of every saved adapter key (`PeftModel.base_model.model`). */
export const PEFT_KEY_PREFIX = "base_model.model.";

/** PEFT's names of plain LoRA's two factors: lora_A `[r, in]` and lora_B `[out, r]`. */
export const LORA_A = "lora_A";
/** See {@link LORA_A}. */
export const LORA_B = "lora_B";

/** PEFT's names of LoRA's factors on an `nn.Embedding`: lora_embedding_A `[r, vocab]`, lora_embedding_B `[dim, r]`. */
export const LORA_EMBEDDING_A = "lora_embedding_A";
/** See {@link LORA_EMBEDDING_A}. */
export const LORA_EMBEDDING_B = "lora_embedding_B";
/**
 * PEFT's name of the rows `trainable_token_indices` trains (`TrainableTokensWrapper.token_adapter`): despite the
 * name, the new rows themselves `[tokens, dim]`, not a difference.
 */
export const TRAINABLE_TOKENS_DELTA = "token_adapter.trainable_tokens_delta";

/**
 * Parameters PEFT keeps as bare `nn.Parameter`s in a `ParameterDict` rather than as the weight of a per-adapter
 * module: their names carry no `.weight` (`lora_embedding_A.default`, file key `….lora_embedding_A`).
 */
const bareParameters: ReadonlySet<string> = new Set([
  LORA_EMBEDDING_A,
  LORA_EMBEDDING_B,
  TRAINABLE_TOKENS_DELTA,
]);

/** The marker of a `modules_to_save` copy's parameter among an adapter's parameter names (`modules_to_save/weight`). */
const copiedPrefix = "modules_to_save/";

/** The adapter parameter name of parameter `local` (`weight`, `bias`) of a `modules_to_save` copy. */
export function copiedParameterName(local: string): string {
  return `${copiedPrefix}${local}`;
}

/** The local name (`weight`) of a `modules_to_save` copy's parameter name; other names are returned as they are. */
export function copiedParameter(parameter: string): string {
  return parameter.startsWith(copiedPrefix) ? parameter.slice(copiedPrefix.length) : parameter;
}

/**
 * The name of one adapter parameter inside a LoRA layer, PEFT's: `<parameter>.<adapter>.weight` (the
 * parameter lives in a per-adapter module, e.g. `lora_A.default.weight`), or `<parameter>.weight` without an
 * adapter name, as PEFT's files strip it (DoRA's `lora_magnitude_vector` then has no `.weight`, as in PEFT). Bare parameters (`lora_embedding_A`, trainable tokens) have no
 * `.weight`: `lora_embedding_A.default`, `lora_embedding_A`. A `modules_to_save` copy's parameter
 * (`modules_to_save/weight`, see {@link copiedParameterName}) is `modules_to_save.<adapter>.weight`, or `weight`.
 */
export function adapterParameterName(parameter: string, adapterName?: string): string {
  // a modules_to_save copy: PEFT's `modules_to_save.<adapter>.weight` in the model, plain `weight` in files
  if (parameter.startsWith(copiedPrefix)) {
    const local = copiedParameter(parameter);
    return adapterName === undefined ? local : `modules_to_save.${adapterName}.${local}`;
  }
  if (adapterName !== undefined) {
    return `${parameter}.${adapterName}${bareParameters.has(parameter) ? "" : ".weight"}`;
  }
  const bare = bareParameters.has(parameter) || savedWithoutWeightSuffix.has(parameter);
  return bare ? parameter : `${parameter}.weight`;
}

/**
 * Parameters whose file key has no `.weight`: DoRA's magnitude lives in the model as
 * `lora_magnitude_vector.<adapter>.weight` but PEFT's `LoraModel` renames it to `….lora_magnitude_vector` when it
 * saves (and back when it loads), so its files, and its gradient keys, say `<module>.lora_magnitude_vector`.
 */
const savedWithoutWeightSuffix = new Set(["lora_magnitude_vector"]);

/**
 * The key of one adapter parameter of one module — the one function every key of peftjs comes from:
 * without `adapterName`, PEFT's file key `base_model.model.<module>.<parameter>.weight` (also the trainable
 * key while one adapter is trained); with it, PEFT's in-model state-dict key
 * `base_model.model.<module>.<parameter>.<adapter>.weight` (the trainable key when several adapters train).
 * The layer names its own parameters with {@link adapterParameterName}, the same suffix.
 */
export function peftKey(modulePath: string, parameter: string, adapterName?: string): string {
  return `${PEFT_KEY_PREFIX}${modulePath}.${adapterParameterName(parameter, adapterName)}`;
}

/**
 * The module and parameter of a PEFT file key, given the parameter names that may occur (`lora_A`, `lora_B`
 * and those of registered variants), or undefined when the key is not one of them.
 */
export function parsePeftKey(
  key: string,
  parameters: readonly string[],
): { modulePath: string; parameter: string } | undefined {
  if (!key.startsWith(PEFT_KEY_PREFIX)) return undefined;
  for (const parameter of parameters) {
    const suffix = `.${adapterParameterName(parameter)}`;
    if (key.endsWith(suffix) && key.length > PEFT_KEY_PREFIX.length + suffix.length) {
      return { modulePath: key.slice(PEFT_KEY_PREFIX.length, -suffix.length), parameter };
    }
  }
  return undefined;
}

/**
 * The key of a layer's bias trained under PEFT's `bias: "lora_only" | "all"` — in PEFT's files and, here, in the
 * trainable view: `base_model.model.<module>.base_layer.bias` for a module LoRA wraps (the bias belongs to the
 * wrapped base layer), `base_model.model.<module>.bias` for one it does not (`bias: "all"` on other layers).
 */
export function peftBiasKey(modulePath: string, wrapped: boolean): string {
  return `${PEFT_KEY_PREFIX}${modulePath}.${wrapped ? "base_layer.bias" : "bias"}`;
}

/** The module of a {@link peftBiasKey} key and whether it names a wrapped layer's bias, or undefined. */
export function parsePeftBiasKey(key: string): { modulePath: string; wrapped: boolean } | undefined {
  if (!key.startsWith(PEFT_KEY_PREFIX) || !key.endsWith(".bias")) return undefined;
  const wrapped = key.endsWith(".base_layer.bias");
  const modulePath = key.slice(PEFT_KEY_PREFIX.length, -(wrapped ? ".base_layer.bias" : ".bias").length);
  // `….lora_B.bias` is PEFT's lora_bias (a bias on lora_B), not a layer bias
  if (modulePath === "" || /(^|\.)lora_[^.]*$/.test(modulePath)) return undefined;
  return { modulePath, wrapped };
}
