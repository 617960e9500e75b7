import { type Embedding, linear } from "@peftjs/nn";
import { add, gather, keep, matmul, mul, scale, type Tensor, tidy, transpose } from "@peftjs/tensor";
import type { LoraFactors } from "../adapter.js";
import { AdapterShapeError } from "../errors.js";
import { tensorToMatrix } from "../math/host-tensor.js";
import { MergeableAdapterLayer } from "./mergeable-adapter-layer.js";
import { LORA_EMBEDDING_A, LORA_EMBEDDING_B } from "./parameter-keys.js";

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
 * as in PEFT, where the merge writes into the tensor the head shares. `training` and `generator` have no effect
 * (no dropout).
 */
export class LoraEmbedding extends MergeableAdapterLayer<EmbeddingAdapterState> {
  /** The wrapped embedding. */
  base_layer: Embedding;

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
    for (const value of adapter.parameters.values()) keep(value);
    this.storeAdapter(name, { scaling: adapter.scaling, parameters: new Map(adapter.parameters) });
  }

  /** ΔE = s·(B·A)ᵀ of adapter `name`, `[vocab, dim]`. */
  deltaWeight(name: string): Tensor {
    const state = this.adapterState(name);
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

  /**
   * The table an output head tied to this embedding multiplies with: E, or the merged table while adapters are
   * merged and enabled. PEFT adds ΔE in place to the tensor the head shares, so an unmerged adapter never
   * reaches the head while a merged one does (merged and unmerged logits differ; see the docs).
   */
  get outputWeight(): Tensor {
    const mergedWeight = this.mergedWeight;
    return this.disabled || mergedWeight === undefined ? this.base_layer.weight : mergedWeight;
  }

  /** Looks up int32 ids `[...]` and returns `[..., dim]` with every active, unmerged adapter added. */
  forward(ids: Tensor): Tensor {
    if (this.disabled) return this.base_layer.forward(ids);
    return tidy(() => {
      const mergedWeight = this.mergedWeight;
      let result = mergedWeight ? gather(mergedWeight, ids) : this.base_layer.forward(ids);
      for (const name of this.unmergedActiveAdapters()) {
        const { parameters, scaling } = this.adapterState(name);
        // PEFT: F.embedding(ids, Aᵀ) @ Bᵀ · s — rows of Aᵀ [vocab, r], then linear(·, B) = ·Bᵀ
        const rows = gather(transpose(parameters.get(LORA_EMBEDDING_A)!), ids);
        result = add(result, scale(linear(rows, parameters.get(LORA_EMBEDDING_B)!), scaling));
      }
      return result;
    });
  }

  /** Adapter `name`'s parameters read back to the host (for saving): loraA = A `[r, vocab]`, loraB = B `[dim, r]`. */
  readAdapter(name: string): LoraFactors {
    const state = this.adapterState(name);
    return {
      loraA: tensorToMatrix(state.parameters.get(LORA_EMBEDDING_A)!),
      loraB: tensorToMatrix(state.parameters.get(LORA_EMBEDDING_B)!),
      kind: "embedding",
    };
  }
}
