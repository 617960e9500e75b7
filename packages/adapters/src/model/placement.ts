import { PeftjsError } from "@peftjs/io";
import {
  type AdapterRecord,
  adapterRecordFromMetadata,
  checkCompatibility,
  deriveAdapterRecord,
  type Fingerprint,
  type WeightStore,
} from "@peftjs/state";
import type { LoraAdapter } from "../adapter.js";
import { type LoraConfig, loraConfigToJson, pissaIterations, withLoraConfig } from "../config/lora-config.js";
import { moduleLoraSettings } from "../config/scaling.js";
import { type SelectTargetModulesOptions, selectTargetModules } from "../config/target-modules.js";
import { AdapterShapeError } from "../errors.js";
import {
  embeddingNames,
  type InitializedAdapter,
  type InitTarget,
  initializeAdapter,
} from "../initialize.js";
import { initMethodFor, initMovesBaseWeight } from "../inits/registry.js";
import { addScaled, type Matrix, multiply } from "../math/matrix.js";
import { loraVariantFor } from "../variants/registry.js";
import {
  OLORA_LEADING_COLUMNS_THRESHOLD,
  oloraLeadingColumnsShare,
  PISSA_SUBSPACE_SHARE_THRESHOLD,
  pissaSubspaceShare,
} from "./guards.js";

// Where an adapter goes and whether it may: the decisions of add/load, apart from executing them
// (lora-model.ts). Overlay or residual mode, PEFT's targeting of a loaded file, the state package's
// compatibility check, the PiSSA/OLoRA subspace check and the refusal to rewrite a shared base.

/**
 * How a PiSSA/OLoRA adapter (one whose init moves s·B₀A₀ out of W) lives on the model:
 * `overlay` (default): the base is never touched, the frozen correction −s·B₀A₀ is part of the adapter;
 * `residual`: PEFT's behaviour, the base weight becomes W − s·B₀A₀ through the weight store's `mutate`
 * (journaled, warned). Both give the same outputs for that adapter.
 */
export type PissaMode = "overlay" | "residual";

/** The adapter cannot be loaded as asked; the message says why and what to do instead. */
export class AdapterLoadError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("adapter_load", message, options);
  }
}

/** Options of {@link LoraModel.addAdapter} and {@link LoraModel.loadAdapter}. */
export interface AdapterPlacementOptions {
  /** Overlay (default) or residual mode for PiSSA/OLoRA adapters; ignored for plain LoRA. */
  mode?: PissaMode;
  /**
   * The safety checks (default true): the state compatibility check (force when false), the PiSSA/OLoRA
   * subspace check, and the refusal to rewrite a base that other adapters use. Turning it off reproduces PEFT.
   */
  guard?: boolean;
  /** Seed of the init (default 0, or the seed the adapter file records). */
  seed?: number;
  /**
   * For an unconverted PiSSA/OLoRA adapter: its init adapter (PEFT's `adapter_init/`), whose A₀/B₀ are used
   * as they are instead of re-running the init (required for `pissa_niter_K`, whose randomized SVD cannot be
   * reproduced).
   */
  initialAdapter?: LoraAdapter;
  /** Make it the only active adapter (default: true when it is the first adapter). */
  activate?: boolean;
  /**
   * Multiplies the adapter's delta s·B·A (default 1; a PiSSA/OLoRA correction −s·B₀A₀ is not scaled: the
   * weight applies to what training learned, as it would on PEFT's residual base).
   */
  weight?: number;
}

/** The metadata key under which peftjs records the seed of a PiSSA/OLoRA init, so reloads reproduce it. */
export const INIT_SEED_METADATA_KEY = "peftjs.init_seed";

/** The seed an adapter file records for its init, if any. */
export function recordedInitSeed(adapter: LoraAdapter): number | undefined {
  const value = adapter.metadata[INIT_SEED_METADATA_KEY];
  return value === undefined ? undefined : Number(value);
}

/** The adapter's record: its `peftjs.*` metadata, or derived from its config (files written by PEFT). */
export function adapterRecordOf(adapter: LoraAdapter, name = "default"): AdapterRecord {
  const stored = adapterRecordFromMetadata(adapter.metadata);
  return stored ? { ...stored, name } : deriveAdapterRecord(loraConfigToJson(adapter.config), { name });
}

/** Whether loaders (PEFT's and ours) re-run a base-rewriting init (PiSSA, OLoRA) when loading this adapter. */
export function isUnconvertedAdapter(adapter: LoraAdapter): boolean {
  return initMovesBaseWeight(adapter.config.init_lora_weights);
}

/**
 * Whether this is a PiSSA/OLoRA init adapter saved the way PEFT's docs ask for the later conversion
 * (`init_lora_weights: true`, factors A₀/B₀) and recognisable as such by its record (`peftjs init` writes
 * one): plain LoRA by its config, but its record says it belongs on the residual base.
 */
export function isInitAdapterForConversion(adapter: LoraAdapter): boolean {
  return !isUnconvertedAdapter(adapter) && adapterRecordOf(adapter).needsMutatedBase;
}

/**
 * What a load of `adapter` is: an init adapter for conversion on its recorded residual base is plain LoRA
 * there (as PEFT loads it); on any other base it gets its method back and is its own init adapter, so it sits
 * in overlay mode (W − s·B₀A₀ + s·BA with B = B₀, A = A₀: the original model) and trains as PiSSA/OLoRA.
 * Every other adapter is loaded as it is.
 */
export function resolveInitAdapter(
  adapter: LoraAdapter,
  baseFingerprint: Fingerprint,
  initialAdapter: LoraAdapter | undefined,
): { adapter: LoraAdapter; initialAdapter: LoraAdapter | undefined } {
  if (initialAdapter !== undefined || !isInitAdapterForConversion(adapter))
    return { adapter, initialAdapter };
  const record = adapterRecordOf(adapter);
  if (record.residualBaseFingerprint === baseFingerprint) return { adapter, initialAdapter };
  const restored = {
    ...adapter,
    config: withLoraConfig(adapter.config, { init_lora_weights: record.initMethod }),
  };
  return { adapter: restored, initialAdapter: adapter };
}

/** The model as placement sees it. */
export interface PlacementContext {
  /** The base weights (the model's identity). */
  readonly store: WeightStore;
  /** The model's linear modules by name, in model order. */
  readonly modules: ReadonlyMap<string, InitTarget>;
  /** `outputModuleName` and `modelType` for PEFT's target rules. */
  readonly targeting: SelectTargetModulesOptions;
  /** The adapters already on the model. */
  readonly adapterNames: readonly string[];
}

/** A decided load: what goes where, in which mode, with which init. */
export interface LoadPlan {
  /** The adapter to place (an init adapter for conversion gets its method back). */
  readonly adapter: LoraAdapter;
  /** Its record, named as on the model. */
  readonly record: AdapterRecord;
  /** Overlay or residual for a PiSSA/OLoRA adapter, null for plain LoRA. */
  readonly mode: PissaMode | null;
  /** True when the init must be recomputed (or taken from `initialAdapter`): the adapter moves the base. */
  readonly needsInit: boolean;
  /** The init adapter whose A₀/B₀ to use as they are, if given (or recognised). */
  readonly initialAdapter: LoraAdapter | undefined;
  /** The modules the config targets (PEFT's rules), in model order: these get the adapter. */
  readonly targets: readonly string[];
  /** Targeted modules without tensors in the file: they keep the config's init, as in PEFT. */
  readonly missingModules: readonly string[];
  /** Modules in the file the config does not target: ignored, as PEFT ignores unexpected keys. */
  readonly unexpectedModules: readonly string[];
}

/**
 * Decides a load the way PEFT's `load_adapter` does — the config's targeting (`target_modules`,
 * `exclude_modules`, `layers_to_transform`) picks the modules, the file's tensors fill them — and runs every
 * check of a load: fan_in_fan_out, shapes, the state package's compatibility check, and for an unconverted
 * PiSSA/OLoRA adapter the subspace check and the shared-base refusal. Changes nothing.
 *
 * @throws LoraConfigError when the config targets nothing; AdapterShapeError, AdapterLoadError or the state
 *   package's compatibility errors naming what does not fit.
 */
export function planAdapterLoad(
  context: PlacementContext,
  name: string,
  adapter: LoraAdapter,
  options: AdapterPlacementOptions,
): LoadPlan {
  const guard = options.guard ?? true;
  const resolved = resolveInitAdapter(adapter, context.store.modelFingerprint(), options.initialAdapter);
  const config = resolved.adapter.config;
  assertLinearLayout(name, config);
  const targets = selectTargetModules(config, [...context.modules.keys()], {
    ...context.targeting,
    embeddingModuleNames: embeddingNames(context.modules),
  });
  const fileModules = [...resolved.adapter.modules.keys()];
  const targetSet = new Set(targets);
  const unexpectedModules = fileModules.filter((module) => !targetSet.has(module));
  const missingModules = targets.filter((module) => !resolved.adapter.modules.has(module));
  for (const module of targets) {
    const factors = resolved.adapter.modules.get(module);
    const target = context.modules.get(module)!;
    const { r } = moduleLoraSettings(config, module);
    if (factors !== undefined && (factors.kind === "embedding") !== (target.kind === "embedding")) {
      throw new AdapterShapeError(
        `adapter "${name}" has ${factors.kind === "embedding" ? "embedding (lora_embedding_A/B)" : "Linear (lora_A/B)"} factors for "${module}", which is ${target.kind === "embedding" ? "an embedding" : "a Linear layer"}`,
      );
    }
    if (
      factors !== undefined &&
      (factors.loraA.columns !== target.inFeatures ||
        factors.loraB.rows !== target.outFeatures ||
        factors.loraA.rows !== r)
    ) {
      throw new AdapterShapeError(
        `adapter "${name}" has lora_A [${factors.loraA.rows}, ${factors.loraA.columns}] and lora_B [${factors.loraB.rows}, ${factors.loraB.columns}] for "${module}", whose weight is [${target.outFeatures}, ${target.inFeatures}] (rank ${r} by the config): it belongs to another base model`,
      );
    }
  }
  for (const [module, saved] of resolved.adapter.savedEmbeddings ?? []) {
    assertSavedEmbeddingMatches(context, name, module, saved);
  }
  assertVariantParameters(name, resolved.adapter, targets, context);
  const record = adapterRecordOf(resolved.adapter, name);
  const movesBase = record.needsMutatedBase && initMethodFor(config.init_lora_weights).movesBaseWeight;
  const mode: PissaMode | null = movesBase ? (options.mode ?? "overlay") : null;
  // Overlay mode emulates the residual base with a correction, so the store itself must be the original.
  const checked: AdapterRecord =
    mode === "overlay" ? { ...record, needsMutatedBase: false, residualBaseFingerprint: null } : record;
  const result = checkCompatibility(context.store, checked, {
    allowMutation: mode === "residual",
    force: !guard,
  });
  if (!result.ok) throw result.error;
  // In residual mode on the recorded residual base itself, the adapter applies as it is.
  const needsInit = movesBase && !(mode === "residual" && !result.requiresMutation);
  if (needsInit) {
    if (guard) assertOriginalSubspace(context, name, resolved.adapter, targetSet);
    if (mode === "residual") assertBaseUnshared(context, name, guard);
    if (
      resolved.initialAdapter === undefined &&
      pissaIterations(config.init_lora_weights) !== undefined &&
      options.seed === undefined &&
      recordedInitSeed(resolved.adapter) === undefined
    ) {
      throw new AdapterLoadError(
        `adapter "${name}" was initialised with ${JSON.stringify(config.init_lora_weights)} (a randomized SVD) and records no seed, so its A₀/B₀ cannot be recomputed: pass its init adapter as initialAdapter, or convert it to LoRA`,
      );
    }
  }
  return {
    adapter: resolved.adapter,
    record,
    mode,
    needsInit,
    initialAdapter: resolved.initialAdapter,
    targets,
    missingModules,
    unexpectedModules,
  };
}

/**
 * The init factors a load needs: A₀/B₀ (and residuals) of a base-moving adapter, from its init adapter or a
 * re-run of its init; for a plain adapter with targeted modules missing from the file, the config's init
 * (the whole seeded stream over the targets, as PEFT initialises before it loads). Undefined when the file's
 * tensors are all it takes.
 *
 * @throws AdapterLoadError when the init adapter lacks a targeted module.
 */
export function initialFactors(
  context: PlacementContext,
  name: string,
  plan: LoadPlan,
  seed: number | undefined,
): InitializedAdapter | undefined {
  // Only residual mode rewrites the base; overlay mode subtracts s·B₀A₀ instead and needs no residuals.
  const residualNeeded = plan.mode === "residual";
  if (plan.needsInit && plan.initialAdapter !== undefined) {
    const residuals = new Map<string, Matrix>();
    for (const moduleName of plan.targets) {
      if (context.modules.get(moduleName)!.kind === "embedding") continue;
      const start = plan.initialAdapter.modules.get(moduleName);
      if (start === undefined) {
        throw new AdapterLoadError(`the initial adapter of "${name}" has no module "${moduleName}"`);
      }
      if (!residualNeeded) continue;
      const { scaling } = moduleLoraSettings(plan.adapter.config, moduleName);
      const weight = context.modules.get(moduleName)!.readWeight().values;
      residuals.set(moduleName, addScaled(weight, multiply(start.loraB, start.loraA), -scaling));
    }
    return { adapter: plan.initialAdapter, residuals, movesBaseWeight: true };
  }
  if (!plan.needsInit && plan.missingModules.length === 0) return undefined;
  return initializeAdapter(plan.adapter.config, context.modules, {
    seed: seed ?? recordedInitSeed(plan.adapter) ?? 0,
    ...context.targeting,
    residuals: residualNeeded,
  });
}

/**
 * The file's extra parameters must be the ones the config's variant uses, in its shapes: a DoRA magnitude in an
 * adapter whose config does not set `use_dora` (or a DoRA adapter without magnitudes) would be silently ignored
 * (or re-initialised) otherwise.
 */
function assertVariantParameters(
  name: string,
  adapter: LoraAdapter,
  targets: readonly string[],
  context: PlacementContext,
): void {
  const variant = loraVariantFor(adapter.config);
  for (const module of targets) {
    const factors = adapter.modules.get(module);
    if (factors === undefined) continue;
    const target = context.modules.get(module)!;
    const given = [...(factors.extras?.keys() ?? [])];
    const unused = given.filter((parameter) => !variant.extraParameters.includes(parameter));
    const missing = variant.extraParameters.filter((parameter) => !given.includes(parameter));
    if (unused.length > 0 || missing.length > 0) {
      throw new AdapterLoadError(
        `adapter "${name}" module "${module}": the config selects the ${variant.name} variant, whose parameters are ${JSON.stringify(variant.extraParameters)}, but the file has ${JSON.stringify(given)}${unused.includes("lora_magnitude_vector") ? " (a DoRA magnitude without use_dora: true)" : ""}`,
      );
    }
    for (const [parameter, value] of factors.extras ?? []) {
      const expected = variant.extraParameterShape?.(parameter, {
        inFeatures: target.inFeatures,
        outFeatures: target.outFeatures,
        rank: factors.loraA.rows,
      });
      if (expected !== undefined && expected.join() !== value.shape.join()) {
        throw new AdapterShapeError(
          `adapter "${name}" has ${parameter} [${value.shape.join(", ")}] for "${module}", whose weight is [${target.outFeatures}, ${target.inFeatures}]: expected [${expected.join(", ")}]`,
        );
      }
    }
  }
}

/** The wrapped layers store W as [out, in] (nn.Linear); fan_in_fan_out describes GPT-2's Conv1D. */
export function assertLinearLayout(name: string, config: LoraConfig): void {
  if (config.fan_in_fan_out) {
    throw new AdapterLoadError(
      `adapter "${name}" has fan_in_fan_out = true (weights stored [in, out], as GPT-2's Conv1D), but the layers of this model are Linear [out, in]; PEFT would warn and set it to false — set it to false in the config`,
    );
  }
}

/** Residual mode rewrites the base: refused while other adapters use it (PEFT issue #2184), unless unguarded. */
export function assertBaseUnshared(context: PlacementContext, name: string, guard: boolean): void {
  if (guard && context.adapterNames.length > 0) {
    throw new AdapterLoadError(
      `residual mode for "${name}" would rewrite base weights that adapters ${JSON.stringify(context.adapterNames)} are using (PEFT issue #2184): use overlay mode (the default), load it on a fork of the store, or convert it to LoRA`,
    );
  }
}

/**
 * The math check for adapters without a fingerprint (thresholds in guards.ts): an unconverted PiSSA adapter's
 * lora_A must lie in the base's top-r right singular subspace, an OLoRA adapter's base must keep its leading
 * columns — otherwise the base is already a residual and loading would subtract s·B₀A₀ a second time.
 */
function assertOriginalSubspace(
  context: PlacementContext,
  name: string,
  adapter: LoraAdapter,
  targets: ReadonlySet<string>,
): void {
  const init = adapter.config.init_lora_weights;
  const shares: [string, number][] = [];
  for (const [moduleName, factors] of adapter.modules) {
    // an embedding gets PEFT's embedding init whatever the method: nothing of it moved out of the base
    if (!targets.has(moduleName) || factors.kind === "embedding") continue;
    const weight = context.modules.get(moduleName)!.readWeight().values;
    if (init === "olora") {
      const share = oloraLeadingColumnsShare(factors, weight);
      if (share < OLORA_LEADING_COLUMNS_THRESHOLD) {
        throw new AdapterLoadError(
          `adapter "${name}" (unconverted OLoRA) needs the original base, but the first ${factors.loraA.rows} columns of "${moduleName}" are nearly zero (share ${share.toExponential(2)}): this base looks like an OLoRA residual already. Loading it would subtract s·B₀A₀ twice; load it on the original weights, or convert it to LoRA`,
        );
      }
      continue;
    }
    shares.push([moduleName, pissaSubspaceShare(factors.loraA, weight)]);
  }
  if (shares.length === 0) return;
  const mean = shares.reduce((sum, [, share]) => sum + share, 0) / shares.length;
  if (mean < PISSA_SUBSPACE_SHARE_THRESHOLD) {
    const [worstModule, worstShare] = shares.reduce((worst, entry) => (entry[1] < worst[1] ? entry : worst));
    throw new AdapterLoadError(
      `adapter "${name}" (unconverted ${JSON.stringify(init)}) needs the original base, but on average only ${(mean * 100).toFixed(1)} % of its lora_A lies in the base's top-r right singular subspace (least: ${(worstShare * 100).toFixed(1)} % in "${worstModule}"): this base looks like a PiSSA residual (PEFT would subtract s·B₀A₀ twice). Load it on the original weights, or convert it to LoRA`,
    );
  }
}

/**
 * PEFT's `save_embedding_layers` stores the full base embedding beside an embedding's LoRA, and PEFT's loader
 * writes it into the model. peftjs never rewrites base weights from an adapter file: the stored embedding must
 * equal the model's, else the load is refused (a resized or retrained vocabulary belongs in the model folder).
 */
function assertSavedEmbeddingMatches(
  context: PlacementContext,
  name: string,
  module: string,
  saved: { readonly shape: readonly number[]; readonly data: Float32Array },
): void {
  const target = context.modules.get(module);
  if (target === undefined) return; // not a module of this model: reported as unexpected by the targeting
  const weight = target.readWeight().values;
  const sameShape = saved.shape[0] === weight.rows && saved.shape[1] === weight.columns;
  const firstDifference = sameShape
    ? saved.data.findIndex((value, index) => value !== weight.data[index])
    : 0;
  if (firstDifference >= 0) {
    throw new AdapterLoadError(
      `adapter "${name}" carries a full base embedding for "${module}" (PEFT's save_embedding_layers, [${saved.shape.join(", ")}]) that differs from the model's [${weight.rows}, ${weight.columns}]${sameShape ? ` first at element ${firstDifference}` : ""}: PEFT would overwrite the base with it; peftjs never rewrites base weights from an adapter file — load the model those weights belong to`,
    );
  }
}
