import { type Linear, type LinearLike, linear } from "@peftjs/nn";
import { keep, matmul, mul, scale, sub, type Tensor, tensor, tidy } from "@peftjs/tensor";
import type { HostTensor, LoraFactors } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import type { LoraVariant, VariantContext } from "../variants/registry.js";
import { MergeableAdapterLayer } from "./mergeable-adapter-layer.js";
import { mixedBatchForward } from "./mixed-batch.js";
import { LORA_A, LORA_B } from "./parameter-keys.js";

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
 * restores the unmerged output bit for bit, and the bias is carried through every merge. Dropout is applied
 * while `training` is true, with masks drawn from `generator`.
 */
export class LoraLinear extends MergeableAdapterLayer<AdapterState> implements LinearLike {
  /** The wrapped layer (the model's original one, or a residual one in residual mode). */
  base_layer: Linear;
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

  /** The variant of adapter `name`. */
  variantOf(name: string): LoraVariant {
    return this.adapterState(name).variant;
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
    // kept: these outlive any tidy() scope the caller may be in
    for (const value of adapter.parameters.values()) keep(value);
    if (adapter.correction) {
      keep(adapter.correction.loraA);
      keep(adapter.correction.loraB);
    }
    const state: AdapterState = { ...adapter, parameters: new Map(adapter.parameters) };
    this.storeAdapter(name, state);
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
    if (!this.disabled) {
      for (const name of this.activeAdapters) {
        const override = this.#biasOverrides.get(name);
        if (override !== undefined) return override;
      }
    }
    return this.base_layer.bias;
  }

  /**
   * Removes adapter `name` (recomputing the merged weight without it if it was merged). A name this layer only
   * holds a bias of stays active: {@link LoraLinear.deleteBiasOverride} removes that bias.
   */
  override deleteAdapter(name: string): void {
    if (this.hasAdapter(name)) super.deleteAdapter(name);
  }

  /** Releases a deleted adapter's parameters and its overlay correction. */
  protected override releaseAdapter(state: AdapterState): void {
    super.releaseAdapter(state);
    state.correction?.loraA.dispose();
    state.correction?.loraB.dispose();
  }

  /** An adapter can be active here when the layer carries it or holds a bias of it. */
  protected override canActivate(name: string): boolean {
    return super.canActivate(name) || this.#biasOverrides.has(name);
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
    const state = this.adapterState(name);
    if (this.mergedAdapters.includes(name)) {
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

  /**
   * Puts another base layer under the adapters (residual mode: W_res with the same bias). A merged weight is
   * recomputed from it.
   */
  replaceBase(base: Linear): void {
    this.base_layer = base;
    this.recomputeMergedWeight();
  }

  /**
   * The weight with adapters `names` merged, in order, into the base weight (each adapter's variant decides
   * how: W + s·B·A for plain LoRA), computed on the device. Not stored; the caller owns it.
   */
  mergedWeightFor(names: readonly string[]): Tensor {
    return tidy(() => {
      let weight = this.base_layer.weight;
      for (const name of names) {
        const state = this.adapterState(name);
        if (state.correction !== undefined) weight = sub(weight, this.#correctionDelta(state));
        weight = state.variant.merge(this.#context(state), weight);
      }
      return weight === this.base_layer.weight ? mul(weight, 1) : weight;
    });
  }

  /** The base layer's output (or the merged weight's) with every active, unmerged adapter applied. */
  forward(input: Tensor): Tensor {
    if (this.disabled) return this.base_layer.forward(input);
    const rowAdapters = this.#rowAdapters;
    if (rowAdapters !== undefined) {
      if (this.mergedAdapters.length > 0) {
        throw new AdapterShapeError(
          `adapters ${JSON.stringify(this.mergedAdapters)} are merged; a mixed batch needs them unmerged`,
        );
      }
      return tidy(() =>
        mixedBatchForward(
          input,
          this.base_layer.forward(input),
          rowAdapters,
          (name) => this.hasAdapter(name),
          (name, rows, result) => this.#applyAdapter(this.adapterState(name), rows, result),
        ),
      );
    }
    return tidy(() => {
      const bias = this.effectiveBias();
      const mergedWeight = this.mergedWeight;
      let result =
        mergedWeight || bias !== this.base_layer.bias
          ? linear(input, mergedWeight ?? this.base_layer.weight, bias)
          : this.base_layer.forward(input);
      for (const name of this.unmergedActiveAdapters()) {
        // an adapter that only brings a bias here has no factors to apply
        const state = this.adapters.get(name);
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
    const state = this.adapterState(name);
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

  /** Releases every adapter's tensors and biases and the merged weight (the base layer belongs to the model). */
  override dispose(): void {
    super.dispose();
    for (const name of [...this.#biasOverrides.keys()]) this.deleteBiasOverride(name);
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
