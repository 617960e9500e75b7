import { matmul, reshape, type Tensor, tensor } from "@peftjs/tensor";
import { AdapterShapeError } from "../errors.js";
import type { Matrix } from "../math/matrix.js";

/**
 * A linear layer y = x·Wᵀ as a model calls it. Structurally the same as `@peftjs/models`' `LinearModule`, so any
 * model that exposes its projections this way (see {@link LinearLayerHost}) can carry adapters.
 */
export interface LinearLayer {
  /** The Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly name: string;
  /** Size of the last input axis. */
  readonly inFeatures: number;
  /** Size of the last output axis. */
  readonly outFeatures: number;
  /** The weight, [outFeatures, inFeatures]. */
  readonly weight: Tensor;
  /** Maps [..., inFeatures] to [..., outFeatures]; must not dispose its input. */
  forward(input: Tensor): Tensor;
}

/** A model whose linear layers can be swapped (structurally `@peftjs/models`' `LinearModuleHost`). */
export interface LinearLayerHost {
  /** Every linear slot in module order, keyed by module path. */
  linearModules(): Map<string, LinearLayer>;
  /** The layer in slot `name`. */
  getLinear(name: string): LinearLayer;
  /** Puts `replacement` into slot `name` and returns the previous occupant. */
  replaceLinear(
    name: string,
    replacement: LinearLayer | ((current: LinearLayer) => LinearLayer),
  ): LinearLayer;
}

/** x·Wᵀ over the last axis of `input` (any rank ≥ 1). */
export function applyWeight(input: Tensor, weight: Tensor): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (input.shape.at(-1) !== inFeatures) {
    throw new AdapterShapeError(
      `weight [${weight.shape.join(", ")}] cannot take input [${input.shape.join(", ")}]: last axis must be ${inFeatures}`,
    );
  }
  if (input.rank === 2) return matmul(input, weight, { transposeB: true });
  const leading = input.shape.slice(0, -1);
  const rows = leading.reduce((product, extent) => product * extent, 1);
  const output = matmul(reshape(input, [rows, inFeatures]), weight, { transposeB: true });
  return reshape(output, [...leading, outFeatures]);
}

/** A plain bias-free linear layer over a fixed weight (used for residual, merged and unloaded layers). */
export class PlainLinear implements LinearLayer {
  readonly name: string;
  readonly weight: Tensor;
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** @param weight [outFeatures, inFeatures], float32. */
  constructor(name: string, weight: Tensor) {
    this.name = name;
    this.weight = weight;
    this.outFeatures = weight.shape[0] as number;
    this.inFeatures = weight.shape[1] as number;
  }

  forward(input: Tensor): Tensor {
    return applyWeight(input, this.weight);
  }
}

/** A float32 tensor holding a matrix's values. */
export function matrixToTensor(value: Matrix): Tensor {
  return tensor(value.data, [value.rows, value.columns]);
}

/** A 2-D tensor's values as a matrix (copied). */
export function tensorToMatrix(value: Tensor): Matrix {
  return { rows: value.shape[0] as number, columns: value.shape[1] as number, data: value.toFloat32Array() };
}
