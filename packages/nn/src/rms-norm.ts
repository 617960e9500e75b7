import { add, rmsNorm, type Tensor } from "@peftjs/tensor";
import { ModuleShapeError } from "./errors.js";
import { Module } from "./module.js";

/** Options of {@link RMSNorm}. */
export interface RMSNormOptions {
  /** ε inside the root: `x / √(mean(x²) + ε)`. */
  readonly eps: number;
  /**
   * Scale by `(1 + weight)` instead of `weight`, as Gemma's RMSNorm does (its checkpoints store `w` with the
   * 1 taken out, so a freshly initialised Gemma norm holds zeros). Default false (Llama, Mistral, Qwen).
   */
  readonly unitOffset?: boolean;
}

/**
 * RMS normalisation over the last axis, in float32: `x / √(mean(x²) + ε) · w` (Llama's `LlamaRMSNorm`), or
 * `· (1 + w)` with {@link RMSNormOptions.unitOffset} (Gemma's `Gemma3RMSNorm`).
 */
export class RMSNorm extends Module {
  /** `[hidden]`. */
  readonly weight: Tensor;
  /** ε. */
  readonly eps: number;
  /** Whether the scale is `1 + weight`. */
  readonly unitOffset: boolean;

  /** @throws ModuleShapeError for a weight that is not 1-D. */
  constructor(weight: Tensor, options: RMSNormOptions) {
    super();
    if (weight.rank !== 1) {
      throw new ModuleShapeError(`an RMSNorm needs a 1-D weight, got [${weight.shape.join(", ")}]`);
    }
    this.weight = weight;
    this.eps = options.eps;
    this.unitOffset = options.unitOffset ?? false;
  }

  /** Normalises `[..., hidden]`. */
  forward(input: Tensor): Tensor {
    if (!this.unitOffset) return rmsNorm(input, this.weight, this.eps);
    const scale = add(this.weight, 1);
    const output = rmsNorm(input, scale, this.eps);
    scale.dispose();
    return output;
  }
}
