import { add, matmul, reshape, type Tensor } from "@peftjs/tensor";
import { ModuleShapeError } from "./errors.js";
import { Module } from "./module.js";

/**
 * What a model keeps in a linear slot (`q_proj`, …, `lm_head`): a {@link Linear}, or a module standing in for
 * one with the same sizes, such as a LoRA layer wrapping it. Models call only `forward`, so anything
 * replacing a slot through `replaceModule` keeps working.
 */
export interface LinearLike extends Module {
  /** Size of the last input axis. */
  readonly inFeatures: number;
  /** Size of the last output axis. */
  readonly outFeatures: number;
  /** Maps `[..., inFeatures]` to `[..., outFeatures]`; must not dispose its input. */
  forward(input: Tensor): Tensor;
}

/**
 * `y = x·Wᵀ + b` over the last axis of `input` (any rank ≥ 1), PyTorch's `F.linear`; `bias` is optional.
 *
 * @throws ModuleShapeError when the last axis of `input` is not `weight.shape[1]`.
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (input.shape.at(-1) !== inFeatures) {
    throw new ModuleShapeError(
      `linear layer with weight [${weight.shape.join(", ")}] got input [${input.shape.join(", ")}]: its last axis must be ${inFeatures}`,
    );
  }
  const leading = input.shape.slice(0, -1);
  const flat = input.rank === 2 ? input : reshape(input, [leading.reduce((a, b) => a * b, 1), inFeatures]);
  let output = matmul(flat, weight, { transposeB: true });
  if (bias !== undefined) output = add(output, bias);
  return input.rank === 2 ? output : reshape(output, [...leading, outFeatures]);
}

/**
 * PyTorch's `nn.Linear`: a weight `[outFeatures, inFeatures]` and an optional bias `[outFeatures]`. The only
 * linear layer type of peftjs: models build their projections from it, adapters wrap it, merging and
 * unloading put a new one (with the same bias) back.
 */
export class Linear extends Module implements LinearLike {
  /** `[outFeatures, inFeatures]`. */
  readonly weight: Tensor;
  /** `[outFeatures]`, or undefined for a bias-free layer. */
  readonly bias: Tensor | undefined;

  /** @throws ModuleShapeError for a weight that is not 2-D or a bias that is not `[outFeatures]`. */
  constructor(weight: Tensor, bias?: Tensor) {
    super();
    if (weight.rank !== 2) {
      throw new ModuleShapeError(`a linear layer needs a 2-D weight, got [${weight.shape.join(", ")}]`);
    }
    if (bias !== undefined && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0])) {
      throw new ModuleShapeError(
        `the bias of a linear layer with weight [${weight.shape.join(", ")}] must be [${weight.shape[0]}], got [${bias.shape.join(", ")}]`,
      );
    }
    this.weight = weight;
    this.bias = bias;
  }

  /** Size of the last input axis (`weight.shape[1]`). */
  get inFeatures(): number {
    return this.weight.shape[1]!;
  }

  /** Size of the last output axis (`weight.shape[0]`). */
  get outFeatures(): number {
    return this.weight.shape[0]!;
  }

  /** `[..., inFeatures]` → `[..., outFeatures]`: `x·Wᵀ + b`. */
  forward(input: Tensor): Tensor {
    return linear(input, this.weight, this.bias);
  }
}
