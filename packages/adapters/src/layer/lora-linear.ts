import { PeftjsError } from "@peftjs/io";
import { type Linear, type LinearLike, linear, Module } from "@peftjs/nn";
import {
  allFinite,
  keep,
  matmul,
  mul,
  type RandomGenerator,
  scale,
  sub,
  type Tensor,
  tensor,
  tidy,
} from "@peftjs/tensor";
import type { HostTensor, LoraFactors } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import type { LoraVariant, VariantContext } from "../variants/registry.js";
import { mixedBatchForward } from "./mixed-batch.js";
import { adapterParameterName, LORA_A, LORA_B } from "./parameter-keys.js";

/** Thrown when a safe merge would produce non-finite weights; nothing is changed. */
export class NonFiniteMergeError extends PeftjsError {
  constructor(message: string) {
    super("adapter_merge_non_finite", message);
  }
}

/** The frozen init factors A₀, B₀ of a PiSSA/OLoRA adapter in overlay mode (−s·B₀A₀ stands in for W_res). */
export interface OverlayCorrection {
  /** A₀ `[r, in]`. */
  readonly loraA: Tensor;
  /** B₀ `[out, r]`. */
  readonly loraB: Tensor;
  /** The s of s·B₀A₀ (the module's scaling; a load weight never scales the correction). */
  readonly scaling: number;
}

/** One adapter's part in one layer, as {@link LoraLinear.setAdapter} takes it. */
export interface LayerAdapter {
  /** How the parameters act (plain LoRA, or a registered variant). */
  readonly variant: LoraVariant;
  /** Scaling s of this module. */
  readonly scaling: number;
  /** Dropout probability on the adapter input (training only). */
  readonly dropout: number;
  /**
   * The trainable parameters by PEFT name: `lora_A`, `lora_B` and the variant's extra ones. The layer owns them
   * from now on (it disposes them when they are replaced or deleted).
   */
  readonly parameters: ReadonlyMap<string, Tensor>;
  /** Overlay mode of a PiSSA/OLoRA adapter: the frozen A₀/B₀ (owned by the layer too). */
  readonly correction?: OverlayCorrection;
}

interface AdapterState extends LayerAdapter {
  parameters: Map<string, Tensor>;
  scaling: number;
}

/**
 * A linear layer carrying LoRA adapters, PEFT's `lora.Linear`: it wraps the model's {@link Linear} (its
 * `base_layer`) and holds, per adapter, named parameter tensors on the active backend; each adapter's
 * {@link LoraVariant} decides how they act in the forward pass and in a merge:
 * `y = base_layer(x)`, then for each active adapter (overlay mode first takes s·B₀A₀·x out)
 * `y = variant.forward(adapter, x, y)`.
 *
 * The base layer is never modified. Merging keeps a separate merged weight computed from it, so unmerging
 * restores the unmerged output bit for bit, and the bias is carried through every merge.
 */
export class LoraLinear extends Module implements LinearLike {
  /** The wrapped layer (the model's original one, or a residual one in residual mode). */
  base_layer: Linear;
  /** True during training: dropout is applied. */
  training = false;
  /** Source of dropout masks. */
  generator: RandomGenerator | undefined;
  readonly #adapters = new Map<string, AdapterState>();
  #active: string[] = [];
  #disabled = false;
  #merged: string[] = [];
  #mergedWeight: Tensor | undefined;
  #rowAdapters: readonly string[] | undefined;
  /** Adapter-owned biases (PEFT's `bias: "lora_only" | "all"`), by adapter; the base layer's bias is never written. */
  readonly #biasOverrides = new Map<string, Tensor>();

  constructor(base: Linear) {
    super();
    this.base_layer = base;
  }

  /** The wrapped layer's input size. */
  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }

  /** The wrapped layer's output size. */
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  /** The adapter parameters, named as PEFT's layer names them (`lora_A.default.weight`, …). */
  protected override ownParameters(): Iterable<[string, Tensor]> {
    return [...this.#adapters].flatMap(([adapter, state]) =>
      [...state.parameters].map(
        ([parameter, value]) => [adapterParameterName(parameter, adapter), value] as [string, Tensor],
      ),
    );
  }

  /** Names of the adapters this layer carries. */
  adapterNames(): string[] {
    return [...this.#adapters.keys()];
  }

  /** Whether the layer carries adapter `name`. */
  hasAdapter(name: string): boolean {
    return this.#adapters.has(name);
  }

  /** The variant of adapter `name`. */
  variantOf(name: string): LoraVariant {
    return this.#state(name).variant;
  }

  /**
   * Adds or replaces adapter `name`.
   *
   * @throws AdapterShapeError when lora_A / lora_B do not fit the layer or each other.
   */
  setAdapter(name: string, adapter: LayerAdapter): void {
    const loraA = adapter.parameters.get(LORA_A);
    const loraB = adapter.parameters.get(LORA_B);
    if (
      loraA === undefined ||
      loraB === undefined ||
      loraA.shape[1] !== this.inFeatures ||
      loraB.shape[0] !== this.outFeatures ||
      loraA.shape[0] !== loraB.shape[1]
    ) {
      throw new AdapterShapeError(
        `adapter "${name}" has lora_A [${loraA?.shape.join(", ")}] and lora_B [${loraB?.shape.join(", ")}], the layer is [${this.outFeatures}, ${this.inFeatures}]`,
      );
    }
    for (const [parameter, value] of adapter.parameters) {
      if (parameter === LORA_A || parameter === LORA_B) continue;
      if (!adapter.variant.extraParameters.includes(parameter)) {
        throw new AdapterShapeError(
          `adapter "${name}" has a "${parameter}" parameter, which its variant "${adapter.variant.name}" does not use`,
        );
      }
      const expected = adapter.variant.extraParameterShape?.(parameter, {
        inFeatures: this.inFeatures,
        outFeatures: this.outFeatures,
        rank: loraA.shape[0]!,
      });
      if (expected !== undefined && expected.join() !== value.shape.join()) {
        throw new AdapterShapeError(
          `adapter "${name}" has ${parameter} [${value.shape.join(", ")}], the layer [${this.outFeatures}, ${this.inFeatures}] needs [${expected.join(", ")}]`,
        );
      }
    }
    this.deleteAdapter(name);
    // kept: these outlive any tidy() scope the caller may be in
    for (const value of adapter.parameters.values()) keep(value);
    if (adapter.correction) {
      keep(adapter.correction.loraA);
      keep(adapter.correction.loraB);
    }
    const state: AdapterState = { ...adapter, parameters: new Map(adapter.parameters) };
    this.#adapters.set(name, state);
    // a fresh adapter of a variant with extra parameters (DoRA's magnitude) gets their initial values
    const missing = adapter.variant.extraParameters.filter((parameter) => !state.parameters.has(parameter));
    if (missing.length > 0) {
      const initial = adapter.variant.initializeExtras?.(this.#context(state)) ?? new Map<string, Tensor>();
      for (const parameter of missing) {
        const value = initial.get(parameter);
        if (value === undefined) {
          throw new AdapterShapeError(
            `variant "${adapter.variant.name}" gave no initial value for "${parameter}"`,
          );
        }
        state.parameters.set(parameter, keep(value));
      }
    }
  }

  /** Adapter `name`'s parameter `parameter` (e.g. `lora_A`). */
  parameter(name: string, parameter: string): Tensor {
    const value = this.#state(name).parameters.get(parameter);
    if (value === undefined) {
      throw new AdapterShapeError(`adapter "${name}" in this layer has no parameter "${parameter}"`);
    }
    return value;
  }

  /** The names of adapter `name`'s parameters, `lora_A`, `lora_B` first. */
  parameterNames(name: string): string[] {
    return [...this.#state(name).parameters.keys()];
  }

  /**
   * Installs a new value of one trainable parameter (one optimiser step): the layer keeps it and disposes the
   * one it replaces. Nothing is read back. The shape must stay; a merged adapter cannot be trained.
   */
  setParameter(name: string, parameter: string, value: Tensor): void {
    const current = this.parameter(name, parameter);
    if (this.#merged.includes(name)) {
      throw new AdapterShapeError(`adapter "${name}" is merged; unmerge it before training`);
    }
    if (value.shape.join() !== current.shape.join()) {
      throw new AdapterShapeError(
        `new ${parameter} of adapter "${name}" is [${value.shape.join(", ")}], expected [${current.shape.join(", ")}]`,
      );
    }
    if (value !== current) current.dispose();
    this.#state(name).parameters.set(parameter, keep(value));
  }

  /**
   * Gives adapter `name` its own bias for this layer (PEFT's `bias: "lora_only" | "all"`, where PEFT trains and
   * overwrites the base layer's bias in place): while the adapter is active and adapters are enabled, the layer
   * computes with this bias instead of the base layer's; disabling, deleting or unloading brings the base bias
   * back. The layer owns the tensor (it disposes the one it replaces).
   *
   * @throws AdapterShapeError when the base layer has no bias or the shape is not `[out]`.
   */
  setBiasOverride(name: string, bias: Tensor): void {
    if (this.base_layer.bias === undefined) {
      throw new AdapterShapeError(`adapter "${name}" brings a bias for a layer that has none`);
    }
    if (bias.rank !== 1 || bias.shape[0] !== this.outFeatures) {
      throw new AdapterShapeError(
        `adapter "${name}" brings a bias [${bias.shape.join(", ")}] for a layer whose bias is [${this.outFeatures}]`,
      );
    }
    const current = this.#biasOverrides.get(name);
    if (current !== undefined && current !== bias) current.dispose();
    this.#biasOverrides.set(name, keep(bias));
  }

  /** Adapter `name`'s own bias for this layer, if it has one (see {@link LoraLinear.setBiasOverride}). */
  biasOverride(name: string): Tensor | undefined {
    return this.#biasOverrides.get(name);
  }

  /** Removes adapter `name`'s bias, so the layer computes with the base bias again. */
  deleteBiasOverride(name: string): void {
    this.#biasOverrides.get(name)?.dispose();
    this.#biasOverrides.delete(name);
  }

  /**
   * The bias the layer computes with: the first active adapter's own bias (PEFT allows one adapter with a bias
   * mode), else the base layer's; the base layer's while adapters are disabled.
   */
  effectiveBias(): Tensor | undefined {
    if (!this.#disabled) {
      for (const name of this.#active) {
        const override = this.#biasOverrides.get(name);
        if (override !== undefined) return override;
      }
    }
    return this.base_layer.bias;
  }

  /** Removes adapter `name` (recomputing the merged weight without it if it was merged). */
  deleteAdapter(name: string): void {
    const state = this.#adapters.get(name);
    if (state === undefined) return;
    if (this.#merged.includes(name)) this.#setMerged(this.#merged.filter((entry) => entry !== name));
    for (const value of state.parameters.values()) value.dispose();
    state.correction?.loraA.dispose();
    state.correction?.loraB.dispose();
    this.#adapters.delete(name);
    this.#active = this.#active.filter((entry) => entry !== name);
  }

  /** Sets the active adapters (those this layer carries or holds a bias of; others are ignored). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.#adapters.has(name) || this.#biasOverrides.has(name));
  }

  /** Turns all adapters off (true) or back on (false); merged weights are bypassed while disabled. */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /**
   * A mixed batch (PEFT's `adapter_names`): while set, each forward runs batch row `i` with adapter
   * `names[i]` alone (`"__base__"`, or an adapter this layer does not carry, adds nothing), whatever is
   * active; undefined returns to the active adapters. The input's rows must split evenly into
   * `names.length` contiguous groups (row-major `[B·T, in]` or `[B, T, in]`).
   */
  setRowAdapters(names: readonly string[] | undefined): void {
    this.#rowAdapters = names === undefined ? undefined : [...names];
  }

  /**
   * Replaces adapter `name`'s parameter tensors and scaling in place (PEFT's hot-swap): same parameter names
   * and shapes, the same variant, dropout and layer. The layer takes ownership of `parameters` and disposes
   * the tensors they replace.
   *
   * @throws AdapterShapeError when a parameter is missing, extra or of another shape, or the adapter is merged.
   */
  swapAdapter(name: string, parameters: ReadonlyMap<string, Tensor>, scaling: number): void {
    const state = this.#state(name);
    if (this.#merged.includes(name)) {
      throw new AdapterShapeError(`adapter "${name}" is merged; unmerge it before swapping its weights`);
    }
    const expected = [...state.parameters.keys()].sort().join(", ");
    if ([...parameters.keys()].sort().join(", ") !== expected) {
      throw new AdapterShapeError(
        `the new weights of adapter "${name}" have parameters [${[...parameters.keys()].join(", ")}], the layer holds [${expected}]`,
      );
    }
    for (const [parameter, value] of parameters) {
      const current = state.parameters.get(parameter)!;
      if (value.shape.join() !== current.shape.join()) {
        throw new AdapterShapeError(
          `new ${parameter} of adapter "${name}" is [${value.shape.join(", ")}], the layer holds [${current.shape.join(", ")}]`,
        );
      }
    }
    for (const [parameter, value] of parameters) {
      const current = state.parameters.get(parameter)!;
      if (value !== current) current.dispose();
      state.parameters.set(parameter, keep(value));
    }
    state.scaling = scaling;
  }

  /** The merged adapters, oldest first. */
  get mergedAdapters(): readonly string[] {
    return this.#merged;
  }

  /**
   * Puts another base layer under the adapters (residual mode: W_res with the same bias). A merged weight is
   * recomputed from it.
   */
  replaceBase(base: Linear): void {
    this.base_layer = base;
    if (this.#merged.length > 0) this.#setMerged(this.#merged);
  }

  /**
   * The weight with adapters `names` merged, in order, into the base weight (each adapter's variant decides
   * how: W + s·B·A for plain LoRA), computed on the device. Not stored; the caller owns it.
   */
  mergedWeightFor(names: readonly string[]): Tensor {
    return tidy(() => {
      let weight = this.base_layer.weight;
      for (const name of names) {
        const state = this.#state(name);
        if (state.correction !== undefined) weight = sub(weight, this.#correctionDelta(state));
        weight = state.variant.merge(this.#context(state), weight);
      }
      return weight === this.base_layer.weight ? mul(weight, 1) : weight;
    });
  }

  /**
   * Merges adapter `name` on top of those already merged. With `safe`, a non-finite result throws
   * {@link NonFiniteMergeError} and nothing changes.
   */
  merge(name: string, safe: boolean): void {
    if (!this.#adapters.has(name) || this.#merged.includes(name)) return;
    const next = [...this.#merged, name];
    if (safe) {
      const candidate = this.mergedWeightFor(next);
      const finite = allFinite(candidate);
      candidate.dispose();
      if (!finite) throw new NonFiniteMergeError(`merging adapter "${name}" gives non-finite weights`);
    }
    this.#setMerged(next);
  }

  /** Unmerges the most recently merged adapter (LIFO); returns its name. */
  unmergeLast(): string | undefined {
    const last = this.#merged.at(-1);
    if (last !== undefined) this.#setMerged(this.#merged.slice(0, -1));
    return last;
  }

  #setMerged(names: string[]): void {
    this.#mergedWeight?.dispose();
    this.#merged = names;
    this.#mergedWeight = names.length === 0 ? undefined : keep(this.mergedWeightFor(names));
  }

  /** The base layer's output (or the merged weight's) with every active, unmerged adapter applied. */
  forward(input: Tensor): Tensor {
    if (this.#disabled) return this.base_layer.forward(input);
    const rowAdapters = this.#rowAdapters;
    if (rowAdapters !== undefined) {
      if (this.#merged.length > 0) {
        throw new AdapterShapeError(
          `adapters ${JSON.stringify(this.#merged)} are merged; a mixed batch needs them unmerged`,
        );
      }
      return tidy(() =>
        mixedBatchForward(
          input,
          this.base_layer.forward(input),
          rowAdapters,
          (name) => this.#adapters.has(name),
          (name, rows, result) => this.#applyAdapter(this.#adapters.get(name)!, rows, result),
        ),
      );
    }
    return tidy(() => {
      const bias = this.effectiveBias();
      let result =
        this.#mergedWeight || bias !== this.base_layer.bias
          ? linear(input, this.#mergedWeight ?? this.base_layer.weight, bias)
          : this.base_layer.forward(input);
      for (const name of this.#active) {
        if (this.#merged.includes(name)) continue;
        const state = this.#adapters.get(name);
        if (state === undefined) continue;
        result = this.#applyAdapter(state, input, result);
      }
      return result;
    });
  }

  /** `result` with one unmerged adapter applied to `input` (overlay correction first, then its variant). */
  #applyAdapter(state: AdapterState, input: Tensor, result: Tensor): Tensor {
    let output = result;
    if (state.correction !== undefined) {
      // overlay mode: the adapter stands on W − s·B₀A₀, so s·B₀A₀·x comes out first
      const { loraA, loraB, scaling } = state.correction;
      output = sub(output, scale(linear(linear(input, loraA), loraB), scaling));
    }
    return state.variant.forward(this.#context(state), input, output);
  }

  /** Adapter `name`'s parameters read back to the host (for saving). */
  readAdapter(name: string): LoraFactors {
    const state = this.#state(name);
    const extras = new Map<string, HostTensor>();
    for (const [parameter, value] of state.parameters) {
      if (parameter !== LORA_A && parameter !== LORA_B) {
        extras.set(parameter, { shape: value.shape, data: value.toFloat32Array() });
      }
    }
    const factors = {
      loraA: tensorToMatrix(state.parameters.get(LORA_A)!),
      loraB: tensorToMatrix(state.parameters.get(LORA_B)!),
    };
    return extras.size === 0 ? factors : { ...factors, extras };
  }

  /** Releases every adapter's tensors and the merged weight (the base layer belongs to the model). */
  dispose(): void {
    for (const name of this.adapterNames()) this.deleteAdapter(name);
    for (const name of [...this.#biasOverrides.keys()]) this.deleteBiasOverride(name);
    this.#mergedWeight?.dispose();
    this.#mergedWeight = undefined;
    this.#merged = [];
  }

  #state(name: string): AdapterState {
    const state = this.#adapters.get(name);
    if (state === undefined) throw new AdapterShapeError(`the layer carries no adapter "${name}"`);
    return state;
  }

  /** s·B₀A₀ of an overlay adapter, `[out, in]`. */
  #correctionDelta(state: AdapterState): Tensor {
    const { loraA, loraB, scaling } = state.correction!;
    return scale(matmul(loraB, loraA), scaling);
  }

  #context(state: AdapterState): VariantContext {
    return {
      parameters: state.parameters,
      scaling: state.scaling,
      dropout: (input) => this.#dropout(input, state.dropout),
      baseWeight: () =>
        state.correction === undefined
          ? this.base_layer.weight
          : sub(this.base_layer.weight, this.#correctionDelta(state)),
      baseBias: this.effectiveBias(),
    };
  }

  #dropout(input: Tensor, probability: number): Tensor {
    if (!this.training || probability === 0 || this.generator === undefined) return input;
    const kept = 1 - probability;
    const uniform = this.generator.uniformValues(input.size, 0, 1);
    const mask = Float32Array.from(uniform, (value) => (value < kept ? 1 / kept : 0));
    return mul(input, tensor(mask, input.shape));
  }
}
