import { type Linear, type LinearLike, linear, Module } from "@peftjs/nn";
import type { Tensor } from "@peftjs/tensor";
import type { LoraEmbedding } from "./lora-embedding.js";

/**
 * The output head of a model whose head is tied to an embedding that carries LoRA (`lm_head.weight` is
 * `embed_tokens.weight`), doing what PEFT 0.21 does with `ensure_weight_tying: false`: the head is not adapted,
 * so it multiplies with E while the embedding's adapters are unmerged, and with the merged table E + ΔE while
 * they are merged (PEFT writes the merge into the tensor both share). It has no parameters of its own.
 */
export class TiedOutputHead extends Module implements LinearLike {
  /** The head as the model had it (sharing the embedding's weight). */
  base_layer: Linear;
  readonly #embedding: LoraEmbedding;

  constructor(base: Linear, embedding: LoraEmbedding) {
    super();
    this.base_layer = base;
    this.#embedding = embedding;
  }

  /** The head's input size (the embedding width). */
  get inFeatures(): number {
    return this.base_layer.inFeatures;
  }

  /** The head's output size (the vocabulary). */
  get outFeatures(): number {
    return this.base_layer.outFeatures;
  }

  /** `h · Wᵀ` with W = the embedding's {@link LoraEmbedding.outputWeight}. */
  forward(input: Tensor): Tensor {
    return linear(input, this.#embedding.outputWeight, this.base_layer.bias);
  }
}
