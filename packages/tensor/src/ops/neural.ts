import { makeTensor, makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { assertFiniteNumber, assertFloat, formatShape, sizeOfShape } from "./shape-utils.js";
import { withWidenedInputs } from "./widen.js";

/** Softmax over the last axis (max-subtracted, so large logits do not overflow). */
export function softmax(a: Tensor): Tensor {
  assertFloat("softmax", "input", a);
  if (a.rank === 0) throw new ShapeError("softmax: needs at least one axis, got a scalar");
  return runOperation("softmax", [a], {}, () =>
    withWidenedInputs([a], ([widened]) => {
      const columns = a.shape[a.rank - 1]!;
      const view = makeView(widened!, [a.size / columns || 0, columns]);
      const result = runKernel("softmax", [view], {});
      view.dispose();
      const output = makeView(result, a.shape);
      result.dispose();
      return output;
    }),
  );
}

/**
 * RMS normalisation over the last axis with Hugging Face LlamaRMSNorm semantics:
 * `weight * (x * rsqrt(mean(x², -1) + epsilon))`, in float32.
 *
 * @param weight - `[hidden]`, the size of `x`'s last axis.
 * @throws ShapeError when `weight` does not match the last axis of `x`.
 */
export function rmsNorm(x: Tensor, weight: Tensor, epsilon: number): Tensor {
  assertFloat("rmsNorm", "x", x);
  assertFloat("rmsNorm", "weight", weight);
  if (!(epsilon >= 0)) throw new TensorArgumentError(`rmsNorm: epsilon must be ≥ 0, got ${epsilon}`);
  const hidden = x.shape[x.rank - 1];
  if (x.rank === 0 || weight.rank !== 1 || weight.shape[0] !== hidden) {
    throw new ShapeError(
      `rmsNorm: weight ${formatShape(weight.shape)} must be [${hidden ?? "?"}] for x ${formatShape(x.shape)}`,
    );
  }
  return runOperation("rmsNorm", [x, weight], { epsilon }, () =>
    withWidenedInputs([x, weight], ([wideX, wideWeight]) => {
      const view = makeView(wideX!, [x.size / hidden! || 0, hidden!]);
      const result = runKernel("rmsNorm", [view, wideWeight!], { epsilon });
      view.dispose();
      const output = makeView(result, x.shape);
      result.dispose();
      return output;
    }),
  );
}

/**
 * Rotary position embedding in Hugging Face's rotate-half convention:
 * `x * cos + rotate_half(x) * sin`, `rotate_half([x1, x2]) = [-x2, x1]` over the halves of the last axis.
 *
 * @param x - `[..., sequence, headDim]`, e.g. `[batch, heads, sequence, headDim]`.
 * @param cos - `[sequence, headDim]`, from {@link rotaryTables}.
 * @param sin - `[sequence, headDim]`, from {@link rotaryTables}.
 * @throws ShapeError when the tables do not match `x`'s last two axes or `headDim` is odd.
 */
export function applyRotaryEmbedding(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  assertFloat("applyRotaryEmbedding", "x", x);
  assertFloat("applyRotaryEmbedding", "cos", cos);
  assertFloat("applyRotaryEmbedding", "sin", sin);
  const sequence = x.shape[x.rank - 2];
  const headDim = x.shape[x.rank - 1];
  const fits = (table: Tensor) =>
    table.rank === 2 && table.shape[0] === sequence && table.shape[1] === headDim;
  if (x.rank < 2 || headDim! % 2 !== 0 || !fits(cos) || !fits(sin)) {
    throw new ShapeError(
      `applyRotaryEmbedding: x ${formatShape(x.shape)} needs [..., sequence, even headDim] and cos ${formatShape(cos.shape)} / sin ${formatShape(sin.shape)} equal to [sequence, headDim]`,
    );
  }
  return runOperation("applyRotaryEmbedding", [x, cos, sin], {}, () =>
    withWidenedInputs([x, cos, sin], ([wideX, wideCos, wideSin]) => {
      const view = makeView(wideX!, [sizeOfShape(x.shape.slice(0, -2)), sequence!, headDim!]);
      const result = runKernel("rotaryEmbedding", [view, wideCos!, wideSin!], {});
      view.dispose();
      const output = makeView(result, x.shape);
      result.dispose();
      return output;
    }),
  );
}

/** The cos/sin tables of {@link rotaryTables}. */
export interface RotaryTables {
  /** `[positions, headDim]`. */
  readonly cos: Tensor;
  /** `[positions, headDim]`. */
  readonly sin: Tensor;
}

/**
 * Builds rotary cos/sin tables as Hugging Face's default `LlamaRotaryEmbedding`: in float32,
 * `inv_freq[i] = 1 / theta^(2i / headDim)`, `freqs = position * inv_freq`, `emb = [freqs, freqs]`,
 * tables `cos(emb)`, `sin(emb)`.
 *
 * @param positions - the positions (e.g. `[0, 1, ..., length-1]`, or offset by a KV cache's length).
 * @param headDim - the (even) size of each attention head.
 * @param theta - `rope_theta` (10000 for Llama 2).
 */
export function rotaryTables(positions: readonly number[], headDim: number, theta = 10000): RotaryTables {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new TensorArgumentError(`rotaryTables: headDim must be a positive even integer, got ${headDim}`);
  }
  assertFiniteNumber("rotaryTables", "theta", theta);
  const half = headDim / 2;
  const fround = Math.fround;
  const inverseFrequencies = new Float32Array(half);
  for (let index = 0; index < half; index++) {
    // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), each step in float32.
    inverseFrequencies[index] = fround(1 / fround(fround(theta) ** fround((2 * index) / headDim)));
  }
  const cos = new Float32Array(positions.length * headDim);
  const sin = new Float32Array(positions.length * headDim);
  positions.forEach((position, row) => {
    for (let index = 0; index < half; index++) {
      const angle = fround(fround(position) * inverseFrequencies[index]!);
      const cosine = Math.cos(angle);
      const sine = Math.sin(angle);
      cos[row * headDim + index] = cosine;
      cos[row * headDim + index + half] = cosine;
      sin[row * headDim + index] = sine;
      sin[row * headDim + index + half] = sine;
    }
  });
  return {
    cos: makeTensor(cos, [positions.length, headDim], "float32"),
    sin: makeTensor(sin, [positions.length, headDim], "float32"),
  };
}
