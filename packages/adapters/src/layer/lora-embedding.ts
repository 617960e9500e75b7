import { type Embedding, linear, Module } from "@peftjs/nn";
import {
  add,
  allFinite,
  gather,
  keep,
  matmul,
  mul,
  type RandomGenerator,
  scale,
  type Tensor,
  tidy,
  transpose,
} from "@peftjs/tensor";
import type { LoraFactors } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import { NonFiniteMergeError } from "./lora-linear.js";
import { adapterParameterName, LORA_EMBEDDING_A, LORA_EMBEDDING_B } from "./parameter-keys.js";

/** One adapter's part in an embedding layer, as {@link LoraEmbedding.setAdapter} takes it. */
export interface EmbeddingLayerAdapter {
  /** Scaling s of this module. */
  readonly scaling: number;
  /**
   * `lora_embedding_A` `[r, vocab]` and `lora_embedding_B` `[dim, r]`; the layer owns them from now on (it
   * disposes them when they are replaced or deleted).
   */
  readonly parameters: ReadonlyMap<string, Tensor>;
}

interface EmbeddingAdapterState {
  readonly scaling: number;
  readonly parameters: Map<string, Tensor>;
}

/**
 * An embedding carrying LoRA adapters, PEFT's `lora.Embedding`: it wraps the model's {@link Embedding} (its
 * `base_layer`) and adds, per active adapter, `s · Aᵀ[ids] · Bᵀ` — row `id` of Aᵀ `[vocab, r]` times Bᵀ — to the
 * looked-up rows. The weight delta is ΔE = s·(B·A)ᵀ `[vocab, dim]`. PEFT applies no dropout here, and neither
 * does this layer.
 *
 * The base layer is never modified: a merge keeps a separate merged table E + ΔE, which is also what an output
 * head tied to this embedding multiplies with while the adapter is merged ({@link LoraEmbedding.outputWeight}),
 * as in PEFT, where the merge writes into the tensor the head shares.
 */
export class LoraEmbedding extends Module {
  /** The wrapped embedding. */
  base_layer: Embedding;
  /** True during training (no effect: PEFT's embedding LoRA has no dropout). */
  training = false;
  /** Unused (no dropout); present so every adapter layer can be switched the same way. */
  generator: RandomGenerator | undefined;
  readonly #adapters = new Map<string, EmbeddingAdapterState>();
  #active: string[] = [];
  #disabled = false;
  #merged: string[] = [];
  #mergedWeight: Tensor | undefined;

  constructor(base: Embedding) {
    super();
    this.base_layer = base;
  }

  /** The vocabulary size (PEFT's `in_features` of an embedding). */
  get numEmbeddings(): number {
    return this.base_layer.numEmbeddings;
  }

  /** The width of a row (PEFT's `out_features` of an embedding). */
  get embeddingDim(): number {
    return this.base_layer.embeddingDim;
  }

  /** The adapter parameters as PEFT names them in the model (`lora_embedding_A.default`, …). */
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

  /**
   * Adds or replaces adapter `name`.
   *
   * @throws AdapterShapeError when lora_embedding_A / lora_embedding_B do not fit the embedding or each other.
   */
  setAdapter(name: string, adapter: EmbeddingLayerAdapter): void {
    const loraA = adapter.parameters.get(LORA_EMBEDDING_A);
    const loraB = adapter.parameters.get(LORA_EMBEDDING_B);
    if (
      loraA === undefined ||
      loraB === undefined ||
      loraA.shape[1] !== this.numEmbeddings ||
      loraB.shape[0] !== this.embeddingDim ||
      loraA.shape[0] !== loraB.shape[1]
    ) {
      throw new AdapterShapeError(
        `adapter "${name}" has lora_embedding_A [${loraA?.shape.join(", ")}] and lora_embedding_B [${loraB?.shape.join(", ")}], the embedding is [${this.numEmbeddings}, ${this.embeddingDim}]`,
      );
    }
    this.deleteAdapter(name);
    for (const value of adapter.parameters.values()) keep(value);
    this.#adapters.set(name, { scaling: adapter.scaling, parameters: new Map(adapter.parameters) });
  }

  /** Adapter `name`'s parameter `parameter` (`lora_embedding_A` or `lora_embedding_B`). */
  parameter(name: string, parameter: string): Tensor {
    const value = this.#state(name).parameters.get(parameter);
    if (value === undefined) {
      throw new AdapterShapeError(`adapter "${name}" in this layer has no parameter "${parameter}"`);
    }
    return value;
  }

  /** The names of adapter `name`'s parameters. */
  parameterNames(name: string): string[] {
    return [...this.#state(name).parameters.keys()];
  }

  /** Installs a new value of one trainable parameter (one optimiser step); the shape must stay. */
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

  /** Removes adapter `name` (recomputing the merged table without it if it was merged). */
  deleteAdapter(name: string): void {
    const state = this.#adapters.get(name);
    if (state === undefined) return;
    if (this.#merged.includes(name)) this.#setMerged(this.#merged.filter((entry) => entry !== name));
    for (const value of state.parameters.values()) value.dispose();
    this.#adapters.delete(name);
    this.#active = this.#active.filter((entry) => entry !== name);
  }

  /** Sets the active adapters (those this layer carries; others are ignored). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.#adapters.has(name));
  }

  /** Turns all adapters off (true) or back on (false); a merged table is bypassed while disabled. */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /** The merged adapters, oldest first. */
  get mergedAdapters(): readonly string[] {
    return this.#merged;
  }

  /** ΔE = s·(B·A)ᵀ of adapter `name`, `[vocab, dim]`. */
  deltaWeight(name: string): Tensor {
    const state = this.#state(name);
    return tidy(() =>
      scale(
        transpose(matmul(state.parameters.get(LORA_EMBEDDING_B)!, state.parameters.get(LORA_EMBEDDING_A)!)),
        state.scaling,
      ),
    );
  }

  /** E with adapters `names` merged in order (E + ΣΔE), computed on the device; the caller owns it. */
  mergedWeightFor(names: readonly string[]): Tensor {
    return tidy(() => {
      let weight = this.base_layer.weight;
      for (const name of names) weight = add(weight, this.deltaWeight(name));
      return weight === this.base_layer.weight ? mul(weight, 1) : weight;
    });
  }

  /** Merges adapter `name`; with `safe`, a non-finite table throws {@link NonFiniteMergeError}, nothing changes. */
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

  /**
   * The table an output head tied to this embedding multiplies with: E, or the merged table while adapters are
   * merged and enabled. PEFT adds ΔE in place to the tensor the head shares, so an unmerged adapter never
   * reaches the head while a merged one does (merged and unmerged logits differ; see the docs).
   */
  get outputWeight(): Tensor {
    return this.#disabled || this.#mergedWeight === undefined ? this.base_layer.weight : this.#mergedWeight;
  }

  #setMerged(names: string[]): void {
    this.#mergedWeight?.dispose();
    this.#merged = names;
    this.#mergedWeight = names.length === 0 ? undefined : keep(this.mergedWeightFor(names));
  }

  /** Looks up int32 ids `[...]` and returns `[..., dim]` with every active, unmerged adapter added. */
  forward(ids: Tensor): Tensor {
    if (this.#disabled) return this.base_layer.forward(ids);
    return tidy(() => {
      let result = this.#mergedWeight ? gather(this.#mergedWeight, ids) : this.base_layer.forward(ids);
      for (const name of this.#active) {
        if (this.#merged.includes(name)) continue;
        const { parameters, scaling } = this.#adapters.get(name)!;
        // PEFT: F.embedding(ids, Aᵀ) @ Bᵀ · s — rows of Aᵀ [vocab, r], then linear(·, B) = ·Bᵀ
        const rows = gather(transpose(parameters.get(LORA_EMBEDDING_A)!), ids);
        result = add(result, scale(linear(rows, parameters.get(LORA_EMBEDDING_B)!), scaling));
      }
      return result;
    });
  }

  /** Adapter `name`'s parameters read back to the host (for saving): loraA = A `[r, vocab]`, loraB = B `[dim, r]`. */
  readAdapter(name: string): LoraFactors {
    const state = this.#state(name);
    return {
      loraA: tensorToMatrix(state.parameters.get(LORA_EMBEDDING_A)!),
      loraB: tensorToMatrix(state.parameters.get(LORA_EMBEDDING_B)!),
      kind: "embedding",
    };
  }

  /** Releases every adapter's tensors and the merged table (the base layer belongs to the model). */
  dispose(): void {
    for (const name of this.adapterNames()) this.deleteAdapter(name);
    this.#mergedWeight?.dispose();
    this.#mergedWeight = undefined;
    this.#merged = [];
  }

  #state(name: string): EmbeddingAdapterState {
    const state = this.#adapters.get(name);
    if (state === undefined) throw new AdapterShapeError(`the layer carries no adapter "${name}"`);
    return state;
  }
}
