import { createGenerator } from "@peftjs/tensor";
import type { LoraAdapter, LoraFactors } from "./adapter.js";
import type { LoraConfig } from "./config/lora-config.js";
import { moduleLoraSettings } from "./config/scaling.js";
import { type SelectTargetModulesOptions, selectTargetModules } from "./config/target-modules.js";
import { AdapterInitError } from "./errors.js";
import { type BaseWeight, initMethodFor } from "./inits/registry.js";
import { roundThroughDtype } from "./math/dtype-rounding.js";
import type { Matrix } from "./math/matrix.js";

/** A module an adapter is initialised for: its sizes, and its base weight for the inits that read it. */
export interface InitTarget {
  /** out_features of the Linear. */
  readonly outFeatures: number;
  /** in_features of the Linear. */
  readonly inFeatures: number;
  /** Reads the base weight (called only by inits with `readsBaseWeight`: PiSSA, OLoRA). */
  readWeight(): BaseWeight;
}

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
 * Initialises an adapter the way PEFT's `get_peft_model` does: targets selected among `modules` (a model's
 * linear modules by name, in model order; the seeded stream visits the targets in this order) with PEFT's
 * rules, per-module r and α from the patterns, and the init `init_lora_weights` selects through the init
 * registry. Base weights are read only by inits that need them, only for the targets, and never modified: the
 * residuals are returned for the caller (the model integration decides between overlay and residual mode).
 *
 * @throws LoraConfigError when the config targets no module (PEFT: "Target modules … not found").
 */
export function initializeAdapter(
  config: LoraConfig,
  modules: ReadonlyMap<string, InitTarget>,
  options: InitializeAdapterOptions = {},
): InitializedAdapter {
  const targets = selectTargetModules(config, [...modules.keys()], options);
  const method = initMethodFor(config.init_lora_weights);
  const generator = createGenerator(options.seed ?? 0);
  const factors = new Map<string, LoraFactors>();
  const residuals = new Map<string, Matrix>();
  for (const moduleName of targets) {
    const target = modules.get(moduleName)!;
    const { r, scaling } = moduleLoraSettings(config, moduleName);
    const weight = method.readsBaseWeight ? target.readWeight() : undefined;
    const { inFeatures, outFeatures } = target;
    const result = method.initialize({
      moduleName,
      init: config.init_lora_weights,
      r,
      scaling,
      inFeatures,
      outFeatures,
      fanInFanOut: config.fan_in_fan_out,
      weight,
      generator,
    });
    if (result.loraA.rows !== r || result.loraA.columns !== inFeatures || result.loraB.rows !== outFeatures) {
      throw new AdapterInitError(
        `init method "${method.name}" returned factors [${result.loraA.rows}, ${result.loraA.columns}]/[${result.loraB.rows}, ${result.loraB.columns}] for "${moduleName}" (r ${r}, in ${inFeatures}, out ${outFeatures})`,
      );
    }
    factors.set(moduleName, { loraA: result.loraA, loraB: result.loraB });
    if (method.movesBaseWeight) {
      if (result.residual === undefined || weight === undefined) {
        throw new AdapterInitError(
          `init method "${method.name}" moves the base weight but returned no residual`,
        );
      }
      residuals.set(moduleName, roundThroughDtype(result.residual, weight.dtype));
    }
  }
  return {
    adapter: { config, modules: factors, metadata: {} },
    residuals,
    movesBaseWeight: method.movesBaseWeight,
  };
}
