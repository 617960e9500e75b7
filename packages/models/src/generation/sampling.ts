import { ModelInputError } from "../errors.js";

/** How the next token is chosen from a row of logits. */
export interface SamplingOptions {
  /** Softmax temperature; `0` (the default) means greedy argmax. */
  temperature?: number;
  /**
   * Nucleus sampling: keep the most probable tokens whose cumulative probability first reaches `topP`
   * (at least one token), renormalise, sample among them. Default `1` (no filtering).
   */
  topP?: number;
}

/** Index of the first maximum (NaN never wins), as `torch.argmax` on a CPU tensor. */
export function argmaxIndex(logits: Float32Array): number {
  let best = 0;
  for (let index = 1; index < logits.length; index++) if (logits[index]! > logits[best]!) best = index;
  return best;
}

/** Checks sampling options, naming the offending value. */
export function validateSamplingOptions(options: SamplingOptions): void {
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0)) {
    throw new ModelInputError(`temperature must be a finite number ≥ 0, got ${temperature}`);
  }
  if (!(topP > 0 && topP <= 1)) throw new ModelInputError(`topP must be in (0, 1], got ${topP}`);
}

/**
 * Picks a token from one row of logits: argmax when the temperature is 0, otherwise a draw from
 * `softmax(logits / temperature)` (optionally restricted to the top-p nucleus) using `uniform`, a number
 * in [0, 1). Probabilities are computed in float64; candidates are visited from most to least probable
 * (ties by lower id), and the draw picks the first whose cumulative mass exceeds `uniform · keptMass`.
 */
export function sampleToken(logits: Float32Array, options: SamplingOptions, uniform: number): number {
  const temperature = options.temperature ?? 0;
  if (temperature === 0) return argmaxIndex(logits);
  const topP = options.topP ?? 1;
  let maximum = Number.NEGATIVE_INFINITY;
  for (const value of logits) maximum = Math.max(maximum, value / temperature);
  const probabilities = new Float64Array(logits.length);
  let total = 0;
  for (let index = 0; index < logits.length; index++) {
    probabilities[index] = Math.exp(logits[index]! / temperature - maximum);
    total += probabilities[index]!;
  }
  const order = Array.from(probabilities.keys()).sort(
    (a, b) => probabilities[b]! - probabilities[a]! || a - b,
  );
  let keptCount = 0;
  let keptMass = 0;
  while (keptCount < order.length && (keptCount === 0 || keptMass / total < topP)) {
    keptMass += probabilities[order[keptCount]!]!;
    keptCount++;
  }
  const target = uniform * keptMass;
  let cumulative = 0;
  for (let rank = 0; rank < keptCount; rank++) {
    cumulative += probabilities[order[rank]!]!;
    if (cumulative > target) return order[rank]!;
  }
  return order[keptCount - 1]!;
}
