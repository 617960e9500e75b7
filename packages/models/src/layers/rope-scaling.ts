import { type Tensor, tensor } from "@peftjs/tensor";
import type { RopeParameters } from "./rope-parameters.js";

// The inverse frequencies of each RoPE type as transformers' `modeling_rope_utils.py` (5.x) computes them, in
// float32 where torch computes in float32 (every `fround` below is one torch float32 operation).

const fround = Math.fround;

/** What a RoPE type yields: `inv_freq` (headDim/2 values) and the factor cos/sin are multiplied by. */
export interface RopeFrequencies {
  /** transformers' `inv_freq` buffer, float32. */
  readonly inverseFrequencies: Float32Array;
  /** transformers' `attention_scaling` (1 except for yarn). */
  readonly attentionScaling: number;
}

/** `1 / base^(2i/dim)` for i < dim/2, each step in float32 (`_compute_default_rope_parameters`). */
function defaultFrequencies(base: number, dim: number): Float32Array {
  const frequencies = new Float32Array(dim / 2);
  for (let index = 0; index < dim / 2; index++) {
    frequencies[index] = fround(1 / fround(fround(base) ** fround((2 * index) / dim)));
  }
  return frequencies;
}

/**
 * llama3 (Llama 3.1, `_compute_llama3_parameters`): with wavelength λ = 2π/f and L = original context,
 * λ < L/high keeps f, λ > L/low uses f/factor, and in between f is smoothed:
 * `(1 − s)·f/factor + s·f` with `s = (L/λ − low)/(high − low)`.
 */
function llama3Frequencies(parameters: RopeParameters, dim: number): Float32Array {
  const factor = parameters.factor!;
  const low = parameters.lowFrequencyFactor!;
  const high = parameters.highFrequencyFactor!;
  const context = parameters.originalMaxPositionEmbeddings!;
  const lowFrequencyWavelength = context / low;
  const highFrequencyWavelength = context / high;
  return defaultFrequencies(parameters.ropeTheta, dim).map((frequency) => {
    const wavelength = fround(fround(2 * Math.PI) / frequency);
    const scaled = wavelength > lowFrequencyWavelength ? fround(frequency / factor) : frequency;
    if (wavelength < highFrequencyWavelength || wavelength > lowFrequencyWavelength) return scaled;
    const smooth = fround(fround(fround(context / wavelength) - low) / (high - low));
    return fround(fround(fround(1 - smooth) * fround(scaled / factor)) + fround(smooth * scaled));
  });
}

/**
 * dynamic NTK (`_compute_dynamic_ntk_parameters`): for a sequence of `length > max_position_embeddings` (M)
 * positions the base grows to `θ·(factor·length/M − (factor − 1))^(dim/(dim−2))`; up to M it is θ.
 */
function dynamicFrequencies(parameters: RopeParameters, dim: number, length: number): Float32Array {
  const maximum = parameters.maxPositionEmbeddings;
  if (length <= maximum) return defaultFrequencies(parameters.ropeTheta, dim);
  // In the forward pass seq_len is a tensor, so torch evaluates the new base in float32.
  const factor = parameters.factor!;
  const growth = fround(fround(fround(factor * length) / maximum) - (factor - 1));
  const base = fround(parameters.ropeTheta * fround(growth ** (dim / (dim - 2))));
  return defaultFrequencies(base, dim);
}

/** yarn's `get_mscale`: `0.1·m·ln(scale) + 1` for scale > 1, else 1. */
function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/**
 * YaRN (arXiv 2309.00071, `_compute_yarn_parameters`): per dimension pair i, a ramp
 * `r_i = clamp((i − low)/(high − low), 0, 1)` between the correction dimensions of `beta_fast` and `beta_slow`
 * rotations over the original context (`d(n) = dim·ln(L/(2πn)) / (2·ln θ)`, floored/ceiled when truncating)
 * blends `f_i/factor` (interpolation, weight r_i) with `f_i` (extrapolation, weight 1 − r_i). cos and sin are
 * multiplied by the attention factor (`attention_factor`, else mscale(factor, mscale)/mscale(factor,
 * mscale_all_dim) when both are set, else `0.1·ln(factor) + 1`).
 */
function yarnFrequencies(parameters: RopeParameters, dim: number): RopeFrequencies {
  const base = parameters.ropeTheta;
  const factor = parameters.factor!;
  const { mscale, mscaleAllDim } = parameters;
  const attentionScaling =
    parameters.attentionFactor ??
    (mscale && mscaleAllDim
      ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim)
      : yarnMscale(factor));
  const correctionDimension = (rotations: number) =>
    (dim * Math.log(parameters.originalMaxPositionEmbeddings! / (rotations * 2 * Math.PI))) /
    (2 * Math.log(base));
  let low = correctionDimension(parameters.betaFast!);
  let high = correctionDimension(parameters.betaSlow!);
  if (parameters.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  low = Math.max(low, 0);
  high = Math.min(high, dim - 1);
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  const frequencies = new Float32Array(dim / 2);
  for (let index = 0; index < dim / 2; index++) {
    const power = fround(fround(base) ** fround((2 * index) / dim));
    const extrapolation = fround(1 / power);
    const interpolation = fround(1 / fround(factor * power));
    const ramp = Math.min(Math.max(fround(fround(index - low) / fround(high - low)), 0), 1);
    const extrapolationWeight = fround(1 - ramp);
    frequencies[index] = fround(
      fround(interpolation * fround(1 - extrapolationWeight)) + fround(extrapolation * extrapolationWeight),
    );
  }
  return { inverseFrequencies: frequencies, attentionScaling };
}

/**
 * The inverse frequencies and attention scaling of a RoPE type for heads of width `headDim`, for a forward
 * pass whose largest position is `sequenceLength − 1` (only `dynamic` depends on it; default: the model's
 * `max_position_embeddings`, i.e. the unscaled base).
 */
export function ropeFrequencies(
  parameters: RopeParameters,
  headDim: number,
  sequenceLength = parameters.maxPositionEmbeddings,
): RopeFrequencies {
  switch (parameters.ropeType) {
    case "default":
      return { inverseFrequencies: defaultFrequencies(parameters.ropeTheta, headDim), attentionScaling: 1 };
    case "linear":
      // Dividing the frequencies by the factor is dividing the positions by it.
      return {
        inverseFrequencies: defaultFrequencies(parameters.ropeTheta, headDim).map((frequency) =>
          fround(frequency / parameters.factor!),
        ),
        attentionScaling: 1,
      };
    case "dynamic":
      return {
        inverseFrequencies: dynamicFrequencies(parameters, headDim, sequenceLength),
        attentionScaling: 1,
      };
    case "llama3":
      return { inverseFrequencies: llama3Frequencies(parameters, headDim), attentionScaling: 1 };
    case "yarn":
      return yarnFrequencies(parameters, headDim);
  }
}

/** The cos/sin tables of the new positions, `[T, headDim]` each. */
export interface RotaryTables {
  /** `cos(position·f)·scaling`, the frequencies repeated over both halves. */
  readonly cos: Tensor;
  /** `sin(position·f)·scaling`. */
  readonly sin: Tensor;
}

/**
 * A model's rotary embedding (transformers' `LlamaRotaryEmbedding`): builds rotate-half cos/sin tables for
 * positions. For `dynamic` it keeps transformers' state: the frequencies grow when a forward pass reaches past
 * the longest sequence seen so far (beyond `max_position_embeddings`) and return to the original ones when a
 * pass is shorter than `max_position_embeddings` again (`dynamic_rope_update`).
 */
export class RotaryEmbedding {
  readonly #parameters: RopeParameters;
  readonly #headDim: number;
  #frequencies: RopeFrequencies;
  #longestSequence: number;

  constructor(parameters: RopeParameters, headDim: number) {
    this.#parameters = parameters;
    this.#headDim = headDim;
    this.#frequencies = ropeFrequencies(parameters, headDim);
    this.#longestSequence = parameters.maxPositionEmbeddings;
  }

  /** The frequencies the next tables are built from (transformers' current `inv_freq` buffer). */
  get frequencies(): RopeFrequencies {
    return this.#frequencies;
  }

  /** Tables for `length` consecutive positions from `start`. */
  tables(start: number, length: number): RotaryTables {
    if (this.#parameters.ropeType === "dynamic") this.#updateDynamic(start + length);
    const { inverseFrequencies, attentionScaling } = this.#frequencies;
    const headDim = this.#headDim;
    const half = headDim / 2;
    const scaling = fround(attentionScaling);
    const cos = new Float32Array(length * headDim);
    const sin = new Float32Array(length * headDim);
    for (let row = 0; row < length; row++) {
      for (let index = 0; index < half; index++) {
        // freqs = inv_freq ⊗ position in float32, then cos/sin in float32, times attention_scaling.
        const angle = fround(fround(start + row) * inverseFrequencies[index]!);
        const cosine = fround(fround(Math.cos(angle)) * scaling);
        const sine = fround(fround(Math.sin(angle)) * scaling);
        cos[row * headDim + index] = cosine;
        cos[row * headDim + index + half] = cosine;
        sin[row * headDim + index] = sine;
        sin[row * headDim + index + half] = sine;
      }
    }
    return { cos: tensor(cos, [length, headDim]), sin: tensor(sin, [length, headDim]) };
  }

  #updateDynamic(sequenceLength: number): void {
    const original = this.#parameters.maxPositionEmbeddings;
    const longest = this.#longestSequence;
    if (sequenceLength > longest) {
      this.#frequencies = ropeFrequencies(this.#parameters, this.#headDim, sequenceLength);
      this.#longestSequence = sequenceLength;
    }
    if (sequenceLength < original && longest > original) {
      this.#frequencies = ropeFrequencies(this.#parameters, this.#headDim);
      this.#longestSequence = original;
    }
  }
}
