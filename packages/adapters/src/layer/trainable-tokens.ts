import { Embedding, type Linear, linear } from "@peftjs/nn";
import { add, gather, keep, mul, reshape, type Tensor, tensor, tidy, transpose } from "@peftjs/tensor";
import type { TrainableTokenRows } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import { type AdapterParameters, MergeableAdapterLayer } from "./mergeable-adapter-layer.js";
import { TRAINABLE_TOKENS_DELTA } from "./parameter-keys.js";

/** One adapter's token rows in a layer, with the constant tables that place them. */
interface TokenRowsState extends AdapterParameters {
  readonly indices: readonly number[];
  /** The trainable rows `[k, dim]`, the one parameter {@link TRAINABLE_TOKENS_DELTA}. */
  readonly parameters: Map<string, Tensor>;
  /** `[vocab, 1]`: 0 at the adapter's token ids, 1 elsewhere (which rows of the base survive). */
  readonly keepTable: Tensor;
  /** `[vocab, k]`: one-hot, 1 at (indices[j], j) (where row j goes). */
  readonly placeTable: Tensor;
}

/** The trainable rows of a token adapter. */
function rowsOf(state: TokenRowsState): Tensor {
  return state.parameters.get(TRAINABLE_TOKENS_DELTA)!;
}

/**
 * PEFT's `TrainableTokensWrapper` (`trainable_token_indices`): rows `indices` of an embedding E are replaced by
 * trainable rows R, `E' = E.index_copy(0, indices, R)` — for the input lookup, and, when the output head is tied
 * to the embedding, for the head as well (a second layer of this class, tied to the first, with no parameters of
 * its own, as PEFT ties the head's token adapter to the embedding's).
 *
 * E' is never materialised in the forward pass: the lookup is `E[ids]·keep[ids] + place[ids]·R` and the head
 * `(h·Eᵀ)·keep + (h·Rᵀ)·placeᵀ` with constant 0/1 tables, which give exactly E' (products with 0 and 1 are
 * exact) and the gradient with respect to R only. The base layer is never modified; a merge keeps E' beside it.
 * `training` and `generator` have no effect.
 */
export class TrainableTokensLayer extends MergeableAdapterLayer<TokenRowsState> {
  /** The wrapped embedding, or the output head tied to it. */
  base_layer: Embedding | Linear;
  readonly #tiedTo: TrainableTokensLayer | undefined;

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

  /**
   * On a tied layer, the embedding layer's adapters: it applies them but owns none, so it has no parameters of
   * its own (PEFT saves only the embedding's rows) and deleting or disposing releases nothing of them.
   */
  protected override get adapters(): ReadonlyMap<string, TokenRowsState> {
    return this.#tiedTo === undefined ? super.adapters : this.#tiedTo.adapters;
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
    const keepValues = new Float32Array(vocabulary).fill(1);
    const placeValues = new Float32Array(vocabulary * indices.length);
    indices.forEach((index, position) => {
      keepValues[index] = 0;
      placeValues[index * indices.length + position] = 1;
    });
    this.storeAdapter(name, {
      indices: [...indices],
      parameters: new Map([[TRAINABLE_TOKENS_DELTA, keep(rows)]]),
      keepTable: keep(tensor(keepValues, [vocabulary, 1])),
      placeTable: keep(tensor(placeValues, [vocabulary, indices.length])),
    });
  }

  /** `[token_adapter.trainable_tokens_delta]`, or nothing on a tied layer (its rows are the embedding's). */
  override parameterNames(name: string): string[] {
    const names = super.parameterNames(name);
    return this.#tiedTo === undefined ? names : [];
  }

  /** Releases a deleted adapter's rows and its placing tables. */
  protected override releaseAdapter(state: TokenRowsState): void {
    super.releaseAdapter(state);
    state.keepTable.dispose();
    state.placeTable.dispose();
  }

  /** E' = E with adapters `names`' rows written in, in order (PEFT's `get_merged_weights`); the caller owns it. */
  mergedWeightFor(names: readonly string[]): Tensor {
    return tidy(() => {
      let weight = this.base_layer.weight;
      for (const name of names) {
        const state = this.adapterState(name);
        weight = add(mul(weight, state.keepTable), linear(state.placeTable, transpose(rowsOf(state))));
      }
      return weight === this.base_layer.weight ? mul(weight, 1) : weight;
    });
  }

  /** The embedding lookup (int32 ids) or the head's logits, with the active adapters' rows in place. */
  forward(input: Tensor): Tensor {
    const isEmbedding = this.base_layer instanceof Embedding;
    const weight = this.disabled ? this.base_layer.weight : (this.mergedWeight ?? this.base_layer.weight);
    const base = () =>
      isEmbedding ? gather(weight, input) : linear(input, weight, (this.base_layer as Linear).bias);
    if (this.disabled) return base();
    const pending = this.unmergedActiveAdapters();
    if (pending.length === 0) return base();
    this.assertCombinable(pending);
    return tidy(() => {
      let result = base();
      for (const name of pending) {
        const state = this.adapterState(name);
        const { keepTable, placeTable } = state;
        const rows = rowsOf(state);
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
    const state = this.adapterState(name);
    return { indices: state.indices, rows: tensorToMatrix(rowsOf(state)) };
  }

  /** Releases the adapters' tensors and the merged weight (the base layer belongs to the model). */
  override dispose(): void {
    super.dispose();
    // a tied layer owns no adapters, so none were deleted above: it forgets which were active
    this.setActive([]);
  }

  /** PEFT refuses overlapping token sets of adapters applied together ("Only disjunct token indices …"). */
  protected override assertCombinable(names: readonly string[]): void {
    const seen = new Map<number, string>();
    for (const name of names) {
      for (const index of this.adapterState(name).indices) {
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

  /** Adapter `name`'s rows and tables. @throws AdapterShapeError when the layer carries no such adapter. */
  protected override adapterState(name: string): TokenRowsState {
    const state = this.adapters.get(name);
    if (state === undefined) throw new AdapterShapeError(`the layer carries no token adapter "${name}"`);
    return state;
  }
}
