import { PeftjsError } from "@peftjs/io";
import { add, keep, mul, type RandomGenerator, scale, type Tensor, tensor, tidy } from "@peftjs/tensor";
import type { LoraFactors } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { addScaled, isAllFinite, type Matrix, multiply } from "../math/matrix.js";
import { applyWeight, type LinearLayer, matrixToTensor, tensorToMatrix } from "./linear-layer.js";

/** One adapter's part in one wrapped layer. */
export interface LayerAdapter {
  /** The trainable factors. */
  readonly factors: LoraFactors;
  /** Scaling s of this module. */
  readonly scaling: number;
  /** Dropout probability on the adapter input (training only). */
  readonly dropout: number;
  /**
   * Overlay mode of a PiSSA/OLoRA adapter: the frozen init factors (A₀, B₀) whose product is subtracted,
   * y = W·x + s·B·A·x − s·B₀·A₀·x, so the base stays W and is never rewritten.
   */
  readonly correction?: LoraFactors;
}

interface LayerAdapterTensors {
  readonly loraA: Tensor;
  readonly loraB: Tensor;
  readonly correctionA?: Tensor;
  readonly correctionB?: Tensor;
}

/** Thrown when a safe merge would produce non-finite weights; nothing is changed. */
export class NonFiniteMergeError extends PeftjsError {
  constructor(message: string) {
    super("adapter_merge_non_finite", message);
  }
}

/**
 * A Linear layer carrying LoRA adapters: y = base(x) + Σ_active s·B·(A·dropout(x)) (− s·B₀A₀·x in overlay mode).
 * The base layer is never modified; merging keeps a separate merged weight computed from the base, so unmerging
 * restores the base output bit for bit.
 */
export class LoraLinear implements LinearLayer {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The wrapped base layer (the original module, or a residual one in residual mode). */
  base: LinearLayer;
  readonly #adapters = new Map<string, LayerAdapter>();
  readonly #tensors = new Map<string, LayerAdapterTensors>();
  #active: string[] = [];
  #disabled = false;
  #merged: string[] = [];
  #mergedWeight: Tensor | undefined;
  /** True during training: dropout is applied. */
  training = false;
  /** Source of dropout masks. */
  generator: RandomGenerator | undefined;

  constructor(base: LinearLayer) {
    this.base = base;
    this.name = base.name;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }

  /** The base weight in use (W, or W_res in residual mode); merged adapters are not included. */
  get weight(): Tensor {
    return this.base.weight;
  }

  /** Names of the adapters this layer carries. */
  adapterNames(): string[] {
    return [...this.#adapters.keys()];
  }

  /** The adapter `name`'s state in this layer, or undefined. */
  getAdapter(name: string): LayerAdapter | undefined {
    return this.#adapters.get(name);
  }

  /** Adds or replaces adapter `name`. */
  setAdapter(name: string, adapter: LayerAdapter): void {
    const { loraA, loraB } = adapter.factors;
    if (
      loraA.columns !== this.inFeatures ||
      loraB.rows !== this.outFeatures ||
      loraA.rows !== loraB.columns
    ) {
      throw new AdapterShapeError(
        `adapter "${name}" for "${this.name}" has lora_A [${loraA.rows}, ${loraA.columns}] and lora_B [${loraB.rows}, ${loraB.columns}], the layer is [${this.outFeatures}, ${this.inFeatures}]`,
      );
    }
    this.#disposeTensors(name);
    this.#adapters.set(name, adapter);
    // kept: these outlive any tidy() scope the caller may be in
    this.#tensors.set(name, {
      loraA: keep(matrixToTensor(loraA)),
      loraB: keep(matrixToTensor(loraB)),
      correctionA: adapter.correction && keep(matrixToTensor(adapter.correction.loraA)),
      correctionB: adapter.correction && keep(matrixToTensor(adapter.correction.loraB)),
    });
  }

  /**
   * Installs trained values of adapter `name`'s factors (one optimiser step): the layer keeps the new tensors
   * and disposes the ones they replace. Shapes must stay as they are; a merged adapter cannot be trained.
   */
  updateFactors(name: string, loraA: Tensor, loraB: Tensor): void {
    const adapter = this.#adapters.get(name);
    const tensors = this.#tensors.get(name);
    if (adapter === undefined || tensors === undefined) {
      throw new AdapterShapeError(`layer "${this.name}" carries no adapter "${name}"`);
    }
    if (this.#merged.includes(name)) {
      throw new AdapterShapeError(
        `adapter "${name}" is merged into "${this.name}"; unmerge it before training`,
      );
    }
    for (const [label, next, current] of [
      ["lora_A", loraA, tensors.loraA],
      ["lora_B", loraB, tensors.loraB],
    ] as const) {
      if (next.shape.join() !== current.shape.join()) {
        throw new AdapterShapeError(
          `new ${label} of adapter "${name}" in "${this.name}" is [${next.shape.join(", ")}], expected [${current.shape.join(", ")}]`,
        );
      }
    }
    if (tensors.loraA !== loraA) tensors.loraA.dispose();
    if (tensors.loraB !== loraB) tensors.loraB.dispose();
    this.#tensors.set(name, { ...tensors, loraA: keep(loraA), loraB: keep(loraB) });
    this.#adapters.set(name, {
      ...adapter,
      factors: { loraA: tensorToMatrix(loraA), loraB: tensorToMatrix(loraB) },
    });
  }

  /** Removes adapter `name` (unmerging everything first if it is merged). */
  deleteAdapter(name: string): void {
    if (this.#merged.includes(name)) this.#setMerged(this.#merged.filter((entry) => entry !== name));
    this.#disposeTensors(name);
    this.#adapters.delete(name);
    this.#active = this.#active.filter((entry) => entry !== name);
  }

  #disposeTensors(name: string): void {
    const existing = this.#tensors.get(name);
    if (existing === undefined) return;
    for (const value of [existing.loraA, existing.loraB, existing.correctionA, existing.correctionB])
      value?.dispose();
    this.#tensors.delete(name);
  }

  /** Sets the active adapters (those this layer carries; others are ignored). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.#adapters.has(name));
  }

  /** Turns all adapters off (true) or back on (false); merged weights are bypassed while disabled. */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /** The merged adapters, oldest first. */
  get mergedAdapters(): readonly string[] {
    return this.#merged;
  }

  /** The adapter tensors (A, B) of `name`, for the trainable-parameter list. */
  adapterTensors(name: string): { loraA: Tensor; loraB: Tensor } | undefined {
    const entry = this.#tensors.get(name);
    return entry && { loraA: entry.loraA, loraB: entry.loraB };
  }

  /** s·B·A (− s·B₀A₀ in overlay) of adapter `name`, [out, in]. */
  delta(name: string): Matrix {
    const adapter = this.#adapters.get(name) as LayerAdapter;
    let delta = multiply(adapter.factors.loraB, adapter.factors.loraA);
    if (adapter.correction) {
      delta = addScaled(delta, multiply(adapter.correction.loraB, adapter.correction.loraA), -1);
    }
    return {
      rows: delta.rows,
      columns: delta.columns,
      data: delta.data.map((value) => value * adapter.scaling),
    };
  }

  /** The weight W + Σ deltas of `names` (not stored). */
  mergedWeightFor(names: readonly string[]): Matrix {
    let weight = tensorToMatrix(this.base.weight);
    for (const name of names) weight = addScaled(weight, this.delta(name));
    return weight;
  }

  /**
   * Merges adapter `name` (on top of those already merged). With `safe`, a non-finite result throws
   * {@link NonFiniteMergeError} and nothing changes.
   */
  merge(name: string, safe: boolean): void {
    if (!this.#adapters.has(name) || this.#merged.includes(name)) return;
    const next = [...this.#merged, name];
    if (safe && !isAllFinite(this.mergedWeightFor(next))) {
      throw new NonFiniteMergeError(`merging adapter "${name}" into "${this.name}" gives non-finite weights`);
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
    this.#mergedWeight = names.length === 0 ? undefined : keep(matrixToTensor(this.mergedWeightFor(names)));
  }

  forward(input: Tensor): Tensor {
    if (this.#disabled) return this.base.forward(input);
    return tidy(() => {
      let output = this.#mergedWeight ? applyWeight(input, this.#mergedWeight) : this.base.forward(input);
      for (const name of this.#active) {
        if (this.#merged.includes(name)) continue;
        const adapter = this.#adapters.get(name) as LayerAdapter;
        const tensors = this.#tensors.get(name) as LayerAdapterTensors;
        const dropped = this.#dropout(input, adapter.dropout);
        // y += s·(x·Aᵀ)·Bᵀ
        output = add(
          output,
          scale(applyWeight(applyWeight(dropped, tensors.loraA), tensors.loraB), adapter.scaling),
        );
        if (tensors.correctionA && tensors.correctionB) {
          const correction = applyWeight(applyWeight(input, tensors.correctionA), tensors.correctionB);
          output = add(output, scale(correction, -adapter.scaling));
        }
      }
      return output;
    });
  }

  #dropout(input: Tensor, probability: number): Tensor {
    if (!this.training || probability === 0 || this.generator === undefined) return input;
    const keep = 1 - probability;
    const uniform = this.generator.uniformValues(input.size, 0, 1);
    const mask = Float32Array.from(uniform, (value) => (value < keep ? 1 / keep : 0));
    return mul(input, tensor(mask, input.shape));
  }

  /** Releases the adapter and merged tensors. */
  dispose(): void {
    for (const name of [...this.#tensors.keys()]) this.#disposeTensors(name);
    this.#mergedWeight?.dispose();
    this.#mergedWeight = undefined;
  }
}
