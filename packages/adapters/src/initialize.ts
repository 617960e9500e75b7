import { createGenerator } from "@peftjs/tensor";
import type { LoraAdapter, LoraFactors } from "./adapter.js";
import type { LoraConfig } from "./config/lora-config.js";
import { moduleLoraSettings } from "./config/scaling.js";
import { type SelectTargetModulesOptions, selectTargetModules } from "./config/target-modules.js";
import { AdapterInitError } from "./errors.js";
import { roundThroughDtype } from "./math/dtype-rounding.js";
import type { Matrix } from "./math/matrix.js";
import { type BaseWeight, variantForInit } from "./variants/registry.js";

/** Options for {@link initializeAdapter}. */
export interface InitializeAdapterOptions extends SelectTargetModulesOptions {
  /** Seed of the adapter's random stream (kaiming/gaussian draws, randomized SVD). Default 0. */
  seed?: number;
}

/** A freshly initialised adapter and, for PiSSA/OLoRA, the residual base weights its init implies. */
export interface InitializedAdapter {
  /** The adapter (A₀, B₀), config unchanged. */
  readonly adapter: LoraAdapter;
  /**
   * Per wrapped module whose init moves part of W (PiSSA, OLoRA): W_res = W − s·B₀A₀, rounded through the base
   * dtype as PEFT stores it. Empty for plain LoRA inits. Keyed by module name.
   */
  readonly residuals: ReadonlyMap<string, Matrix>;
  /** True when the init moved s·B₀A₀ out of W (the adapter is only exact on the residual or in overlay mode). */
  readonly movesBaseWeight: boolean;
}

/**
 * Initialises an adapter for the Linear modules `weights` (module name → base weight, in model order) the way
 * PEFT's `get_peft_model` does: targets selected with PEFT's rules, per-module r/α from the patterns, and the
 * init chosen by `init_lora_weights` through the variant registry. The base weights are never modified: the
 * residuals are returned for the caller (the model integration decides between overlay and residual mode).
 */
export function initializeAdapter(
  config: LoraConfig,
  weights: ReadonlyMap<string, BaseWeight>,
  options: InitializeAdapterOptions = {},
): InitializedAdapter {
  const targets = selectTargetModules(config, [...weights.keys()], options);
  const variant = variantForInit(config.init_lora_weights);
  const generator = createGenerator(options.seed ?? 0);
  const modules = new Map<string, LoraFactors>();
  const residuals = new Map<string, Matrix>();
  for (const moduleName of targets) {
    const weight = weights.get(moduleName) as BaseWeight;
    const { r, scaling } = moduleLoraSettings(config, moduleName);
    const [outFeatures, inFeatures] = config.fan_in_fan_out
      ? [weight.values.columns, weight.values.rows]
      : [weight.values.rows, weight.values.columns];
    const result = variant.initialize({
      moduleName,
      init: config.init_lora_weights,
      r,
      scaling,
      inFeatures,
      outFeatures,
      fanInFanOut: config.fan_in_fan_out,
      weight: variant.readsBaseWeight ? weight : undefined,
      generator,
    });
    if (result.loraA.rows !== r || result.loraA.columns !== inFeatures || result.loraB.rows !== outFeatures) {
      throw new AdapterInitError(
        `variant "${variant.name}" returned factors [${result.loraA.rows}, ${result.loraA.columns}]/[${result.loraB.rows}, ${result.loraB.columns}] for "${moduleName}" (r ${r}, in ${inFeatures}, out ${outFeatures})`,
      );
    }
    modules.set(moduleName, { loraA: result.loraA, loraB: result.loraB });
    if (variant.movesBaseWeight) {
      if (result.residual === undefined) {
        throw new AdapterInitError(
          `variant "${variant.name}" moves the base weight but returned no residual`,
        );
      }
      residuals.set(moduleName, roundThroughDtype(result.residual, weight.dtype));
    }
  }
  return {
    adapter: { config, modules, metadata: {} },
    residuals,
    movesBaseWeight: variant.movesBaseWeight,
  };
}
