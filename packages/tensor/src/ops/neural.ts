import { makeTensor, makeView, runKernel, runOperation } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { ShapeError, TensorArgumentError } from "../errors.js";
import { assertFiniteNumber, assertFloat, assertSameShape, formatShape, sizeOfShape } from "./shape-utils.js";
import { withWidenedInputs } from "./widen.js";

/** Options of {@link softmax}: the fused attention step `softmax(scale · scores + mask)` with a causal mask. */
export interface SoftmaxOptions {
  /** Multiplies the input first (`1/√headDim` for attention scores). Default 1. */
  readonly scale?: number;
  /**
   * An additive mask applied after scaling (0 to keep, −∞ to exclude), shaped like the trailing axes of the input
   * (e.g. `[queries, keys]` for scores `[batch, heads, queries, keys]`; leading axes of extent 1 are allowed).
   */
  readonly mask?: Tensor;
  /**
   * Excludes key `j` from query `i` when `j > i + keys − queries`, over the last two axes `[queries, keys]`: the
   * causal mask of a decoder, aligned to the last key as with a key/value cache. Default false.
   */
  readonly causal?: boolean;
}

/** Runs `kernel` on `a` viewed as `[rows, lastAxis]` (plus extra 2-D inputs) and gives the result `a`'s shape. */
function rowwise(a: Tensor, run: (rows: Tensor) => Tensor): Tensor {
  const columns = a.shape[a.rank - 1]!;
  const view = makeView(a, [a.size / columns || 0, columns]);
  const result = run(view);
  view.dispose();
  const output = makeView(result, a.shape);
  result.dispose();
  return output;
}

/**
 * Softmax over the last axis (max-subtracted, so large logits do not overflow). With options it is the fused
 * attention step `softmax(scale · a + mask)` with an optional causal mask, in one pass over each row (no scaled
 * or masked copy of the scores is made); excluded elements get probability 0.
 *
 * @throws ShapeError when the mask does not match the input's trailing axes, or `causal` is asked of a tensor
 *   with fewer than two axes.
 * @example
 * ```ts
 * const probabilities = softmax(matmul(q, k, { transposeB: true }), { scale: 1 / Math.sqrt(64), causal: true });
 * ```
 */
export function softmax(a: Tensor, options: SoftmaxOptions = {}): Tensor {
  assertFloat("softmax", "input", a);
  if (a.rank === 0) throw new ShapeError("softmax: needs at least one axis, got a scalar");
  const scale = options.scale ?? 1;
  assertFiniteNumber("softmax", "scale", scale);
  const causal = options.causal ?? false;
  const mask = options.mask;
  if (mask === undefined && !causal && scale === 1) {
    return runOperation("softmax", [a], {}, () =>
      withWidenedInputs([a], ([widened]) => rowwise(widened!, (rows) => runKernel("softmax", [rows], {}))),
    );
  }
  if (causal && a.rank < 2) {
    throw new ShapeError(`softmax: causal needs [..., queries, keys], got ${formatShape(a.shape)}`);
  }
  const columns = a.shape[a.rank - 1]!;
  if (mask !== undefined) {
    assertFloat("softmax", "mask", mask);
    const trimmed = mask.shape.slice(mask.shape.findIndex((extent) => extent !== 1));
    const fits =
      mask.rank > 0 &&
      mask.shape[mask.rank - 1] === columns &&
      trimmed.length <= a.rank &&
      trimmed.every((extent, axis) => extent === a.shape[a.rank - trimmed.length + axis]);
    if (!fits) {
      throw new ShapeError(
        `softmax: mask ${formatShape(mask.shape)} must match the trailing axes of the input ${formatShape(a.shape)}`,
      );
    }
  }
  const queries = causal ? a.shape[a.rank - 2]! : 0;
  const inputs = mask === undefined ? [a] : [a, mask];
  return runOperation("softmax", inputs, { scale, causal }, () =>
    withWidenedInputs(inputs, ([widened, wideMask]) =>
      rowwise(widened!, (rows) => {
        if (wideMask === undefined) return runKernel("maskedSoftmax", [rows], { scale, queries });
        const maskRows = makeView(wideMask, [wideMask.size / columns, columns]);
        const result = runKernel("maskedSoftmax", [rows, maskRows], { scale, queries });
        maskRows.dispose();
        return result;
      }),
    ),
  );
}

/**
 * The gradient of a softmax over the last axis from its output `y` and the upstream gradient `dy`:
 * `scale · y ⊙ (dy − Σ dy ⊙ y)`, one fused kernel (used by the gradient rules).
 */
export function softmaxBackward(y: Tensor, dy: Tensor, scale: number): Tensor {
  return rowwise(y, (rows) => {
    const upstream = makeView(dy, rows.shape);
    const result = runKernel("softmaxGradient", [rows, upstream], { scale });
    upstream.dispose();
    return result;
  });
}

/**
 * SwiGLU, the gated activation of Llama-family MLPs: `silu(gate) · up`, in one pass (no `silu(gate)` tensor is
 * materialised). Differentiable in both inputs.
 *
 * @throws ShapeError when the shapes differ.
 * @example
 * ```ts
 * const hidden = matmul(swiGlu(matmul(x, gateWeight, { transposeB: true }), matmul(x, upWeight, { transposeB: true })), downWeight, { transposeB: true });
 * ```
 */
export function swiGlu(gate: Tensor, up: Tensor): Tensor {
  assertFloat("swiGlu", "gate", gate);
  assertFloat("swiGlu", "up", up);
  assertSameShape("swiGlu", gate, up);
  return runOperation("swiGlu", [gate, up], {}, () =>
    withWidenedInputs([gate, up], (widened) => runKernel("swiGlu", widened, {})),
  );
}

/** The gradient of {@link swiGlu} for its gate (`input` 0) or up (`input` 1) input, one fused kernel. */
export function swiGluBackward(gate: Tensor, up: Tensor, dy: Tensor, input: 0 | 1): Tensor {
  return withWidenedInputs([gate, up], ([wideGate, wideUp]) =>
    runKernel("swiGluGradient", [wideGate!, wideUp!, dy], { input }),
  );
}

/** The gradient of {@link rmsNorm} with respect to `x`, one fused kernel (used by its gradient rule). */
export function rmsNormBackward(x: Tensor, weight: Tensor, dy: Tensor, epsilon: number): Tensor {
  return withWidenedInputs([x, weight], ([wideX, wideWeight]) =>
    rowwise(wideX!, (rows) => {
      const upstream = makeView(dy, rows.shape);
      const result = runKernel("rmsNormGradient", [rows, wideWeight!, upstream], { epsilon });
      upstream.dispose();
      return result;
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
