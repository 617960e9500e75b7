import { Embedding, type Linear, linear, Module } from "@peftjs/nn";
import {
  add,
  allFinite,
  gather,
  keep,
  mul,
  type RandomGenerator,
  reshape,
  type Tensor,
  tensor,
  tidy,
  transpose,
} from "@peftjs/tensor";
import type { TrainableTokenRows } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import { NonFiniteMergeError } from "./lora-linear.js";
import { adapterParameterName, TRAINABLE_TOKENS_DELTA } from "./parameter-keys.js";

/** One adapter's token rows in a layer, with the constant tables that place them. */
interface TokenRowsState {
  readonly indices: readonly number[];
  /** The trainable rows `[k, dim]`. */
  rows: Tensor;
  /** `[vocab, 1]`: 0 at the adapter's token ids, 1 elsewhere (which rows of the base survive). */
  readonly keepTable: Tensor;
  /** `[vocab, k]`: one-hot, 1 at (indices[j], j) (where row j goes). */
  readonly placeTable: Tensor;
}

/** The shared state of an embedding's token adapters and of the head tied to it. */
type TokenAdapters = Map<string, TokenRowsState>;

/**
 * PEFT's `TrainableTokensWrapper` (`trainable_token_indices`): rows `indices` of an embedding E are replaced by
 * trainable rows R, `E' = E.index_copy(0, indices, R)` — for the input lookup, and, when the output head is tied
 * to the embedding, for the head as well (a second layer of this class, tied to the first, with no parameters of
 * its own, as PEFT ties the head's token adapter to the embedding's).
 *
 * E' is never materialised in the forward pass: the lookup is `E[ids]·keep[ids] + place[ids]·R` and the head
 * `(h·Eᵀ)·keep + (h·Rᵀ)·placeᵀ` with constant 0/1 tables, which give exactly E' (products with 0 and 1 are
 * exact) and the gradient with respect to R only. The base layer is never modified; a merge keeps E' beside it.
 */
export class TrainableTokensLayer extends Module {
  /** The wrapped embedding, or the output head tied to it. */
  base_layer: Embedding | Linear;
  /** True during training (no effect). */
  training = false;
  /** Unused; present so every adapter layer can be switched the same way. */
  generator: RandomGenerator | undefined;
  readonly #tiedTo: TrainableTokensLayer | undefined;
  readonly #own: TokenAdapters = new Map();
  #active: string[] = [];
  #disabled = false;
  #merged: string[] = [];
  #mergedWeight: Tensor | undefined;

  /** `tiedTo`: for an output head tied to an embedding, the embedding's layer, whose rows it uses. */
  constructor(base: Embedding | Linear, tiedTo?: TrainableTokensLayer) {
    super();
    this.base_layer = base;
    this.#tiedTo = tiedTo;
  }

  /** Whether this layer follows another one's rows (a tied output head). */
  get isTied(): boolean {
    return this.#tiedTo !== undefined;
  }

  /** The head's input size (the row width), as a linear slot needs. */
  get inFeatures(): number {
    return this.base_layer.weight.shape[1]!;
  }

  /** The head's output size (the vocabulary), as a linear slot needs. */
  get outFeatures(): number {
    return this.base_layer.weight.shape[0]!;
  }

  get #adapters(): TokenAdapters {
    return this.#tiedTo === undefined ? this.#own : this.#tiedTo.#own;
  }

  /** `token_adapter.trainable_tokens_delta.<adapter>`; a tied layer has none (PEFT saves only the embedding's). */
  protected override ownParameters(): Iterable<[string, Tensor]> {
    return [...this.#own].map(
      ([adapter, state]) =>
        [adapterParameterName(TRAINABLE_TOKENS_DELTA, adapter), state.rows] as [string, Tensor],
    );
  }

  /** Whether the layer carries adapter `name`. */
  hasAdapter(name: string): boolean {
    return this.#adapters.has(name);
  }

  /**
   * Adds or replaces adapter `name`'s rows (not on a tied layer). The layer owns `rows` from now on.
   *
   * @throws AdapterShapeError when an index is outside the vocabulary or the rows do not fit.
   */
  setAdapter(name: string, indices: readonly number[], rows: Tensor): void {
    if (this.#tiedTo !== undefined) {
      throw new AdapterShapeError(`adapter "${name}": a tied token layer follows the embedding's rows`);
    }
    const [vocabulary, width] = this.base_layer.weight.shape as [number, number];
    const outside = indices.find((index) => index >= vocabulary);
    if (outside !== undefined) {
      throw new AdapterShapeError(
        `adapter "${name}": trainable token id ${outside} is outside the vocabulary of ${vocabulary} rows`,
      );
    }
    if (rows.shape[0] !== indices.length || rows.shape[1] !== width) {
      throw new AdapterShapeError(
        `adapter "${name}": trainable_tokens_delta is [${rows.shape.join(", ")}], expected [${indices.length}, ${width}]`,
      );
    }
    this.deleteAdapter(name);
    const keepValues = new Float32Array(vocabulary).fill(1);
    const placeValues = new Float32Array(vocabulary * indices.length);
    indices.forEach((index, position) => {
      keepValues[index] = 0;
      placeValues[index * indices.length + position] = 1;
    });
    this.#own.set(name, {
      indices: [...indices],
      rows: keep(rows),
      keepTable: keep(tensor(keepValues, [vocabulary, 1])),
      placeTable: keep(tensor(placeValues, [vocabulary, indices.length])),
    });
  }

  /** Adapter `name`'s rows (`token_adapter.trainable_tokens_delta`). */
  parameter(name: string, parameter: string): Tensor {
    if (parameter !== TRAINABLE_TOKENS_DELTA) {
      throw new AdapterShapeError(`adapter "${name}" in this layer has no parameter "${parameter}"`);
    }
    return this.#state(name).rows;
  }

  /** `[token_adapter.trainable_tokens_delta]`, or nothing on a tied layer (its rows are the embedding's). */
  parameterNames(name: string): string[] {
    this.#state(name);
    return this.#tiedTo === undefined ? [TRAINABLE_TOKENS_DELTA] : [];
  }

  /** Installs new rows (one optimiser step); the shape must stay. */
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
    this.#state(name).rows = keep(value);
  }

  /** Removes adapter `name` (on a tied layer: only its merge state; the rows belong to the embedding). */
  deleteAdapter(name: string): void {
    if (this.#merged.includes(name)) this.#setMerged(this.#merged.filter((entry) => entry !== name));
    this.#active = this.#active.filter((entry) => entry !== name);
    const state = this.#own.get(name);
    if (state === undefined) return;
    state.rows.dispose();
    state.keepTable.dispose();
    state.placeTable.dispose();
    this.#own.delete(name);
  }

  /** Sets the active adapters (those this layer carries; others are ignored). */
  setActive(names: readonly string[]): void {
    this.#active = names.filter((name) => this.#adapters.has(name));
  }

  /** Turns all adapters off (true) or back on (false). */
  setDisabled(disabled: boolean): void {
    this.#disabled = disabled;
  }

  /** The merged adapters, oldest first. */
  get mergedAdapters(): readonly string[] {
    return this.#merged;
  }

  /** E' = E with adapters `names`' rows written in, in order (PEFT's `get_merged_weights`); the caller owns it. */
  mergedWeightFor(names: readonly string[]): Tensor {
    return tidy(() => {
      let weight = this.base_layer.weight;
      for (const name of names) {
        const { keepTable, placeTable, rows } = this.#state(name);
        weight = add(mul(weight, keepTable), linear(placeTable, transpose(rows)));
      }
      return weight === this.base_layer.weight ? mul(weight, 1) : weight;
    });
  }

  /** Merges adapter `name`; with `safe`, non-finite rows throw {@link NonFiniteMergeError}, nothing changes. */
  merge(name: string, safe: boolean): void {
    if (!this.#adapters.has(name) || this.#merged.includes(name)) return;
    const next = [...this.#merged, name];
    this.#assertDisjoint(next);
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

  /** The embedding lookup (int32 ids) or the head's logits, with the active adapters' rows in place. */
  forward(input: Tensor): Tensor {
    const isEmbedding = this.base_layer instanceof Embedding;
    const weight = this.#disabled ? this.base_layer.weight : (this.#mergedWeight ?? this.base_layer.weight);
    const base = () =>
      isEmbedding ? gather(weight, input) : linear(input, weight, (this.base_layer as Linear).bias);
    if (this.#disabled) return base();
    const pending = this.#active.filter((name) => !this.#merged.includes(name));
    if (pending.length === 0) return base();
    this.#assertDisjoint(pending);
    return tidy(() => {
      let result = base();
      for (const name of pending) {
        const { keepTable, placeTable, rows } = this.#state(name);
        if (isEmbedding) {
          // E'[ids] = E[ids]·keep[ids] + place[ids]·R
          const placed = linear(gather(placeTable, input), transpose(rows));
          result = add(mul(result, gather(keepTable, input)), placed);
        } else {
          // h·E'ᵀ = (h·Eᵀ)·keep + (h·Rᵀ)·placeᵀ, the keep mask along the vocabulary axis
          const vocabulary = keepTable.shape[0]!;
          const placed = linear(linear(input, rows), placeTable);
          result = add(mul(result, reshape(keepTable, [vocabulary])), placed);
        }
      }
      return result;
    });
  }

  /** Adapter `name`'s indices and rows, read back to the host (for saving). */
  readAdapter(name: string): TrainableTokenRows {
    const { indices, rows } = this.#state(name);
    return { indices, rows: tensorToMatrix(rows) };
  }

  /** Releases the adapters' tensors and the merged weight (the base layer belongs to the model). */
  dispose(): void {
    for (const name of [...this.#own.keys()]) this.deleteAdapter(name);
    this.#mergedWeight?.dispose();
    this.#mergedWeight = undefined;
    this.#merged = [];
    this.#active = [];
  }

  /** PEFT refuses overlapping token sets of adapters applied together ("Only disjunct token indices …"). */
  #assertDisjoint(names: readonly string[]): void {
    const seen = new Map<number, string>();
    for (const name of names) {
      for (const index of this.#state(name).indices) {
        const other = seen.get(index);
        if (other !== undefined) {
          throw new AdapterShapeError(
            `adapters "${other}" and "${name}" both train token ${index}; only disjoint token indices can be applied together`,
          );
        }
        seen.set(index, name);
      }
    }
  }

  #state(name: string): TokenRowsState {
    const state = this.#adapters.get(name);
    if (state === undefined) throw new AdapterShapeError(`the layer carries no token adapter "${name}"`);
    return state;
  }
}
