import { createGenerator } from "@peftjs/tensor";
import type { LoraAdapter, LoraFactors } from "./adapter.js";
import type { LoraConfig } from "./config/lora-config.js";
import { moduleLoraSettings } from "./config/scaling.js";
import { type SelectTargetModulesOptions, selectTargetModules } from "./config/target-modules.js";
import { AdapterInitError, AdapterTooLargeError } from "./errors.js";
import { type BaseWeight, initMethodFor } from "./inits/registry.js";
import { roundThroughDtype } from "./math/dtype-rounding.js";
import { type Matrix, matrix } from "./math/matrix.js";

/** A module an adapter is initialised for: its sizes, and its base weight for the inits that read it. */
export interface InitTarget {
  /** out_features of the Linear. */
  readonly outFeatures: number;
  /** in_features of the Linear. */
  readonly inFeatures: number;
  /** Reads the base weight (called only by inits with `readsBaseWeight`: PiSSA, OLoRA). */
  readWeight(): BaseWeight;
  /**
   * `"embedding"` for an `nn.Embedding` (then inFeatures is the vocabulary, outFeatures the row width, as PEFT's
   * `lora.Embedding` counts them); absent for a Linear.
   */
  readonly kind?: "embedding";
}

/** Options for {@link initializeAdapter}. */
export interface InitializeAdapterOptions extends SelectTargetModulesOptions {
  /** Seed of the adapter's random stream (kaiming/gaussian draws, randomized SVD). Default 0. */
  seed?: number;
  /**
   * Whether to compute the residual base weights of an init that moves part of W (PiSSA, OLoRA). Default true;
   * false leaves `residuals` empty (overlay mode never rewrites the base, so it does not need them).
   */
  residuals?: boolean;
}

/**
 * The most lora_A + lora_B elements one adapter may hold: 2³⁰, i.e. 4 GiB in float32, the whole address space
 * of the wasm backend (32-bit WebAssembly memory) and the largest typed array the js backend can count on.
 * PEFT accepts any positive r (even above min(in, out), where B·A gains no rank); peftjs accepts the same
 * configs and refuses only those whose factors cannot be allocated, before anything is.
 */
export const MAX_ADAPTER_ELEMENTS = 2 ** 30;

/**
 * Refuses, before any allocation, a config whose factors (r·in for lora_A plus out·r for lora_B, summed over
 * the targets) exceed {@link MAX_ADAPTER_ELEMENTS}, naming the module with the largest share and its r.
 */
function assertAdapterFits(
  config: LoraConfig,
  targets: readonly string[],
  modules: ReadonlyMap<string, InitTarget>,
): void {
  let elements = 0;
  let largest = { moduleName: "", r: 0, elements: -1, inFeatures: 0, outFeatures: 0 };
  for (const moduleName of targets) {
    const { inFeatures, outFeatures } = modules.get(moduleName)!;
    const { r } = moduleLoraSettings(config, moduleName);
    const moduleElements = r * (inFeatures + outFeatures);
    elements += moduleElements;
    if (moduleElements > largest.elements)
      largest = { moduleName, r, elements: moduleElements, inFeatures, outFeatures };
  }
  if (elements > MAX_ADAPTER_ELEMENTS) {
    throw new AdapterTooLargeError(
      largest.r,
      elements,
      `r = ${largest.r} asks for ${elements} lora_A/lora_B elements over ${targets.length} modules (e.g. "${largest.moduleName}" [out ${largest.outFeatures}, in ${largest.inFeatures}]: ${largest.elements}), more than the ${MAX_ADAPTER_ELEMENTS} (2^30, 4 GiB in float32) one adapter may hold; lower r (min(in, out) = ${Math.min(largest.inFeatures, largest.outFeatures)} already gives B·A its full rank there)`,
    );
  }
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
 * @throws AdapterTooLargeError when the factors would exceed {@link MAX_ADAPTER_ELEMENTS} (checked first).
 */
export function initializeAdapter(
  config: LoraConfig,
  modules: ReadonlyMap<string, InitTarget>,
  options: InitializeAdapterOptions = {},
): InitializedAdapter {
  const targets = selectTargetModules(config, [...modules.keys()], {
    ...options,
    embeddingModuleNames: embeddingNames(modules),
  });
  assertAdapterFits(config, targets, modules);
  const method = initMethodFor(config.init_lora_weights);
  const generator = createGenerator(options.seed ?? 0);
  const factors = new Map<string, LoraFactors>();
  const residuals = new Map<string, Matrix>();
  const residualNeeded = options.residuals ?? true;
  for (const moduleName of targets) {
    const target = modules.get(moduleName)!;
    const { r, scaling } = moduleLoraSettings(config, moduleName);
    if (target.kind === "embedding") {
      factors.set(moduleName, embeddingInit(config.init_lora_weights, r, target, generator));
      continue;
    }
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
      residualNeeded,
    });
    if (result.loraA.rows !== r || result.loraA.columns !== inFeatures || result.loraB.rows !== outFeatures) {
      throw new AdapterInitError(
        `init method "${method.name}" returned factors [${result.loraA.rows}, ${result.loraA.columns}]/[${result.loraB.rows}, ${result.loraB.columns}] for "${moduleName}" (r ${r}, in ${inFeatures}, out ${outFeatures})`,
      );
    }
    factors.set(moduleName, { loraA: result.loraA, loraB: result.loraB });
    if (method.movesBaseWeight && residualNeeded) {
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
    // (residuals exist only for Linear modules: PEFT gives an embedding its own init whatever the method)
    residuals,
    movesBaseWeight: method.movesBaseWeight,
  };
}

/**
 * PEFT's `lora.Embedding` init: lora_embedding_A `[r, vocab]` = 0 and lora_embedding_B `[dim, r]` ~ N(0, 1) for
 * every init except `false` (both N(0, 1)) — PiSSA, OLoRA and the Gaussian init apply to Linear modules only, an
 * embedding in the same adapter gets this init. Draws come from the adapter's stream, in model order.
 */
function embeddingInit(
  init: LoraConfig["init_lora_weights"],
  r: number,
  target: InitTarget,
  generator: ReturnType<typeof createGenerator>,
): LoraFactors {
  const { inFeatures: vocabulary, outFeatures: width } = target;
  const loraA =
    init === false
      ? matrix(r, vocabulary, generator.normalValues(r * vocabulary))
      : matrix(r, vocabulary, new Float32Array(r * vocabulary));
  const loraB = matrix(width, r, generator.normalValues(width * r));
  return { loraA, loraB, kind: "embedding" };
}

/** The embedding modules among `modules` (never selected by `"all-linear"`). */
export function embeddingNames(modules: ReadonlyMap<string, InitTarget>): string[] {
  return [...modules].filter(([, target]) => target.kind === "embedding").map(([name]) => name);
}
