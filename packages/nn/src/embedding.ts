import { gather, type Tensor } from "@peftjs/tensor";
import { ModuleShapeError } from "./errors.js";
import { Module } from "./module.js";

/** PyTorch's `nn.Embedding`: row `i` of `weight [numEmbeddings, embeddingDim]` for token id `i`. */
export class Embedding extends Module {
  /** `[numEmbeddings, embeddingDim]`. */
  readonly weight: Tensor;

  /** @throws ModuleShapeError for a weight that is not 2-D. */
  constructor(weight: Tensor) {
    super();
    if (weight.rank !== 2) {
      throw new ModuleShapeError(`an embedding needs a 2-D weight, got [${weight.shape.join(", ")}]`);
    }
    this.weight = weight;
  }

  /** Number of rows (the vocabulary size). */
  get numEmbeddings(): number {
    return this.weight.shape[0]!;
  }

  /** Width of a row. */
  get embeddingDim(): number {
    return this.weight.shape[1]!;
  }

  /** Looks up int32 ids of any shape `[...]` and returns `[..., embeddingDim]`. */
  forward(ids: Tensor): Tensor {
    return gather(this.weight, ids);
  }
}
