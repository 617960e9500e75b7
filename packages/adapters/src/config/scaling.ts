import type { LoraConfig } from "./lora-config.js";

/**
 * PEFT's `get_pattern_key`: the first key of `patternKeys` (in insertion order) such that `^(.*\.)?(key)$` matches
 * the whole module name, or undefined. Keys are regular expressions, as in PEFT.
 */
export function findPatternKey(patternKeys: readonly string[], moduleName: string): string | undefined {
  return patternKeys.find((key) => new RegExp(`^(?:.*\\.)?(?:${key})$`).test(moduleName));
}

/** The rank, alpha and scaling of one wrapped module. */
export interface ModuleLoraSettings {
  /** Rank r (from rank_pattern or the config's r). */
  r: number;
  /** Alpha (from alpha_pattern or the config's lora_alpha). */
  alpha: number;
  /** s = alpha / r, or alpha / √r with use_rslora. */
  scaling: number;
}

/** LoRA scaling s = α/r, or α/√r for rank-stabilised LoRA. */
export function loraScaling(alpha: number, r: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** The rank, alpha and scaling PEFT gives the module `moduleName` under this config. */
export function moduleLoraSettings(
  config: Pick<LoraConfig, "r" | "lora_alpha" | "use_rslora" | "rank_pattern" | "alpha_pattern">,
  moduleName: string,
): ModuleLoraSettings {
  const rankKey = findPatternKey(Object.keys(config.rank_pattern), moduleName);
  const alphaKey = findPatternKey(Object.keys(config.alpha_pattern), moduleName);
  const r = rankKey === undefined ? config.r : (config.rank_pattern[rankKey] as number);
  const alpha = alphaKey === undefined ? config.lora_alpha : (config.alpha_pattern[alphaKey] as number);
  return { r, alpha, scaling: loraScaling(alpha, r, config.use_rslora) };
}
