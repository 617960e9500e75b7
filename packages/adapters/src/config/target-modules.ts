import { LoraConfigError } from "../errors.js";
import type { LoraConfig } from "./lora-config.js";

/** PEFT's shorthand for "every linear layer except the output head". */
export const ALL_LINEAR = "all-linear";

/** PEFT's default target modules per `model_type` when `target_modules` is null (a subset of its mapping). */
export const DEFAULT_TARGET_MODULES: Readonly<Record<string, readonly string[]>> = {
  llama: ["q_proj", "v_proj"],
  mistral: ["q_proj", "v_proj"],
  qwen2: ["q_proj", "v_proj"],
  qwen3: ["q_proj", "v_proj"],
};

/** Python's `re.fullmatch(pattern, text)`. */
function fullMatch(pattern: string, text: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(text);
}

/** PEFT's list matching: the name equals an entry or ends with `.` + entry. */
function matchesListEntry(entries: readonly string[], name: string): boolean {
  return entries.some((entry) => name === entry || name.endsWith(`.${entry}`));
}

/** True when `exclude_modules` excludes `name` (regex full match, or list equality / `.suffix`). */
export function isExcludedModule(config: Pick<LoraConfig, "exclude_modules">, name: string): boolean {
  const exclude = config.exclude_modules;
  if (exclude === null || exclude.length === 0) return false;
  if (typeof exclude === "string") return fullMatch(exclude, name);
  return matchesListEntry(exclude, name);
}

/** The layer index PEFT reads from a module name (`…<layers_pattern>.<index>.…`), or undefined. */
function layerIndexOf(name: string, layersPattern: string[] | string | null): number | undefined {
  const patterns =
    layersPattern === null ? [] : typeof layersPattern === "string" ? [layersPattern] : layersPattern;
  if (patterns.length === 0) {
    // PEFT: re.match(r".*?\.[^.]*\.(\d+)\.", key) — the first "<word>.<digits>." preceded by a dot (lazy, so a
    // nested index such as an MoE expert's is not taken for the layer)
    const match = /^.*?\.[^.]*\.(\d+)\./.exec(name);
    return match ? Number(match[1]) : undefined;
  }
  for (const pattern of patterns) {
    const match = new RegExp(`^.*?\\.(?:${pattern})\\.(\\d+)\\.`).exec(name);
    if (match) return Number(match[1]);
  }
  return undefined;
}

/**
 * Whether PEFT's `check_target_module_exists` selects the module `name` for this config: exclusions first, then
 * `target_modules` (full-match regex string, or list with exact/suffix matching, in which case
 * `layers_to_transform`/`layers_pattern` further restrict by layer index). `"all-linear"` must be resolved with
 * {@link selectTargetModules} first.
 */
export function isTargetModule(
  config: Pick<LoraConfig, "target_modules" | "exclude_modules" | "layers_to_transform" | "layers_pattern">,
  name: string,
): boolean {
  if (isExcludedModule(config, name)) return false;
  const targets = config.target_modules;
  if (targets === null) return false;
  if (typeof targets === "string") {
    if (targets.toLowerCase() === ALL_LINEAR) {
      throw new LoraConfigError(
        `target_modules "${targets}" must be resolved against a model (selectTargetModules)`,
      );
    }
    return fullMatch(targets, name);
  }
  if (targets.includes(name)) return true;
  if (!matchesListEntry(targets, name)) return false;
  const layers = config.layers_to_transform;
  const usesLayerIndexes = layers !== null && !(Array.isArray(layers) && layers.length === 0);
  if (!usesLayerIndexes) return true;
  const index = layerIndexOf(name, config.layers_pattern);
  if (index === undefined) return false;
  return typeof layers === "number" ? index === layers : layers.includes(index);
}

/** Options for {@link selectTargetModules}. */
export interface SelectTargetModulesOptions {
  /** The model's output head (`lm_head`); `"all-linear"` never selects it. */
  outputModuleName?: string;
  /** `config.json`'s `model_type`, used for PEFT's defaults when target_modules is null. */
  modelType?: string;
  /** The model's embedding modules among the names given: targets by name, never selected by `"all-linear"`. */
  embeddingModuleNames?: readonly string[];
}

/**
 * The names among `linearModuleNames` (a model's linear layers, in model order, and its embeddings named in
 * `options.embeddingModuleNames`) that the config wraps, as PEFT selects them. Throws {@link LoraConfigError} when nothing matches (PEFT: "Target modules … not found").
 */
export function selectTargetModules(
  config: LoraConfig,
  linearModuleNames: readonly string[],
  options: SelectTargetModulesOptions = {},
): string[] {
  let effective: LoraConfig = config;
  if (typeof config.target_modules === "string" && config.target_modules.toLowerCase() === ALL_LINEAR) {
    const embeddings = new Set(options.embeddingModuleNames ?? []);
    const names = linearModuleNames.filter(
      (name) => name !== options.outputModuleName && !embeddings.has(name),
    );
    effective = { ...config, target_modules: names };
  } else if (config.target_modules === null) {
    const defaults = options.modelType === undefined ? undefined : DEFAULT_TARGET_MODULES[options.modelType];
    if (defaults === undefined) {
      throw new LoraConfigError(
        `target_modules is null and model_type ${JSON.stringify(options.modelType ?? null)} has no PEFT default; set target_modules`,
      );
    }
    effective = { ...config, target_modules: [...defaults] };
  }
  const selected = linearModuleNames.filter((name) => isTargetModule(effective, name));
  if (selected.length === 0) {
    throw new LoraConfigError(
      `Target modules ${JSON.stringify(config.target_modules)} not found in the base model (${linearModuleNames.length} linear modules, e.g. ${JSON.stringify(linearModuleNames.slice(0, 3))})`,
    );
  }
  return selected;
}
