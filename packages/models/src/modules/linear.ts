import { matmul, reshape, type Tensor } from "@peftjs/tensor";
import { ModelInputError } from "../errors.js";

/**
 * A linear layer `y = x · Wᵀ` that a model calls through this interface, so that an adapter (LoRA, PiSSA, ...)
 * can stand in for it: an adapter implements `LinearModule` around the original module (same `name`,
 * `inFeatures`, `outFeatures`) and the model's {@link LinearModuleHost.replaceLinear} puts it in the slot.
 */
export interface LinearModule {
  /** The Hugging Face module path, e.g. `"model.layers.0.self_attn.q_proj"` (PEFT target names match it). */
  readonly name: string;
  /** Size of the last input axis. */
  readonly inFeatures: number;
  /** Size of the last output axis. */
  readonly outFeatures: number;
  /** The base weight, `[outFeatures, inFeatures]` as in PyTorch's `nn.Linear`. */
  readonly weight: Tensor;
  /** Maps `[..., inFeatures]` to `[..., outFeatures]`. Must not dispose its input. */
  forward(input: Tensor): Tensor;
}

/** Something that owns named {@link LinearModule} slots (a model). */
export interface LinearModuleHost {
  /** Every linear slot, in module order (Hugging Face's `named_modules()` order), keyed by module path. */
  linearModules(): Map<string, LinearModule>;
  /** The module in slot `name`. @throws ModuleNotFoundError for an unknown name. */
  getLinear(name: string): LinearModule;
  /**
   * Puts `replacement` into slot `name` and returns the module that was there. A function receives the
   * current module and returns the replacement (the usual way to wrap: `host.replaceLinear(n, (base) => new Lora(base))`).
   *
   * @throws ModuleNotFoundError for an unknown name; ModuleShapeError when the replacement's name or sizes differ.
   */
  replaceLinear(
    name: string,
    replacement: LinearModule | ((current: LinearModule) => LinearModule),
  ): LinearModule;
}

/**
 * Applies `x · weightᵀ` over the last axis of `input` (any rank ≥ 1), the forward of PyTorch's bias-free
 * `nn.Linear`.
 */
export function linearForward(input: Tensor, weight: Tensor): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  const leading = input.shape.slice(0, -1);
  if (input.shape.at(-1) !== inFeatures) {
    throw new ModelInputError(
      `linear layer with weight [${weight.shape.join(", ")}] got input [${input.shape.join(", ")}]: last axis must be ${inFeatures}`,
    );
  }
  const rows = leading.reduce((product, extent) => product * extent, 1);
  const flat = input.rank === 2 ? input : reshape(input, [rows, inFeatures]);
  const output = matmul(flat, weight, { transposeB: true });
  return input.rank === 2 ? output : reshape(output, [...leading, outFeatures]);
}

/** A bias-free dense linear layer over a fixed weight (Hugging Face Llama's projections and `lm_head`). */
export class Linear implements LinearModule {
  readonly name: string;
  readonly weight: Tensor;
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** @param weight `[outFeatures, inFeatures]`, float32. */
  constructor(name: string, weight: Tensor) {
    if (weight.rank !== 2) {
      throw new ModelInputError(
        `linear layer "${name}" needs a 2-D weight, got [${weight.shape.join(", ")}]`,
      );
    }
    this.name = name;
    this.weight = weight;
    this.outFeatures = weight.shape[0]!;
    this.inFeatures = weight.shape[1]!;
  }

  forward(input: Tensor): Tensor {
    return linearForward(input, this.weight);
  }
}
