import { fromFloat32, PeftjsError, type RawTensor, toFloat32 } from "@peftjs/io";
import {
  type AdapterRecord,
  adapterRecordFromMetadata,
  adapterRecordToMetadata,
  checkCompatibility,
  deriveAdapterRecord,
  WeightStore,
} from "@peftjs/state";
import { createGenerator, keep, type Tensor } from "@peftjs/tensor";
import type { LoraAdapter, LoraFactors } from "../adapter.js";
import { type LoraConfig, loraConfigToJson, pissaIterations } from "../config/lora-config.js";
import { moduleLoraSettings } from "../config/scaling.js";
import { AdapterShapeError } from "../errors.js";
import { type InitializedAdapter, initializeAdapter } from "../initialize.js";
import { addScaled, type Matrix, matrix, multiply } from "../math/matrix.js";
import { type BaseWeight, type BaseWeightDtype, variantForInit } from "../variants/registry.js";
import {
  type LinearLayer,
  type LinearLayerHost,
  matrixToTensor,
  PlainLinear,
  tensorToMatrix,
} from "./linear-layer.js";
import { LoraLinear } from "./lora-linear.js";
import { oloraLeadingColumnsShare, pissaSubspaceShare } from "./subspace-guard.js";

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

/** An operation named an adapter the model does not have. */
export class UnknownAdapterError extends PeftjsError {
  constructor(name: string, known: readonly string[]) {
    super("adapter_unknown", `no adapter named "${name}"; the model has ${JSON.stringify(known)}`);
  }
}

/** Options of {@link LoraModel.create}. */
export interface LoraModelOptions {
  /**
   * The weight store of the base (keys `<module>.weight`, e.g. built from the checkpoint's tensors, so BF16
   * bases keep their dtype). Default: a store built from the model's linear weights (F32).
   */
  store?: WeightStore;
  /** The model's output head, never selected by `"all-linear"` (default `"lm_head"`). */
  outputModuleName?: string;
  /** `model_type` for PEFT's default target modules (default `"llama"`). */
  modelType?: string;
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
}

interface AdapterEntry {
  config: LoraConfig;
  record: AdapterRecord;
  mode: PissaMode | null;
  modules: string[];
  initSeed: number | null;
}

/** The metadata key under which peftjs records the seed of a PiSSA/OLoRA init, so reloads reproduce it. */
export const INIT_SEED_METADATA_KEY = "peftjs.init_seed";

const actor = "@peftjs/adapters";

function weightKey(moduleName: string): string {
  return `${moduleName}.weight`;
}

/**
 * LoRA adapters on a model, the peftjs counterpart of PEFT's `PeftModel`/`LoraModel`: it wraps the model's named
 * linear layers, holds any number of adapters (add / load / set active / delete / disable), merges and unmerges
 * them, and makes the PiSSA base-mutation hazard impossible by default: base weights change only in `residual`
 * mode, only through the weight store's journaled `mutate`, and never under another adapter's feet.
 */
export class LoraModel {
  /** The wrapped model. */
  readonly host: LinearLayerHost;
  /** The base weights (the source of truth for W; mutated only in residual mode). */
  readonly store: WeightStore;
  readonly #options: Required<Pick<LoraModelOptions, "outputModuleName" | "modelType">>;
  readonly #layers = new Map<string, LoraLinear>();
  readonly #originals = new Map<string, LinearLayer>();
  readonly #adapters = new Map<string, AdapterEntry>();
  #active: string[] = [];
  #disabled = false;

  private constructor(host: LinearLayerHost, store: WeightStore, options: LoraModelOptions) {
    this.host = host;
    this.store = store;
    this.#options = {
      outputModuleName: options.outputModuleName ?? "lm_head",
      modelType: options.modelType ?? "llama",
    };
  }

  /** Puts a model under adapter management. Nothing is wrapped until an adapter targets a layer. */
  static create(host: LinearLayerHost, options: LoraModelOptions = {}): LoraModel {
    let store = options.store;
    if (store === undefined) {
      const tensors = new Map<string, RawTensor>();
      for (const [name, layer] of host.linearModules()) {
        const values = layer.weight.toFloat32Array();
        tensors.set(weightKey(name), {
          dtype: "F32",
          shape: [...layer.weight.shape],
          data: new Uint8Array(values.buffer),
        });
      }
      store = WeightStore.from(tensors);
    }
    return new LoraModel(host, store, options);
  }

  /** Names of the adapters, in the order they were added. */
  get adapterNames(): string[] {
    return [...this.#adapters.keys()];
  }

  /** The active adapters. */
  get activeAdapters(): readonly string[] {
    return this.#active;
  }

  /** The record (kind, init, base fingerprint, …) of adapter `name`. */
  adapterRecord(name: string): AdapterRecord {
    return this.#entry(name).record;
  }

  /** The mode adapter `name` was placed in (null for plain LoRA). */
  adapterMode(name: string): PissaMode | null {
    return this.#entry(name).mode;
  }

  #entry(name: string): AdapterEntry {
    const entry = this.#adapters.get(name);
    if (entry === undefined) throw new UnknownAdapterError(name, this.adapterNames);
    return entry;
  }

  /** The current base weight of a module as the init sees it (store dtype, float32 values). */
  #baseWeight(moduleName: string): BaseWeight {
    const key = weightKey(moduleName);
    if (this.store.has(key)) {
      const raw = this.store.get(key).toRaw();
      const dtype: BaseWeightDtype = raw.dtype === "BF16" || raw.dtype === "F16" ? raw.dtype : "F32";
      return { values: matrix(raw.shape[0] as number, raw.shape[1] as number, toFloat32(raw)), dtype };
    }
    return { values: tensorToMatrix(this.#layerBase(moduleName).weight), dtype: "F32" };
  }

  #layerBase(moduleName: string): LinearLayer {
    return this.#layers.get(moduleName)?.base ?? this.host.getLinear(moduleName);
  }

  #linearWeights(): Map<string, BaseWeight> {
    const weights = new Map<string, BaseWeight>();
    for (const name of this.host.linearModules().keys()) weights.set(name, this.#baseWeight(name));
    return weights;
  }

  /**
   * Creates a fresh adapter from `config` (PEFT's `get_peft_model` / `add_adapter`): targets chosen by PEFT's
   * rules, factors by the init `init_lora_weights` selects. PiSSA/OLoRA go to overlay mode unless asked
   * otherwise.
   */
  addAdapter(name: string, config: LoraConfig, options: AdapterPlacementOptions = {}): void {
    this.#assertNewName(name);
    this.#assertLinearLayout(name, config);
    const seed = options.seed ?? 0;
    const mode = options.mode ?? "overlay";
    const variant = variantForInit(config.init_lora_weights);
    const initialized = initializeAdapter(config, this.#linearWeights(), {
      seed,
      outputModuleName: this.#options.outputModuleName,
      modelType: this.#options.modelType,
    });
    const record = deriveAdapterRecord(loraConfigToJson(config), { name });
    const guard = options.guard ?? true;
    if (variant.movesBaseWeight && mode === "residual") this.#assertBaseUnshared(name, guard);
    const fingerprint = this.store.modelFingerprint();
    this.#place(name, initialized.adapter, {
      record: { ...record, baseFingerprint: fingerprint, producer: { name: "peftjs", version: "0.1.0" } },
      mode: variant.movesBaseWeight ? mode : null,
      corrections: variant.movesBaseWeight && mode === "overlay" ? initialized.adapter.modules : undefined,
      residuals: variant.movesBaseWeight && mode === "residual" ? initialized.residuals : undefined,
      initSeed: variant.movesBaseWeight ? seed : null,
      activate: options.activate,
    });
  }

  /**
   * Loads an adapter (PEFT's `load_adapter`). Every load runs the state package's compatibility check; an
   * unconverted PiSSA/OLoRA adapter additionally gets a math check that the base is the original one (its A
   * rows must lie in W's top-r right singular subspace), because PEFT files carry no fingerprint. Such an
   * adapter is placed in overlay mode (default: its init is recomputed on the untouched base and subtracted
   * as a frozen correction) or residual mode (the base is rewritten through `mutate`, as PEFT does).
   */
  loadAdapter(name: string, adapter: LoraAdapter, options: AdapterPlacementOptions = {}): void {
    this.#assertNewName(name);
    this.#assertLinearLayout(name, adapter.config);
    const guard = options.guard ?? true;
    const mode = options.mode ?? "overlay";
    const stored = adapterRecordFromMetadata(adapter.metadata);
    const record: AdapterRecord = stored
      ? { ...stored, name }
      : deriveAdapterRecord(loraConfigToJson(adapter.config), { name });
    const variant = variantForInit(adapter.config.init_lora_weights);
    const movesBase = record.needsMutatedBase && variant.movesBaseWeight;
    const effectiveMode: PissaMode | null = movesBase ? mode : null;
    // Overlay mode emulates the residual base with a correction, so the store itself must be the original.
    const checked: AdapterRecord =
      effectiveMode === "overlay"
        ? { ...record, needsMutatedBase: false, residualBaseFingerprint: null }
        : record;
    const result = checkCompatibility(this.store, checked, {
      allowMutation: effectiveMode === "residual",
      force: !guard,
    });
    if (!result.ok) throw result.error;
    const modules = [...adapter.modules.keys()];
    for (const moduleName of modules) this.host.getLinear(moduleName);
    if (!movesBase) {
      this.#place(name, adapter, { record, mode: null, activate: options.activate, initSeed: null });
      return;
    }
    if (effectiveMode === "residual" && !result.requiresMutation) {
      // the store already is this adapter's recorded residual base: the adapter applies as it is
      this.#place(name, adapter, {
        record,
        mode: "residual",
        activate: options.activate,
        initSeed: seedFromMetadata(adapter) ?? null,
      });
      return;
    }
    if (guard) this.#assertOriginalSubspace(name, adapter);
    if (effectiveMode === "residual") this.#assertBaseUnshared(name, guard);
    const initial = options.initialAdapter
      ? this.#fromInitialAdapter(name, adapter, options.initialAdapter)
      : this.#rerunInit(name, adapter, options.seed);
    this.#place(name, adapter, {
      record,
      mode: effectiveMode,
      corrections: effectiveMode === "overlay" ? initial.adapter.modules : undefined,
      residuals: effectiveMode === "residual" ? initial.residuals : undefined,
      activate: options.activate,
      initSeed: options.initialAdapter ? null : (options.seed ?? seedFromMetadata(adapter) ?? 0),
    });
  }

  /** A₀/B₀ from a given init adapter, and the residual W − s·B₀A₀ they imply on the current base. */
  #fromInitialAdapter(name: string, adapter: LoraAdapter, initialAdapter: LoraAdapter): InitializedAdapter {
    const residuals = new Map<string, Matrix>();
    for (const moduleName of adapter.modules.keys()) {
      const start = initialAdapter.modules.get(moduleName);
      if (start === undefined) {
        throw new AdapterLoadError(`the initial adapter of "${name}" has no module "${moduleName}"`);
      }
      const { scaling } = moduleLoraSettings(adapter.config, moduleName);
      residuals.set(
        moduleName,
        addScaled(this.#baseWeight(moduleName).values, multiply(start.loraB, start.loraA), -scaling),
      );
    }
    return { adapter: initialAdapter, residuals, movesBaseWeight: true };
  }

  #rerunInit(name: string, adapter: LoraAdapter, seed: number | undefined): InitializedAdapter {
    const recordedSeed = seedFromMetadata(adapter);
    if (
      pissaIterations(adapter.config.init_lora_weights) !== undefined &&
      seed === undefined &&
      recordedSeed === undefined
    ) {
      throw new AdapterLoadError(
        `adapter "${name}" was initialised with ${JSON.stringify(adapter.config.init_lora_weights)} (a randomized SVD) and records no seed, so its A₀/B₀ cannot be recomputed: pass its init adapter as initialAdapter, or convert it to LoRA`,
      );
    }
    // model order, as PEFT's init visits modules (a file's keys are sorted, which would change the random stream)
    const weights = new Map<string, BaseWeight>();
    for (const moduleName of this.host.linearModules().keys()) {
      if (adapter.modules.has(moduleName)) weights.set(moduleName, this.#baseWeight(moduleName));
    }
    const config = {
      ...adapter.config,
      target_modules: [...adapter.modules.keys()],
      exclude_modules: null,
      layers_to_transform: null,
      layers_pattern: null,
    };
    return initializeAdapter(config, weights, { seed: seed ?? recordedSeed ?? 0 });
  }

  /**
   * The math check for adapters without a fingerprint. PiSSA: the mean over modules of the share of lora_A in
   * the base's top-r right singular subspace — ≥ 0.82 on the original base and ≤ 0.024 on the residual in every
   * PEFT fixture (randomized inits with few iterations on flat spectra score lower, ~0.5), so the threshold is
   * 0.2. OLoRA: the first r columns of a residual with s = 1 vanish.
   */
  #assertOriginalSubspace(name: string, adapter: LoraAdapter): void {
    const init = adapter.config.init_lora_weights;
    const shares: [string, number][] = [];
    for (const [moduleName, factors] of adapter.modules) {
      const weight = this.#baseWeight(moduleName).values;
      if (init === "olora") {
        const share = oloraLeadingColumnsShare(factors, weight);
        if (share < 0.05) {
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
    if (mean < 0.2) {
      const [worstModule, worstShare] = shares.reduce((worst, entry) =>
        entry[1] < worst[1] ? entry : worst,
      );
      throw new AdapterLoadError(
        `adapter "${name}" (unconverted ${JSON.stringify(init)}) needs the original base, but on average only ${(mean * 100).toFixed(1)} % of its lora_A lies in the base's top-r right singular subspace (least: ${(worstShare * 100).toFixed(1)} % in "${worstModule}"): this base looks like a PiSSA residual (PEFT would subtract s·B₀A₀ twice). Load it on the original weights, or convert it to LoRA`,
      );
    }
  }

  #assertBaseUnshared(name: string, guard: boolean): void {
    if (!guard) return;
    const others = this.adapterNames;
    if (others.length > 0) {
      throw new AdapterLoadError(
        `residual mode for "${name}" would rewrite base weights that adapters ${JSON.stringify(others)} are using (PEFT issue #2184): use overlay mode (the default), load it on a fork of the store, or convert it to LoRA`,
      );
    }
  }

  /** The wrapped layers store W as [out, in] (nn.Linear); fan_in_fan_out describes GPT-2's Conv1D. */
  #assertLinearLayout(name: string, config: LoraConfig): void {
    if (config.fan_in_fan_out) {
      throw new AdapterLoadError(
        `adapter "${name}" has fan_in_fan_out = true (weights stored [in, out], as GPT-2's Conv1D), but the layers of this model are Linear [out, in]; PEFT would warn and set it to false — set it to false in the config`,
      );
    }
  }

  #assertNewName(name: string): void {
    if (this.#adapters.has(name))
      throw new AdapterLoadError(`an adapter named "${name}" already exists; delete it first`);
  }

  #place(
    name: string,
    adapter: LoraAdapter,
    placement: {
      record: AdapterRecord;
      mode: PissaMode | null;
      corrections?: ReadonlyMap<string, LoraFactors>;
      residuals?: ReadonlyMap<string, Matrix>;
      activate: boolean | undefined;
      initSeed: number | null;
    },
  ): void {
    if (placement.residuals !== undefined) {
      for (const [moduleName, residual] of placement.residuals) this.#rewriteBase(name, moduleName, residual);
    }
    for (const [moduleName, factors] of adapter.modules) {
      const layer = this.#wrap(moduleName);
      const settings = moduleLoraSettings(adapter.config, moduleName);
      layer.setAdapter(name, {
        factors,
        scaling: settings.scaling,
        dropout: adapter.config.lora_dropout,
        correction: placement.corrections?.get(moduleName),
      });
    }
    let record = placement.record;
    if (placement.mode === "residual") {
      record = { ...record, residualBaseFingerprint: this.store.modelFingerprint() };
    }
    this.#adapters.set(name, {
      config: adapter.config,
      record,
      mode: placement.mode,
      modules: [...adapter.modules.keys()],
      initSeed: placement.initSeed,
    });
    if (placement.activate ?? this.#active.length === 0) this.setActiveAdapters([name]);
    else this.#applyActive();
  }

  /** Rewrites a base weight through the store (journaled, warned) and in the model. */
  #rewriteBase(adapterName: string, moduleName: string, residual: Matrix): void {
    const key = weightKey(moduleName);
    const dtype = this.store.has(key) ? this.store.get(key).dtype : "F32";
    const storageDtype = dtype === "BF16" || dtype === "F16" ? dtype : "F32";
    const data = fromFloat32(residual.data, storageDtype);
    if (this.store.has(key)) {
      this.store.mutate(
        key,
        { dtype: storageDtype, shape: [residual.rows, residual.columns], data },
        {
          reason: `residual W − s·B₀A₀ for adapter "${adapterName}" (residual mode)`,
          by: actor,
        },
      );
    }
    const rounded = toFloat32({ dtype: storageDtype, shape: [residual.rows, residual.columns], data });
    const layer = this.#wrap(moduleName);
    layer.base = new PlainLinear(
      moduleName,
      keep(matrixToTensor(matrix(residual.rows, residual.columns, rounded))),
    );
  }

  #wrap(moduleName: string): LoraLinear {
    const existing = this.#layers.get(moduleName);
    if (existing) return existing;
    let created: LoraLinear | undefined;
    this.host.replaceLinear(moduleName, (current) => {
      this.#originals.set(moduleName, current);
      created = new LoraLinear(current);
      return created;
    });
    const layer = created as LoraLinear;
    this.#layers.set(moduleName, layer);
    layer.setDisabled(this.#disabled);
    return layer;
  }

  /** Makes `names` the active adapters (PEFT's `set_adapter`); several may be active at once. */
  setActiveAdapters(names: string | readonly string[]): void {
    const list = typeof names === "string" ? [names] : [...names];
    for (const name of list) this.#entry(name);
    this.#active = list;
    this.#applyActive();
  }

  #applyActive(): void {
    for (const layer of this.#layers.values()) layer.setActive(this.#active);
  }

  /** Turns every adapter off (the output is the base model's) until {@link enableAdapters}. */
  disableAdapters(): void {
    this.#disabled = true;
    for (const layer of this.#layers.values()) layer.setDisabled(true);
  }

  /** Undoes {@link disableAdapters}. */
  enableAdapters(): void {
    this.#disabled = false;
    for (const layer of this.#layers.values()) layer.setDisabled(false);
  }

  /** Runs `fn` with adapters disabled (PEFT's `with model.disable_adapter():`). */
  withAdaptersDisabled<T>(fn: () => T): T {
    const was = this.#disabled;
    this.disableAdapters();
    try {
      return fn();
    } finally {
      if (!was) this.enableAdapters();
    }
  }

  /** Deletes adapter `name` from every layer. Its residual (residual mode) stays in the store's journal. */
  deleteAdapter(name: string): void {
    const entry = this.#entry(name);
    for (const moduleName of entry.modules) this.#layers.get(moduleName)?.deleteAdapter(name);
    this.#adapters.delete(name);
    this.#active = this.#active.filter((active) => active !== name);
  }

  /**
   * Merges adapters (default: the active ones) into the layers' weights. The base store is untouched: each
   * layer keeps W + Σ merged deltas beside W, so {@link unmerge} restores W's output exactly. With `safe`
   * (default true) a non-finite merged weight throws and nothing changes.
   */
  merge(names: readonly string[] = this.#active, options: { safe?: boolean } = {}): void {
    const safe = options.safe ?? true;
    const layers = [...this.#layers.values()];
    const before = layers.map((layer) => layer.mergedAdapters.length);
    try {
      for (const name of names) {
        this.#entry(name);
        for (const layer of layers) layer.merge(name, safe);
      }
    } catch (error) {
      layers.forEach((layer, index) => {
        while (layer.mergedAdapters.length > (before[index] as number)) layer.unmergeLast();
      });
      throw error;
    }
  }

  /** Unmerges the most recently merged adapter everywhere (LIFO); returns its name, or undefined. */
  unmerge(): string | undefined {
    let last: string | undefined;
    for (const layer of this.#layers.values()) {
      const candidate = layer.mergedAdapters.at(-1);
      if (candidate !== undefined && (last === undefined || last === candidate)) last = candidate;
    }
    if (last === undefined) return undefined;
    for (const layer of this.#layers.values()) if (layer.mergedAdapters.at(-1) === last) layer.unmergeLast();
    return last;
  }

  /** The adapters merged so far, oldest first. */
  get mergedAdapters(): string[] {
    const merged: string[] = [];
    for (const layer of this.#layers.values())
      for (const name of layer.mergedAdapters) if (!merged.includes(name)) merged.push(name);
    return merged;
  }

  /**
   * PEFT's `merge_and_unload`: writes W + Σ deltas of `names` (default the active adapters) into the base
   * through the store's `mutate` (journaled) and puts plain layers back into the model. Returns the merged
   * weights by module name. The adapters are gone afterwards.
   */
  mergeAndUnload(names: readonly string[] = this.#active): Map<string, Tensor> {
    for (const name of names) this.#entry(name);
    const merged = new Map<string, Tensor>();
    for (const [moduleName, layer] of this.#layers) {
      const relevant = names.filter((name) => layer.adapterNames().includes(name));
      const weight = layer.mergedWeightFor(relevant);
      const key = weightKey(moduleName);
      if (this.store.has(key) && relevant.length > 0) {
        const dtype =
          this.store.get(key).dtype === "BF16" ? "BF16" : this.store.get(key).dtype === "F16" ? "F16" : "F32";
        this.store.mutate(
          key,
          { dtype, shape: [weight.rows, weight.columns], data: fromFloat32(weight.data, dtype) },
          {
            reason: `merge_and_unload of adapters ${JSON.stringify(relevant)}`,
            by: actor,
          },
        );
      }
      const tensorWeight = keep(matrixToTensor(weight));
      merged.set(moduleName, tensorWeight);
      layer.dispose();
      this.host.replaceLinear(moduleName, new PlainLinear(moduleName, tensorWeight));
    }
    this.#forget();
    return merged;
  }

  /**
   * PEFT's `unload`: removes every adapter and puts the base layers back. In overlay mode that is the original
   * model; after residual mode it is the residual (as in PEFT) — restore a store snapshot to get W back.
   */
  unload(): void {
    for (const [moduleName, layer] of this.#layers) {
      this.host.replaceLinear(moduleName, layer.base);
      layer.dispose();
    }
    this.#forget();
  }

  #forget(): void {
    this.#layers.clear();
    this.#originals.clear();
    this.#adapters.clear();
    this.#active = [];
  }

  /**
   * The trainable parameters: lora_A and lora_B of the active adapters, keyed by PEFT's file keys
   * (`base_model.model.<module>.lora_A.weight`). Base weights and frozen corrections are never in it.
   */
  trainableParameters(): Map<string, Tensor> {
    const parameters = new Map<string, Tensor>();
    for (const slot of this.#trainableSlots()) {
      const tensors = slot.layer.adapterTensors(slot.adapter)!;
      parameters.set(slot.keyA, tensors.loraA);
      parameters.set(slot.keyB, tensors.loraB);
    }
    return parameters;
  }

  /**
   * Installs updated trainable parameters, keyed as {@link LoraModel.trainableParameters} returns them (one
   * optimiser step). Together the two methods make the model a `TrainableParameters` for `@peftjs/models`'
   * `train`. The model takes ownership of the new tensors and disposes the ones they replace.
   *
   * @throws AdapterShapeError when a key is missing or a shape differs.
   */
  setTrainableParameters(updated: ReadonlyMap<string, Tensor>): void {
    const slots = this.#trainableSlots();
    for (const slot of slots) {
      if (!updated.has(slot.keyA) || !updated.has(slot.keyB)) {
        throw new AdapterShapeError(
          `updated parameters lack ${updated.has(slot.keyA) ? slot.keyB : slot.keyA}`,
        );
      }
    }
    if (updated.size !== slots.length * 2) {
      const known = new Set(slots.flatMap((slot) => [slot.keyA, slot.keyB]));
      const extra = [...updated.keys()].filter((key) => !known.has(key));
      throw new AdapterShapeError(`updated parameters name no trainable tensor: ${extra.join(", ")}`);
    }
    for (const slot of slots)
      slot.layer.updateFactors(slot.adapter, updated.get(slot.keyA)!, updated.get(slot.keyB)!);
  }

  /**
   * The active adapters as the `trainable` argument of `@peftjs/models`' `train` (structurally its
   * `TrainableParameters`): `parameters()` is {@link LoraModel.trainableParameters}, `setParameters(updated)` is
   * {@link LoraModel.setTrainableParameters}.
   */
  get trainable(): {
    parameters(): Map<string, Tensor>;
    setParameters(updated: ReadonlyMap<string, Tensor>): void;
  } {
    return {
      parameters: () => this.trainableParameters(),
      setParameters: (updated) => this.setTrainableParameters(updated),
    };
  }

  #trainableSlots(): { layer: LoraLinear; adapter: string; keyA: string; keyB: string }[] {
    const slots: { layer: LoraLinear; adapter: string; keyA: string; keyB: string }[] = [];
    for (const [moduleName, layer] of this.#layers) {
      for (const name of this.#active) {
        if (layer.adapterTensors(name) === undefined) continue;
        const suffix = this.#active.length > 1 ? `.${name}` : "";
        slots.push({
          layer,
          adapter: name,
          keyA: `base_model.model.${moduleName}.lora_A${suffix}.weight`,
          keyB: `base_model.model.${moduleName}.lora_B${suffix}.weight`,
        });
      }
    }
    return slots;
  }

  /** Switches dropout on (training) or off for every wrapped layer; `seed` seeds the dropout masks. */
  setTraining(training: boolean, seed = 0): void {
    const generator = createGenerator(seed);
    for (const layer of this.#layers.values()) {
      layer.training = training;
      layer.generator = generator;
    }
  }

  /**
   * Adapter `name` as data, ready to save with PEFT's layout, its `peftjs.*` record in the metadata (base
   * fingerprint, mode, init seed).
   */
  getAdapter(name: string): LoraAdapter {
    const entry = this.#entry(name);
    const modules = new Map<string, LoraFactors>();
    for (const moduleName of entry.modules) {
      const state = this.#layers.get(moduleName)?.getAdapter(name);
      if (state) modules.set(moduleName, state.factors);
    }
    const metadata: Record<string, string> = { ...adapterRecordToMetadata(entry.record) };
    if (entry.initSeed !== null) metadata[INIT_SEED_METADATA_KEY] = String(entry.initSeed);
    return { config: entry.config, modules, metadata };
  }
}

function seedFromMetadata(adapter: LoraAdapter): number | undefined {
  const value = adapter.metadata[INIT_SEED_METADATA_KEY];
  return value === undefined ? undefined : Number(value);
}
