import { PeftjsError } from "@peftjs/io";
import { Embedding, Linear, type Module, RMSNorm } from "@peftjs/nn";
import {
  type AdapterRecord,
  adapterRecordToMetadata,
  deriveAdapterRecord,
  type Fingerprint,
  type WeightStore,
} from "@peftjs/state";
import { createGenerator, mul, type Tensor, tensor, zeros } from "@peftjs/tensor";
import type { HostTensor, LoraAdapter, LoraFactors, TrainableTokenRows } from "../adapter.js";
import { type LoraConfig, loraConfigToJson } from "../config/lora-config.js";
import { moduleLoraSettings } from "../config/scaling.js";
import type { SelectTargetModulesOptions } from "../config/target-modules.js";
import { AdapterShapeError, LoraConfigError } from "../errors.js";
import { type InitTarget, initializeAdapter } from "../initialize.js";
import { initMethodFor } from "../inits/registry.js";
import { LoraEmbedding } from "../layer/lora-embedding.js";
import { LoraLinear } from "../layer/lora-linear.js";
import { MixedBatchError } from "../layer/mixed-batch.js";
import { isCopyableModule, ModulesToSaveLayer } from "../layer/modules-to-save.js";
import { LORA_A, LORA_B, LORA_EMBEDDING_A, LORA_EMBEDDING_B } from "../layer/parameter-keys.js";
import { TiedOutputHead } from "../layer/tied-output-head.js";
import { TrainableTokensLayer } from "../layer/trainable-tokens.js";
import { matrixToTensor, tensorToMatrix } from "../math/host-tensor.js";
import type { Matrix } from "../math/matrix.js";
import { loraVariantFor } from "../variants/registry.js";
import { readBaseWeight, rewriteBaseBias, rewriteBaseTensor, rewriteBaseWeight } from "./base-weights.js";
import { assertHotswapConfigsCompatible, assertHotswapWeightsFit, HotswapError } from "./hotswap.js";
import { assertMixedBatchAllowed } from "./mixed-batch-check.js";
import {
  AdapterLoadError,
  type AdapterPlacementOptions,
  assertBaseUnshared,
  assertLinearLayout,
  INIT_SEED_METADATA_KEY,
  initialFactors,
  type PissaMode,
  type PlacementContext,
  planAdapterLoad,
  recordedInitSeed,
} from "./placement.js";
import { initialTokenRows } from "./token-targets.js";
import { TrainableAdapters } from "./trainable.js";

/** A layer carrying adapters: LoRA on a Linear or an Embedding, or trainable token rows. */
type AdapterLayer = LoraLinear | LoraEmbedding | TrainableTokensLayer | ModulesToSaveLayer;

/**
 * What {@link LoraModel.create} needs of a model: a module tree with linear layers at Hugging Face paths, and
 * its identity. `@peftjs/models`' `CausalLM` is one.
 */
export interface AdaptableModel extends Module {
  /** The base weights as stored (the model's identity; the source of truth for W). */
  readonly weights: WeightStore;
  /** `model_type`, for PEFT's default target modules. */
  readonly config: { readonly modelType: string };
  /** The output head (`lm_head`), never selected by `"all-linear"`. */
  readonly outputModuleName: string;
}

/** An operation named an adapter the model does not have. */
export class UnknownAdapterError extends PeftjsError {
  constructor(name: string, known: readonly string[]) {
    super("adapter_unknown", `no adapter named "${name}"; the model has ${JSON.stringify(known)}`);
  }
}

/** What a load did beyond placing the file's tensors, as PEFT's `load_adapter` reports it. */
export interface AdapterLoadResult {
  /**
   * Modules the config targets that have no tensors in the file: they keep the config's init (PEFT warns
   * "Found missing adapter keys while loading the checkpoint").
   */
  readonly missingModules: readonly string[];
  /** Modules in the file that the config does not target: ignored (PEFT's unexpected keys). */
  readonly unexpectedModules: readonly string[];
}

/** What {@link LoraModel.checkAdapter} found: how the adapter would be placed. */
export interface AdapterCheck extends AdapterLoadResult {
  /** Overlay or residual for a PiSSA/OLoRA adapter, null for plain LoRA. */
  readonly mode: PissaMode | null;
  /** The modules that would get the adapter. */
  readonly targets: readonly string[];
  /** The adapter's record (recorded or derived from its config). */
  readonly record: AdapterRecord;
}

/** Options of {@link LoraModel.forward}. */
export interface LoraForwardOptions {
  /**
   * A mixed batch, PEFT's `adapter_names`: one adapter name per batch row (`"__base__"` for the base model);
   * see {@link LoraModel.withAdapterNames}. Without it the active adapters run.
   */
  readonly adapterNames?: readonly string[];
  /** Every other option goes to the model's own `forward` (e.g. a `CausalLM`'s `cache`). */
  readonly [option: string]: unknown;
}

/** Options of {@link LoraModel.hotswapAdapter}. */
export interface HotswapOptions {
  /** The state compatibility check of a load (default true; false forces, as PEFT does not check). */
  guard?: boolean;
  /** Multiplies the new adapter's delta, as `weight` of a load (default 1). */
  weight?: number;
}

/** What {@link LoraModel.hotswapAdapter} did. */
export interface HotswapResult {
  /** Modules of the adapter that the new weights do not cover: their factors are now zero, as in PEFT. */
  readonly zeroedModules: readonly string[];
}

interface AdapterEntry {
  readonly config: LoraConfig;
  readonly record: AdapterRecord;
  readonly mode: PissaMode | null;
  readonly modules: readonly string[];
  /** The layers whose bias the adapter owns (`bias: "lora_only" | "all"`). */
  readonly biasModules: readonly string[];
  readonly initSeed: number | null;
  /** The embeddings whose token rows the adapter trains (`trainable_token_indices`). */
  readonly tokenModules: readonly string[];
  /** The modules the adapter holds a full trainable copy of (`modules_to_save`). */
  readonly copyModules: readonly string[];
}

interface Placement {
  readonly record: AdapterRecord;
  readonly mode: PissaMode | null;
  readonly corrections?: ReadonlyMap<string, LoraFactors>;
  readonly residuals?: ReadonlyMap<string, Matrix>;
  readonly initSeed: number | null;
  readonly activate: boolean | undefined;
  readonly weight: number;
}

/**
 * LoRA adapters on a model, the peftjs counterpart of PEFT's `PeftModel`/`LoraModel`: it wraps the model's
 * linear layers in {@link LoraLinear}s, holds any number of adapters (add / load / set active / delete /
 * disable), merges and unmerges them, exposes the trainable view, and makes the PiSSA base-mutation hazard
 * impossible by default: base weights change only in `residual` mode, only through the weight store's
 * journaled `mutate`, and never under another adapter's feet. Adapter parameters live on the active backend;
 * the host sees them only when an adapter is read out ({@link LoraModel.getAdapter}).
 */
export class LoraModel<Model extends AdaptableModel = AdaptableModel> {
  /** The wrapped model (its linear slots now hold LoRA layers where adapters are). */
  readonly model: Model;
  readonly #layers = new Map<string, AdapterLayer>();
  /** Output heads tied to an embedding that carries LoRA (PEFT leaves them unadapted). */
  readonly #tiedHeads = new Map<string, TiedOutputHead>();
  readonly #adapters = new Map<string, AdapterEntry>();
  #active: string[] = [];
  #disabled = false;
  #training = false;
  #rowAdapters: readonly string[] | undefined;

  private constructor(model: Model) {
    this.model = model;
  }

  /**
   * Puts a model under adapter management (e.g. a `CausalLM` of `@peftjs/models`). Its identity is the model's
   * own weight store, so adapters record the same base fingerprint in the library and on the command line.
   * Nothing is wrapped until an adapter targets a layer.
   */
  static create<Model extends AdaptableModel>(model: Model): LoraModel<Model> {
    return new LoraModel(model);
  }

  /** The base weights: the model's identity (`model.weights`), mutated only in residual mode and by merging out. */
  get store(): WeightStore {
    return this.model.weights;
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

  /**
   * Creates a fresh adapter from `config` (PEFT's `get_peft_model` / `add_adapter`): targets chosen by PEFT's
   * rules, factors by the init method `init_lora_weights` selects (base weights are read only by inits that
   * need them). PiSSA/OLoRA go to overlay mode unless asked otherwise.
   */
  addAdapter(name: string, config: LoraConfig, options: AdapterPlacementOptions = {}): void {
    this.#assertNewName(name);
    assertLinearLayout(name, config);
    const context = this.#context();
    const seed = options.seed ?? 0;
    const movesBase = initMethodFor(config.init_lora_weights).movesBaseWeight;
    const mode: PissaMode | null = movesBase ? (options.mode ?? "overlay") : null;
    if (mode === "residual") assertBaseUnshared(context, name, options.guard ?? true);
    // Overlay mode keeps W and subtracts s·B₀A₀ as a correction, so the residuals would go unused.
    const initialized = initializeAdapter(config, context.modules, {
      seed,
      ...context.targeting,
      residuals: mode === "residual",
    });
    const record = deriveAdapterRecord(loraConfigToJson(config), { name });
    const trainableTokens = initialTokenRows(config, context);
    this.#place(name, trainableTokens ? { ...initialized.adapter, trainableTokens } : initialized.adapter, {
      record: withDeferredBaseFingerprint(
        { ...record, producer: { name: "peftjs", version: "0.1.0" } },
        this.store,
      ),
      mode,
      corrections: mode === "overlay" ? initialized.adapter.modules : undefined,
      residuals: mode === "residual" ? initialized.residuals : undefined,
      initSeed: movesBase ? seed : null,
      activate: options.activate,
      weight: options.weight ?? 1,
    });
  }

  /**
   * Loads an adapter (PEFT's `load_adapter`). As in PEFT, the config decides which modules get the adapter
   * (`target_modules`, `exclude_modules`, `layers_to_transform`): the file's tensors fill them, targeted
   * modules without tensors keep the config's init, and tensors of untargeted modules are ignored (both
   * reported). Every load runs the state package's compatibility check; an unconverted PiSSA/OLoRA adapter
   * additionally gets a math check that the base is the original one, because PEFT files carry no
   * fingerprint. Such an adapter is placed in overlay mode (default: its init is recomputed on the untouched
   * base and subtracted as a frozen correction) or residual mode (the base is rewritten through `mutate`, as
   * PEFT does). A `peftjs init` adapter (PiSSA/OLoRA A₀/B₀ saved for conversion) is recognised by its record.
   */
  loadAdapter(name: string, adapter: LoraAdapter, options: AdapterPlacementOptions = {}): AdapterLoadResult {
    this.#assertNewName(name);
    const context = this.#context();
    const plan = planAdapterLoad(context, name, adapter, options);
    const initial = initialFactors(context, name, plan, options.seed);
    const modules = new Map<string, LoraFactors>();
    for (const target of plan.targets) {
      modules.set(target, plan.adapter.modules.get(target) ?? initial!.adapter.modules.get(target)!);
    }
    const trainableTokens = initialTokenRows(plan.adapter.config, context, plan.adapter.trainableTokens);
    this.#place(
      name,
      trainableTokens ? { ...plan.adapter, modules, trainableTokens } : { ...plan.adapter, modules },
      {
        record: plan.record,
        mode: plan.mode,
        corrections: plan.needsInit && plan.mode === "overlay" ? initial!.adapter.modules : undefined,
        residuals: plan.needsInit && plan.mode === "residual" ? initial!.residuals : undefined,
        initSeed:
          plan.mode === null
            ? null
            : !plan.needsInit
              ? (recordedInitSeed(plan.adapter) ?? null)
              : plan.initialAdapter !== undefined
                ? null
                : (options.seed ?? recordedInitSeed(plan.adapter) ?? 0),
        activate: options.activate,
        weight: options.weight ?? 1,
      },
    );
    return { missingModules: plan.missingModules, unexpectedModules: plan.unexpectedModules };
  }

  /**
   * Runs exactly the checks of {@link LoraModel.loadAdapter} without loading anything (`peftjs verify`): the
   * targeting, shapes, the compatibility check and, for an unconverted PiSSA/OLoRA adapter, the subspace check.
   *
   * @throws what `loadAdapter` would throw.
   */
  checkAdapter(name: string, adapter: LoraAdapter, options: AdapterPlacementOptions = {}): AdapterCheck {
    const plan = planAdapterLoad(this.#context(), name, adapter, options);
    this.#planBiases(name, plan.adapter, plan.targets);
    return {
      mode: plan.mode,
      targets: plan.targets,
      record: plan.record,
      missingModules: plan.missingModules,
      unexpectedModules: plan.unexpectedModules,
    };
  }

  /** Makes `names` the active adapters (PEFT's `set_adapter`); several may be active at once. */
  setActiveAdapters(names: string | readonly string[]): void {
    const list = typeof names === "string" ? [names] : [...names];
    for (const name of list) this.#entry(name);
    this.#active = list;
    for (const layer of this.#layers.values()) layer.setActive(this.#active);
  }

  /** Turns every adapter off (the output is the base model's) until {@link LoraModel.enableAdapters}. */
  disableAdapters(): void {
    this.#disabled = true;
    for (const layer of this.#layers.values()) layer.setDisabled(true);
  }

  /** Undoes {@link LoraModel.disableAdapters}. */
  enableAdapters(): void {
    this.#disabled = false;
    for (const layer of this.#layers.values()) layer.setDisabled(false);
  }

  /** Runs the synchronous `fn` with adapters disabled (PEFT's `with model.disable_adapter():`). */
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
    // every layer (deleting an adapter a layer does not carry does nothing); tied token heads read the
    // embedding's rows, so they let go first
    for (const { layer } of this.#layersTiedFirst()) layer.deleteAdapter(name);
    for (const moduleName of entry.biasModules) {
      const layer = this.#layers.get(moduleName);
      if (layer instanceof LoraLinear) layer.deleteBiasOverride(name);
    }
    this.#adapters.delete(name);
    this.#active = this.#active.filter((active) => active !== name);
  }

  /**
   * Merges adapters (default: the active ones) into the layers' weights, on the device. The base store is
   * untouched: each layer keeps its merged weight beside W, so {@link LoraModel.unmerge} restores W's output
   * exactly. With `safe` (default true) a non-finite merged weight throws and nothing changes.
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
        while (layer.mergedAdapters.length > before[index]!) layer.unmergeLast();
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
   * PEFT's `merge_and_unload`: writes the merged weights of `names` (default the active adapters) into the base
   * through the store's `mutate` (journaled), rounded to the stored dtype, and puts plain {@link Linear} layers
   * — with their biases — back into the model. Returns the weight of every unwrapped layer by module name: the
   * model's own tensors now (do not dispose them). The adapters are gone afterwards.
   */
  mergeAndUnload(names: readonly string[] = this.#active): Map<string, Tensor> {
    for (const name of names) this.#entry(name);
    const merged = new Map<string, Tensor>();
    for (const [moduleName, layer] of this.#layers) {
      if (layer instanceof ModulesToSaveLayer) {
        this.#unloadCopy(moduleName, layer, names);
        continue;
      }
      if (!(layer instanceof LoraLinear)) {
        if (!(layer instanceof TrainableTokensLayer && layer.isTied)) {
          merged.set(moduleName, this.#mergeAndUnloadEmbedding(moduleName, layer, names));
        }
        continue;
      }
      const relevant = names.filter((name) => layer.hasAdapter(name));
      let base = layer.base_layer;
      // an adapter's own bias (bias "lora_only" / "all") becomes the base bias, as PEFT's merged model keeps it
      const ownBias = names.map((name) => layer.biasOverride(name)).find((bias) => bias !== undefined);
      if (relevant.length > 0 || ownBias !== undefined) {
        let weight = base.weight;
        if (relevant.length > 0) {
          const mergedWeight = layer.mergedWeightFor(relevant);
          weight = rewriteBaseWeight(
            this.store,
            moduleName,
            tensorToMatrix(mergedWeight),
            `merge_and_unload of adapters ${JSON.stringify(relevant)}`,
          );
          mergedWeight.dispose();
        }
        const bias =
          ownBias === undefined
            ? base.bias
            : rewriteBaseBias(
                this.store,
                moduleName,
                ownBias.toFloat32Array(),
                `merge_and_unload of the bias trained by adapters ${JSON.stringify(names)}`,
              );
        base = new Linear(weight, bias);
      }
      merged.set(moduleName, base.weight);
      this.#unwrap(moduleName, layer, base);
    }
    this.#forget();
    return merged;
  }

  /**
   * PEFT's `unload`: removes every adapter and puts the base layers back. In overlay mode that is the original
   * model; after residual mode it is the residual (as in PEFT) — restore a store snapshot to get W back.
   */
  unload(): void {
    for (const [moduleName, layer] of this.#layers) this.#unwrap(moduleName, layer, layer.base_layer);
    for (const [moduleName, head] of this.#tiedHeads)
      this.model.replaceModule(moduleName, () => head.base_layer);
    this.#forget();
  }

  /**
   * mergeAndUnload of a `modules_to_save` module (PEFT's `unload_and_optionally_merge_module`): the copy of the
   * first of `names` that has one takes the module's place, its parameters written into the store (journaled);
   * without one the original comes back.
   */
  #unloadCopy(moduleName: string, layer: ModulesToSaveLayer, names: readonly string[]): void {
    const owner = names.find((name) => layer.hasAdapter(name));
    if (owner === undefined) {
      this.#unwrap(moduleName, layer, layer.original_module);
      return;
    }
    const copy = layer.releaseModule(owner);
    const parameters = copy.namedParameters();
    const stored = new Map<string, Tensor>();
    for (const [local, value] of parameters) {
      stored.set(
        local,
        rewriteBaseTensor(
          this.store,
          `${moduleName}.${local}`,
          value.toFloat32Array(),
          value.shape,
          `merge_and_unload of adapter "${owner}" (modules_to_save)`,
        ),
      );
      value.dispose();
    }
    const weight = stored.get("weight")!;
    const original = layer.original_module;
    const module =
      original instanceof Linear
        ? new Linear(weight, stored.get("bias"))
        : original instanceof Embedding
          ? new Embedding(weight)
          : new RMSNorm(weight, { eps: original.eps, unitOffset: original.unitOffset });
    this.#unwrap(moduleName, layer, module);
  }

  /**
   * The modules `modules_to_save` names (PEFT's string-suffix match over the model's modules), outside adapter
   * layers' insides, in model order.
   *
   * @throws LoraConfigError when an entry matches nothing; AdapterLoadError for a module that cannot be copied
   *   or that already carries LoRA or token rows.
   */
  #copyTargets(name: string, config: LoraConfig): string[] {
    const entries = config.modules_to_save ?? [];
    if (entries.length === 0) return [];
    const targets: string[] = [];
    let inside: string | undefined;
    for (const [path, module] of this.model.namedModules()) {
      if (inside !== undefined && path.startsWith(`${inside}.`)) continue;
      inside = this.#layers.has(path) || this.#tiedHeads.has(path) ? path : undefined;
      if (path === "" || !entries.some((entry) => path.endsWith(entry))) continue;
      const layer = this.#layers.get(path);
      if (layer !== undefined && !(layer instanceof ModulesToSaveLayer)) {
        throw new AdapterLoadError(
          `modules_to_save of adapter "${name}" names "${path}", which already carries LoRA or token rows`,
        );
      }
      if (layer === undefined && !isCopyableModule(module)) {
        throw new AdapterLoadError(
          `modules_to_save of adapter "${name}" names "${path}", a ${module.constructor.name}; peftjs copies Linear, Embedding and RMSNorm modules`,
        );
      }
      targets.push(path);
    }
    const unmatched = entries.filter((entry) => !targets.some((path) => path.endsWith(entry)));
    if (unmatched.length > 0) {
      throw new LoraConfigError(
        `modules_to_save ${JSON.stringify(unmatched)} matches no module of the model (PEFT matches by name suffix, e.g. "lm_head")`,
      );
    }
    return targets;
  }

  /**
   * mergeAndUnload of an embedding (LoRA or token rows): E + ΣΔE, or E with the rows written in, goes into the
   * store, and an output head tied to the embedding gets the same new tensor — as in PEFT, where the merge writes
   * into the tensor both share (so a LoRA embedding's merged model differs from its unmerged one: see
   * {@link TiedOutputHead}). Returns the embedding's weight.
   */
  #mergeAndUnloadEmbedding(
    moduleName: string,
    layer: LoraEmbedding | TrainableTokensLayer,
    names: readonly string[],
  ): Tensor {
    const relevant = names.filter((name) => layer.hasAdapter(name));
    const original = layer.base_layer as Embedding;
    let base = original;
    if (relevant.length > 0) {
      const weight = layer.mergedWeightFor(relevant);
      const stored = rewriteBaseWeight(
        this.store,
        moduleName,
        tensorToMatrix(weight),
        `merge_and_unload of adapters ${JSON.stringify(relevant)}`,
      );
      weight.dispose();
      base = new Embedding(stored);
    }
    const head = this.#tiedHeadPath(original);
    if (head !== undefined) {
      const headLayer = this.#layers.get(head);
      if (headLayer instanceof TrainableTokensLayer) headLayer.dispose();
      this.#layers.delete(head);
      this.#tiedHeads.delete(head);
      this.model.replaceModule(head, () => new Linear(base.weight));
    }
    this.#unwrap(moduleName, layer, base);
    return base.weight;
  }

  /**
   * The modules adapter `name` adapts outside LoRA's A/B path on linear layers (embedding LoRA, token rows,
   * copies, its own layer biases), which neither a mixed batch nor a hot-swap routes.
   */
  #nonLinearModules(name: string): string[] {
    const entry = this.#entry(name);
    return [
      ...entry.modules.filter((module) => !(this.#layers.get(module) instanceof LoraLinear)),
      ...entry.tokenModules,
      ...entry.copyModules,
      ...entry.biasModules.map((module) => `${module}.bias`),
    ];
  }

  /**
   * Mixed batches route rows through LoRA layers on linear modules only: an adapter that also has embedding
   * LoRA, trainable token rows or `modules_to_save` copies would have those parts applied to every row (or to
   * none), so it is refused rather than computed wrongly.
   *
   * @throws MixedBatchError (`layer`) naming the adapter and the module.
   */
  #assertLinearOnly(adapterNames: readonly string[]): void {
    for (const name of new Set(adapterNames)) {
      if (!this.#adapters.has(name)) continue;
      const other = this.#nonLinearModules(name);
      if (other.length > 0) {
        throw new MixedBatchError(
          "layer",
          `adapter "${name}" adapts ${JSON.stringify(other[0])}, which is not a LoRA linear layer (embedding LoRA, token rows or modules_to_save); a mixed batch supports LoRA on linear layers only: run its rows separately with setActiveAdapters`,
        );
      }
    }
  }

  /**
   * Runs `run` with a mixed batch (PEFT's `adapter_names`): every forward inside it takes batch row `i` through
   * adapter `adapterNames[i]` alone — `"__base__"` for the base model — whatever is active, so one batch serves
   * many adapters without merging. Each layer gathers the rows of each adapter on the device (no read-back),
   * and rows keep their adapter across a generation's cache steps. `run` may be async (the names stay set
   * until its promise settles; do not run other forwards of this model meanwhile). Every forward inside must
   * have `adapterNames.length` rows.
   *
   * @throws MixedBatchError (before running anything) for an empty list, unknown names, training mode, merged
   *   adapters or a variant adapter (DoRA), as PEFT refuses them; from a forward whose rows do not match.
   */
  withAdapterNames<T>(adapterNames: readonly string[], run: () => T): T {
    const entries = new Map([...this.#adapters].map(([name, entry]) => [name, entry.config]));
    assertMixedBatchAllowed(adapterNames, {
      adapters: entries,
      training: this.#training,
      merged: this.mergedAdapters,
    });
    this.#assertLinearOnly(adapterNames);
    const previous = this.#rowAdapters;
    const setRows = (names: readonly string[] | undefined) => {
      this.#rowAdapters = names;
      for (const layer of this.#layers.values()) if (layer instanceof LoraLinear) layer.setRowAdapters(names);
    };
    setRows(adapterNames);
    const restore = () => setRows(previous);
    let result: T;
    try {
      result = run();
    } catch (error) {
      restore();
      throw error;
    }
    if (result instanceof Promise) return result.finally(restore) as T;
    restore();
    return result;
  }

  /**
   * The wrapped model's forward over a batch of token ids, as PEFT's `model(input_ids, adapter_names=…)`:
   * with `adapterNames` a mixed batch ({@link LoraModel.withAdapterNames}), else the active adapters. Other
   * options (a `CausalLM`'s `cache`) are passed on.
   *
   * @throws MixedBatchError when `adapterNames` does not have one name per batch row, or as
   *   {@link LoraModel.withAdapterNames}; AdapterLoadError when the model has no `forward`.
   */
  forward(inputIds: readonly (readonly number[])[] | Tensor, options: LoraForwardOptions = {}): Tensor {
    const { adapterNames, ...modelOptions } = options;
    const model = this.model as unknown as {
      forward?: (ids: typeof inputIds, options: Record<string, unknown>) => Tensor;
    };
    if (typeof model.forward !== "function") {
      throw new AdapterLoadError("the wrapped model has no forward(inputIds, options) method");
    }
    const run = () => model.forward!(inputIds, modelOptions);
    if (adapterNames === undefined) return run();
    const rows = Array.isArray(inputIds) ? inputIds.length : (inputIds as Tensor).shape[0];
    if (rows !== adapterNames.length) {
      throw new MixedBatchError(
        "length",
        `adapterNames has ${adapterNames.length} names (${JSON.stringify(adapterNames)}) but the batch has ${rows} rows; give one name per row`,
      );
    }
    return this.withAdapterNames(adapterNames, run);
  }

  /**
   * PEFT's `hotswap_adapter`: replaces the weights of loaded adapter `name` with `adapter`'s, in the layers
   * that already hold it — no module is wrapped, replaced or rebuilt, the base is not touched and the name,
   * active state and other adapters stay. The scaling is recomputed per module from the new config (`r`,
   * `lora_alpha`, `rank_pattern` may differ). Modules the new file does not cover get zero factors, as in
   * PEFT. The model's config and record of `name` become the new adapter's, so saving it writes the new one.
   *
   * @throws HotswapError when the configs differ in `use_rslora`, `lora_dropout`, `alpha_pattern` or
   *   `use_dora` (PEFT's check), the new weights target other modules or another rank, `name` is merged, or
   *   either adapter is an unconverted PiSSA/OLoRA one; the load checks' errors (base compatibility, shapes).
   *   Nothing changes when it throws.
   */
  hotswapAdapter(name: string, adapter: LoraAdapter, options: HotswapOptions = {}): HotswapResult {
    const entry = this.#entry(name);
    if (entry.mode !== null) {
      throw new HotswapError(
        `cannot hot-swap adapter "${name}": it is a PiSSA/OLoRA adapter in ${entry.mode} mode, whose correction depends on its init; delete it and load the new one instead`,
      );
    }
    if (this.mergedAdapters.includes(name)) {
      throw new HotswapError(`cannot hot-swap adapter "${name}": it is merged; unmerge it first`);
    }
    const nonLinear = this.#nonLinearModules(name);
    if (nonLinear.length > 0) {
      throw new HotswapError(
        `cannot hot-swap adapter "${name}": it adapts ${JSON.stringify(nonLinear[0])}, which is not a LoRA linear layer (embedding LoRA, token rows or modules_to_save); delete it and load the new one instead`,
      );
    }
    assertHotswapConfigsCompatible(name, entry.config, adapter.config);
    const plan = planAdapterLoad(this.#context(), name, adapter, { guard: options.guard });
    if (plan.mode !== null) {
      throw new HotswapError(
        `cannot hot-swap adapter "${name}" with an unconverted ${JSON.stringify(plan.adapter.config.init_lora_weights)} adapter (its init must be recomputed); convert it to LoRA first`,
      );
    }
    const layerOf = (module: string) => this.#layers.get(module) as LoraLinear;
    assertHotswapWeightsFit(name, entry.modules, plan.adapter, (module) => {
      const layer = layerOf(module);
      return new Map(
        layer.parameterNames(name).map((parameter) => [parameter, layer.parameter(name, parameter).shape]),
      );
    });
    const weight = options.weight ?? 1;
    const zeroedModules: string[] = [];
    for (const module of entry.modules) {
      const layer = layerOf(module);
      const factors = plan.adapter.modules.get(module);
      const parameters = new Map<string, Tensor>();
      if (factors === undefined) {
        for (const parameter of layer.parameterNames(name))
          parameters.set(parameter, zeros(layer.parameter(name, parameter).shape));
        zeroedModules.push(module);
      } else {
        parameters.set(LORA_A, matrixToTensor(factors.loraA));
        parameters.set(LORA_B, matrixToTensor(factors.loraB));
        for (const [parameter, value] of factors.extras ?? [])
          parameters.set(parameter, tensor(value.data, value.shape));
      }
      const { scaling } = moduleLoraSettings(plan.adapter.config, module);
      layer.swapAdapter(name, parameters, scaling * weight);
    }
    this.#adapters.set(name, { ...entry, config: plan.adapter.config, record: plan.record });
    return { zeroedModules };
  }

  /**
   * The trainable parameters of the active adapters keyed by PEFT's file keys
   * (`base_model.model.<module>.lora_A.weight`; with several active adapters the in-model keys
   * `….lora_A.<adapter>.weight`). Base weights and frozen corrections are never in it.
   */
  trainableParameters(): Map<string, Tensor> {
    return this.trainable.parameters();
  }

  /**
   * Installs updated trainable parameters, keyed as {@link LoraModel.trainableParameters} returns them (one
   * optimiser step), on the device. The model takes ownership of the new tensors and disposes the ones they
   * replace.
   *
   * @throws AdapterShapeError when a key is missing or a shape differs.
   */
  setTrainableParameters(updated: ReadonlyMap<string, Tensor>): void {
    this.trainable.setParameters(updated);
  }

  /** The active adapters as the `trainable` argument of `@peftjs/models`' `train`. */
  get trainable(): TrainableAdapters {
    return new TrainableAdapters(
      () => this.#layers,
      () => this.#active,
    );
  }

  /** Switches dropout on (training) or off for every wrapped layer; `seed` seeds the dropout masks. */
  setTraining(training: boolean, seed = 0): void {
    this.#training = training;
    const generator = createGenerator(seed);
    for (const layer of this.#layers.values()) {
      layer.training = training;
      layer.generator = generator;
    }
  }

  /**
   * Adapter `name` as data, ready to save with PEFT's layout (its parameters read back from the device), its
   * `peftjs.*` record in the metadata (base fingerprint, mode, init seed).
   */
  getAdapter(name: string): LoraAdapter {
    const entry = this.#entry(name);
    const modules = new Map<string, LoraFactors>();
    for (const moduleName of entry.modules) {
      const layer = this.#layers.get(moduleName);
      if (layer instanceof LoraLinear || layer instanceof LoraEmbedding) {
        if (!layer.hasAdapter(name)) continue;
        modules.set(moduleName, layer.readAdapter(name));
      }
    }
    const modulesToSave = new Map<string, Map<string, HostTensor>>();
    for (const moduleName of entry.copyModules) {
      const layer = this.#layers.get(moduleName);
      if (layer instanceof ModulesToSaveLayer && layer.hasAdapter(name)) {
        modulesToSave.set(moduleName, layer.readAdapter(name));
      }
    }
    const trainableTokens = new Map<string, TrainableTokenRows>();
    for (const moduleName of entry.tokenModules) {
      const layer = this.#layers.get(moduleName);
      if (layer instanceof TrainableTokensLayer && layer.hasAdapter(name)) {
        trainableTokens.set(moduleName, layer.readAdapter(name));
      }
    }
    const metadata: Record<string, string> = { ...adapterRecordToMetadata(entry.record) };
    if (entry.initSeed !== null) metadata[INIT_SEED_METADATA_KEY] = String(entry.initSeed);
    const biases = new Map<string, HostTensor>();
    for (const moduleName of entry.biasModules) {
      const layer = this.#layers.get(moduleName);
      const bias = layer instanceof LoraLinear ? layer.biasOverride(name) : undefined;
      if (bias !== undefined) biases.set(moduleName, { shape: bias.shape, data: bias.toFloat32Array() });
    }
    return {
      config: entry.config,
      modules,
      ...(trainableTokens.size === 0 ? {} : { trainableTokens }),
      ...(modulesToSave.size === 0 ? {} : { modulesToSave }),
      ...(biases.size === 0 ? {} : { biases }),
      metadata,
    };
  }

  #entry(name: string): AdapterEntry {
    const entry = this.#adapters.get(name);
    if (entry === undefined) throw new UnknownAdapterError(name, this.adapterNames);
    return entry;
  }

  #assertNewName(name: string): void {
    if (this.#adapters.has(name)) {
      throw new AdapterLoadError(`an adapter named "${name}" already exists; delete it first`);
    }
  }

  /** The model's linear layers by path, in model order: plain ones and the base layers of wrapped ones. */
  #linearLayers(): Map<string, Linear | Embedding> {
    const result = new Map<string, Linear | Embedding>();
    let inside: string | undefined;
    for (const [path, module] of this.model.namedModules()) {
      if (inside !== undefined && path.startsWith(`${inside}.`)) continue;
      inside = undefined;
      if (module instanceof ModulesToSaveLayer) {
        const original = module.original_module;
        if (original instanceof Linear || original instanceof Embedding) result.set(path, original);
        inside = path;
      } else if (
        module instanceof LoraLinear ||
        module instanceof LoraEmbedding ||
        module instanceof TrainableTokensLayer ||
        module instanceof TiedOutputHead
      ) {
        result.set(path, module.base_layer);
        inside = path;
      } else if (module instanceof Linear || module instanceof Embedding) {
        result.set(path, module);
      }
    }
    return result;
  }

  /** The path of the output head tied to `embedding` (a head whose weight is the embedding's), if any. */
  #tiedHeadPath(embedding: Embedding): string | undefined {
    const path = this.model.outputModuleName;
    let head: Module;
    try {
      head = this.model.getModule(path);
    } catch {
      return undefined;
    }
    const base =
      head instanceof TiedOutputHead || head instanceof TrainableTokensLayer || head instanceof LoraLinear
        ? head.base_layer
        : head;
    return base instanceof Linear && base.weight === embedding.weight ? path : undefined;
  }

  /** Every adapter layer with its path, output heads tied to a token layer first (they read its rows). */
  #layersTiedFirst(): { path: string; layer: AdapterLayer }[] {
    const all = [...this.#layers].map(([path, layer]) => ({ path, layer }));
    const tied = (entry: { layer: AdapterLayer }) =>
      entry.layer instanceof TrainableTokensLayer && entry.layer.isTied ? 0 : 1;
    return all.sort((a, b) => tied(a) - tied(b));
  }

  #context(): PlacementContext {
    const modules = new Map<string, InitTarget>();
    for (const [path, layer] of this.#linearLayers()) {
      modules.set(
        path,
        layer instanceof Embedding
          ? {
              inFeatures: layer.numEmbeddings,
              outFeatures: layer.embeddingDim,
              readWeight: () => readBaseWeight(this.store, path, layer.weight),
              kind: "embedding",
            }
          : {
              inFeatures: layer.inFeatures,
              outFeatures: layer.outFeatures,
              readWeight: () => readBaseWeight(this.store, path, layer.weight),
            },
      );
    }
    const targeting: SelectTargetModulesOptions = {
      outputModuleName: this.model.outputModuleName,
      modelType: this.model.config.modelType,
    };
    return { store: this.store, modules, targeting, adapterNames: this.adapterNames };
  }

  #place(name: string, adapter: LoraAdapter, placement: Placement): void {
    const variant = loraVariantFor(adapter.config);
    // decided before any layer changes, so a refusal leaves the model as it was
    const biasModules = this.#planBiases(name, adapter, adapter.modules.keys());
    for (const [moduleName, residual] of placement.residuals ?? []) {
      const layer = this.#wrap(moduleName);
      const previous = layer.base_layer;
      const weight = rewriteBaseWeight(
        this.store,
        moduleName,
        residual,
        `residual W − s·B₀A₀ for adapter "${name}" (residual mode)`,
      );
      layer.replaceBase(new Linear(weight, previous.bias));
      this.#releaseIfUnused([previous.weight]);
    }
    const copyModules = this.#copyTargets(name, adapter.config);
    for (const moduleName of copyModules) {
      const stored = adapter.modulesToSave?.get(moduleName);
      const parameters =
        stored && new Map([...stored].map(([local, value]) => [local, tensor(value.data, value.shape)]));
      this.#wrapCopy(moduleName).setAdapter(name, parameters);
    }
    for (const [moduleName, rows] of adapter.trainableTokens ?? []) {
      if (adapter.modules.has(moduleName)) {
        throw new AdapterLoadError(
          `adapter "${name}" both targets "${moduleName}" with LoRA and trains token rows of it; PEFT allows one or the other`,
        );
      }
      this.#wrapTokens(moduleName).setAdapter(name, rows.indices, matrixToTensor(rows.rows));
    }
    for (const [moduleName, factors] of adapter.modules) {
      const { scaling } = moduleLoraSettings(adapter.config, moduleName);
      if (factors.kind === "embedding") {
        if (variant.extraParameters.length > 0) {
          throw new AdapterLoadError(
            `adapter "${name}": variant "${variant.name}" is not supported on the embedding "${moduleName}" (only plain LoRA is)`,
          );
        }
        this.#wrapEmbedding(moduleName).setAdapter(name, {
          scaling: scaling * placement.weight,
          parameters: new Map([
            [LORA_EMBEDDING_A, matrixToTensor(factors.loraA)],
            [LORA_EMBEDDING_B, matrixToTensor(factors.loraB)],
          ]),
        });
        continue;
      }
      const layer = this.#wrap(moduleName);
      const parameters = new Map<string, Tensor>([
        [LORA_A, matrixToTensor(factors.loraA)],
        [LORA_B, matrixToTensor(factors.loraB)],
      ]);
      for (const [parameter, value] of factors.extras ?? [])
        parameters.set(parameter, tensor(value.data, value.shape));
      const correction = placement.corrections?.get(moduleName);
      layer.setAdapter(name, {
        variant,
        scaling: scaling * placement.weight,
        dropout: adapter.config.lora_dropout,
        parameters,
        correction: correction && {
          loraA: matrixToTensor(correction.loraA),
          loraB: matrixToTensor(correction.loraB),
          scaling,
        },
      });
    }
    this.#placeBiases(name, adapter, biasModules);
    let record = placement.record;
    if (placement.mode === "residual") {
      record = { ...record, residualBaseFingerprint: this.store.modelFingerprint() };
    }
    this.#adapters.set(name, {
      config: adapter.config,
      record,
      mode: placement.mode,
      modules: [...adapter.modules.keys()],
      biasModules,
      initSeed: placement.initSeed,
      tokenModules: [...(adapter.trainableTokens?.keys() ?? [])],
      copyModules,
    });
    if (placement.activate ?? this.#active.length === 0) this.setActiveAdapters([name]);
    else this.setActiveAdapters(this.#active);
  }

  /**
   * PEFT's `bias: "lora_only" | "all"`: the layers whose bias trains with the adapter — those LoRA wraps, or
   * every linear layer with a bias. Changes nothing; {@link LoraModel.#placeBiases} then gives them the
   * adapter's own bias.
   *
   * @throws AdapterLoadError when another adapter already trains biases (PEFT allows one), when the file holds
   *   a bias for a layer the mode does not train, or (`"all"`) when the model has biases outside linear layers.
   */
  #planBiases(name: string, adapter: LoraAdapter, wrapped: Iterable<string>): string[] {
    const wrappedModules = new Set(wrapped);
    const mode = adapter.config.bias;
    if (mode === "none") {
      if (adapter.biases !== undefined && adapter.biases.size > 0) {
        throw new AdapterLoadError(`adapter "${name}" holds layer biases but its config says bias "none"`);
      }
      return [];
    }
    const other = [...this.#adapters].find(([, entry]) => entry.config.bias !== "none");
    if (other !== undefined) {
      throw new AdapterLoadError(
        `adapter "${name}" has bias "${mode}", but adapter "${other[0]}" already trains biases (bias "${other[1].config.bias}"); as in PEFT, only one adapter may have a bias mode other than "none"`,
      );
    }
    const layers = this.#linearLayers();
    if (mode === "all") {
      for (const key of this.model.namedParameters().keys()) {
        if (!key.endsWith(".bias")) continue;
        const owner = key.slice(0, -".bias".length).replace(/\.base_layer$/, "");
        if (!layers.has(owner)) {
          throw new AdapterLoadError(
            `adapter "${name}" has bias "all", but "${key}" is not the bias of a linear layer; peftjs trains linear-layer biases only`,
          );
        }
      }
    }
    const trained = [...layers]
      .filter(
        ([path, layer]) =>
          layer instanceof Linear && layer.bias !== undefined && (mode === "all" || wrappedModules.has(path)),
      )
      .map(([path]) => path);
    const unexpected = [...(adapter.biases?.keys() ?? [])].filter((module) => !trained.includes(module));
    if (unexpected.length > 0) {
      throw new AdapterLoadError(
        `adapter "${name}" holds biases for ${JSON.stringify(unexpected)}, which bias "${mode}" does not train on this model (it trains ${JSON.stringify(trained)})`,
      );
    }
    for (const moduleName of trained) {
      const saved = adapter.biases?.get(moduleName);
      const rows = (layers.get(moduleName) as Linear).outFeatures;
      if (saved !== undefined && (saved.shape.length !== 1 || saved.shape[0] !== rows)) {
        throw new AdapterShapeError(
          `adapter "${name}" has a bias [${saved.shape.join(", ")}] for "${moduleName}", whose bias is [${rows}]`,
        );
      }
    }
    return trained;
  }

  /** Gives each planned layer the adapter's own bias: the file's, else a copy of the base bias. */
  #placeBiases(name: string, adapter: LoraAdapter, trained: readonly string[]): void {
    for (const moduleName of trained) {
      const layer = this.#wrap(moduleName);
      const saved = adapter.biases?.get(moduleName);
      layer.setBiasOverride(
        name,
        saved === undefined ? mul(layer.base_layer.bias!, 1) : tensor(saved.data, saved.shape),
      );
    }
  }

  #wrap(moduleName: string): LoraLinear {
    const existing = this.#layers.get(moduleName);
    if (existing instanceof LoraLinear) return existing;
    if (existing)
      throw new AdapterShapeError(`"${moduleName}" is not a Linear layer, so LoRA cannot wrap it`);
    let created: LoraLinear | undefined;
    this.model.replaceModule(moduleName, (current) => {
      if (!(current instanceof Linear)) {
        throw new AdapterShapeError(`"${moduleName}" is not a Linear layer, so LoRA cannot wrap it`);
      }
      created = new LoraLinear(current);
      return created;
    });
    const layer = created!;
    this.#layers.set(moduleName, layer);
    layer.setDisabled(this.#disabled);
    layer.setRowAdapters(this.#rowAdapters);
    return layer;
  }

  /** Wraps the module `moduleName` for `modules_to_save` copies. */
  #wrapCopy(moduleName: string): ModulesToSaveLayer {
    const existing = this.#layers.get(moduleName);
    if (existing instanceof ModulesToSaveLayer) return existing;
    let created: ModulesToSaveLayer | undefined;
    this.model.replaceModule(moduleName, (current) => {
      if (!isCopyableModule(current)) {
        throw new AdapterShapeError(`"${moduleName}" cannot be copied for modules_to_save`);
      }
      created = new ModulesToSaveLayer(current);
      return created;
    });
    const layer = created!;
    this.#layers.set(moduleName, layer);
    layer.setDisabled(this.#disabled);
    return layer;
  }

  /** Wraps the embedding `moduleName` for LoRA, and an output head tied to it in a {@link TiedOutputHead}. */
  #wrapEmbedding(moduleName: string): LoraEmbedding {
    const existing = this.#layers.get(moduleName);
    if (existing instanceof LoraEmbedding) return existing;
    if (existing) {
      throw new AdapterLoadError(
        `"${moduleName}" already trains token rows of another adapter; LoRA on the same embedding is not supported`,
      );
    }
    let created: LoraEmbedding | undefined;
    this.model.replaceModule(moduleName, (current) => {
      if (!(current instanceof Embedding)) {
        throw new AdapterShapeError(`"${moduleName}" is not an Embedding, so embedding LoRA cannot wrap it`);
      }
      created = new LoraEmbedding(current);
      return created;
    });
    const layer = created!;
    this.#layers.set(moduleName, layer);
    layer.setDisabled(this.#disabled);
    const head = this.#tiedHeadPath(layer.base_layer);
    if (head !== undefined && !this.#layers.has(head)) {
      this.model.replaceModule(head, (current) => {
        const tied = new TiedOutputHead(current as Linear, layer);
        this.#tiedHeads.set(head, tied);
        return tied;
      });
    }
    return layer;
  }

  /**
   * Wraps the embedding `moduleName` for trainable token rows, and an output head tied to it in a token layer
   * that follows the embedding's rows (PEFT ties the head's token adapter to the embedding's).
   */
  #wrapTokens(moduleName: string): TrainableTokensLayer {
    const existing = this.#layers.get(moduleName);
    if (existing instanceof TrainableTokensLayer) return existing;
    if (existing) {
      throw new AdapterLoadError(
        `"${moduleName}" already carries LoRA of another adapter; trainable tokens on the same embedding are not supported`,
      );
    }
    let created: TrainableTokensLayer | undefined;
    this.model.replaceModule(moduleName, (current) => {
      if (!(current instanceof Embedding)) {
        throw new AdapterShapeError(
          `"${moduleName}" is not an Embedding, so its token rows cannot be trained`,
        );
      }
      created = new TrainableTokensLayer(current);
      return created;
    });
    const layer = created!;
    this.#layers.set(moduleName, layer);
    layer.setDisabled(this.#disabled);
    const head = this.#tiedHeadPath(layer.base_layer as Embedding);
    if (head !== undefined && !this.#layers.has(head)) {
      this.model.replaceModule(head, (current) => {
        const tied = new TrainableTokensLayer(current as Linear, layer);
        tied.setDisabled(this.#disabled);
        this.#layers.set(head, tied);
        return tied;
      });
    }
    return layer;
  }

  /** Puts `base` back in place of a wrapped layer and releases the layer's adapter tensors. */
  #unwrap(moduleName: string, layer: AdapterLayer, base: Module & { weight: Tensor; bias?: Tensor }): void {
    const previous = layer.base_layer as Module & { weight: Tensor; bias?: Tensor };
    const replaced = [previous.weight, previous.bias].filter(
      (value): value is Tensor => value !== undefined && value !== base.weight && value !== base.bias,
    );
    this.model.replaceModule(moduleName, () => base);
    layer.dispose();
    this.#releaseIfUnused(replaced);
  }

  /** Disposes tensors the model no longer reaches (a replaced base weight that was not tied elsewhere). */
  #releaseIfUnused(tensors: readonly Tensor[]): void {
    const reachable = new Set(this.model.namedParameters().values());
    for (const value of tensors) if (!reachable.has(value)) value.dispose();
  }

  #forget(): void {
    this.#layers.clear();
    this.#tiedHeads.clear();
    this.#adapters.clear();
    this.#active = [];
  }
}

/**
 * `record` with `baseFingerprint` the store's model fingerprint as of now, computed when first read (a save, a
 * compatibility check) rather than here: hashing every base weight takes ~0.2 s per 100 M parameters, and an
 * adapter that is never saved never needs it. The store's journal position is noted now, so the value is the
 * one of this moment even if the base changes before it is read (`WeightStore.fingerprintAt`).
 */
function withDeferredBaseFingerprint(record: AdapterRecord, store: WeightStore): AdapterRecord {
  const position = store.journalLength;
  let fingerprint: Fingerprint | undefined;
  return Object.defineProperty({ ...record }, "baseFingerprint", {
    enumerable: true,
    get: () => {
      fingerprint ??= store.fingerprintAt(position);
      return fingerprint;
    },
  });
}
