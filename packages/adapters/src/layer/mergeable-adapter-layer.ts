import { PeftjsError } from "@peftjs/io";
import { Module } from "@peftjs/nn";
import { allFinite, keep, type RandomGenerator, type Tensor } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
import { adapterParameterName } from "./parameter-keys.js";

/** Thrown when a safe merge would produce non-finite weights; nothing is changed. */
export class NonFiniteMergeError extends PeftjsError {
  constructor(message: string) {
    super("adapter_merge_non_finite", message);
  }
}

/** What an adapter layer keeps of each adapter: at the least its trainable tensors. */
export interface AdapterParameters {
  /** The trainable tensors by PEFT parameter name (`lora_A`, …), owned by the layer. */
  readonly parameters: Map<string, Tensor>;
}

/**
 * The bookkeeping shared by the adapter layers whose adapters merge into a weight (`LoraLinear`, `LoraEmbedding`,
 * `TrainableTokensLayer`): the adapters the layer carries, by name, with their trainable tensors (the layer owns
 * them and releases them when they are replaced or deleted); which adapters are active; whether adapters are
 * disabled; which are merged, oldest first, and the merged weight kept beside the base layer, which is never
 * modified.
 *
 * A subclass checks and stores adapters ({@link MergeableAdapterLayer.storeAdapter}), computes a merged weight
 * ({@link MergeableAdapterLayer.mergedWeightFor}) and runs the forward pass with
 * {@link MergeableAdapterLayer.mergedWeight} and {@link MergeableAdapterLayer.unmergedActiveAdapters}.
 */
export abstract class MergeableAdapterLayer<State extends AdapterParameters> extends Module {
  /** True during training: a layer with dropout (`LoraLinear`) applies it; the others ignore it. */
  training = false;
  /** Source of dropout masks; present on every adapter layer so that all are switched the same way. */
  generator: RandomGenerator | undefined;
  readonly #own = new Map<string, State>();
  #active: string[] = [];
  #disabled = false;
  #merged: string[] = [];
  #mergedWeight: Tensor | undefined;

  /**
   * The weight with adapters `names` merged, in order, into the base layer's weight, computed on the device.
   * Not stored; the caller owns it.
   */
  abstract mergedWeightFor(names: readonly string[]): Tensor;

  /** The adapters this layer applies: its own, unless a subclass reads another layer's (a tied output head). */
  protected get adapters(): ReadonlyMap<string, State> {
    return this.#own;
  }

  /** The adapters' own tensors, named as PEFT names them in the model (`lora_A.default.weight`, …). */
  protected override ownParameters(): Iterable<[string, Tensor]> {
    return [...this.#own].flatMap(([adapter, state]) =>
      [...state.parameters].map(
        ([parameter, value]) => [adapterParameterName(parameter, adapter), value] as [string, Tensor],
      ),
    );
  }

  /** Names of the adapters this layer carries. */
  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }

  /** Whether the layer carries adapter `name`. */
  hasAdapter(name: string): boolean {
    return this.adapters.has(name);
  }

  /**
   * Adapter `name`'s parameter `parameter` (e.g. `lora_A`).
   *
   * @throws AdapterShapeError when the layer carries no such adapter or parameter.
   */
  parameter(name: string, parameter: string): Tensor {
    const value = this.adapterState(name).parameters.get(parameter);
    if (value === undefined) {
      throw new AdapterShapeError(`adapter "${name}" in this layer has no parameter "${parameter}"`);
    }
    return value;
  }

  /** The names of adapter `name`'s trainable parameters, in the order they were stored. */
  parameterNames(name: string): string[] {
    return [...this.adapterState(name).parameters.keys()];
  }

  /**
   * Installs a new value of one trainable parameter (one optimiser step): the layer keeps it and disposes the
   * one it replaces. Nothing is read back. The shape must stay; a merged adapter cannot be trained.
   *
   * @throws AdapterShapeError when the parameter is unknown, the adapter is merged or the shape differs.
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
    this.adapterState(name).parameters.set(parameter, keep(value));
  }

  /**
   * Removes adapter `name`: the merged weight is recomputed without it if it was merged, it is no longer
   * active, and the tensors this layer owns of it are released.
   */
  deleteAdapter(name: string): void {
    if (this.#merged.includes(name)) this.#setMerged(this.#merged.filter((entry) => entry !== name));
    this.#active = this.#active.filter((entry) => entry !== name);
    const state = this.#own.get(name);
    if (state === undefined) return;
    this.releaseAdapter(state);
    this.#own.delete(name);
  }

  /** Sets the active adapters (those this layer can apply, see {@link MergeableAdapterLayer.canActivate}). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.canActivate(name));
  }

  /** Turns all adapters off (true) or back on (false); a merged weight is bypassed while disabled. */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /** The merged adapters, oldest first. */
  get mergedAdapters(): readonly string[] {
    return this.#merged;
  }

  /**
   * Merges adapter `name` on top of those already merged (nothing happens when the layer does not carry it or
   * it is merged already). With `safe`, a non-finite result throws {@link NonFiniteMergeError} and nothing
   * changes.
   */
  merge(name: string, safe: boolean): void {
    if (!this.hasAdapter(name) || this.#merged.includes(name)) return;
    const next = [...this.#merged, name];
    this.assertCombinable(next);
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

  /** Releases every adapter's tensors this layer owns and the merged weight (the base layer belongs to the model). */
  dispose(): void {
    for (const name of [...this.#own.keys()]) this.deleteAdapter(name);
    this.#mergedWeight?.dispose();
    this.#mergedWeight = undefined;
    this.#merged = [];
  }

  /** The active adapters, in the order they were set. */
  protected get activeAdapters(): readonly string[] {
    return this.#active;
  }

  /** Whether adapters are disabled (the base layer's output, merged weight bypassed). */
  protected get disabled(): boolean {
    return this.#disabled;
  }

  /** The merged weight of {@link MergeableAdapterLayer.mergedAdapters}, while any are merged. */
  protected get mergedWeight(): Tensor | undefined {
    return this.#mergedWeight;
  }

  /** The active adapters that are not merged: those a forward pass applies on top of the (merged) weight. */
  protected unmergedActiveAdapters(): string[] {
    return this.#active.filter((name) => !this.#merged.includes(name));
  }

  /**
   * Adapter `name`'s state.
   *
   * @throws AdapterShapeError when the layer carries no such adapter.
   */
  protected adapterState(name: string): State {
    const state = this.adapters.get(name);
    if (state === undefined) throw new AdapterShapeError(`the layer carries no adapter "${name}"`);
    return state;
  }

  /**
   * Stores adapter `name`'s checked state, deleting any adapter of that name first; the layer owns the state's
   * tensors from now on (the caller has kept them out of any `tidy` scope).
   */
  protected storeAdapter(name: string, state: State): void {
    this.deleteAdapter(name);
    this.#own.set(name, state);
  }

  /** Releases the tensors of a deleted adapter (default: its parameters). */
  protected releaseAdapter(state: State): void {
    for (const value of state.parameters.values()) value.dispose();
  }

  /** Whether {@link MergeableAdapterLayer.setActive} keeps adapter `name` (default: the layer carries it). */
  protected canActivate(name: string): boolean {
    return this.hasAdapter(name);
  }

  /** Throws when adapters `names` cannot be applied or merged together (default: any can). */
  protected assertCombinable(_names: readonly string[]): void {}

  /** Recomputes the merged weight from the current base layer (after it was replaced). */
  protected recomputeMergedWeight(): void {
    if (this.#merged.length > 0) this.#setMerged(this.#merged);
  }

  #setMerged(names: string[]): void {
    this.#mergedWeight?.dispose();
    this.#merged = names;
    this.#mergedWeight = names.length === 0 ? undefined : keep(this.mergedWeightFor(names));
  }
}
