import type { MajoritySignMethod } from "./combination-types.js";

// Elementwise merges of "task tensors" (equal-length float32 arrays, one per adapter), as PEFT's
// utils/merge_utils.py defines them (TIES: Yadav et al. 2023; DARE: Yu et al. 2023). Products and quotients are
// rounded to float32 where torch computes in float32, so deterministic merges agree with PEFT to the last bits.

/** How {@link mergeTaskTensors} prunes and merges. */
export interface TaskMergePlan {
  /** `magnitude`: keep the top-k |x|; `random`: keep a Bernoulli(density) mask, rescale by 1/density. */
  readonly pruning: "none" | "magnitude" | "random";
  /** TIES: elect a sign per element, then average the weighted values that agree with it. */
  readonly electsSign: boolean;
  /** Fraction kept; at 1 (or above) nothing is pruned, as PEFT. */
  readonly density: number;
  /** How the sign is elected. */
  readonly majoritySignMethod: MajoritySignMethod;
}

/**
 * Keeps the k = ⌊density·n⌋ elements of largest |x| (PEFT's `magnitude_based_pruning`, `torch.topk`) and zeroes
 * the rest. Exactly k are kept even when |x| ties at the threshold: the tied elements with the lowest indices
 * win. (torch's CPU `topk` breaks such ties by `std::partial_sort`/`std::nth_element` order, which no
 * specification fixes; trained float weights essentially never tie there.)
 */
export function magnitudePrune(values: Float32Array, density: number): Float32Array {
  const count = values.length;
  const keep = Math.trunc(density * count);
  const result = new Float32Array(count);
  if (keep <= 0) return result;
  if (keep >= count) {
    result.set(values);
    return result;
  }
  const magnitudes = new Float32Array(count);
  for (let index = 0; index < count; index++) magnitudes[index] = Math.abs(values[index] as number);
  const threshold = magnitudes.slice().sort()[count - keep] as number;
  let strictlyAbove = 0;
  for (const magnitude of magnitudes) if (magnitude > threshold) strictlyAbove++;
  let tiesToKeep = keep - strictlyAbove;
  for (let index = 0; index < count; index++) {
    const magnitude = magnitudes[index] as number;
    if (magnitude > threshold || (magnitude === threshold && tiesToKeep-- > 0)) {
      result[index] = values[index] as number;
    }
  }
  return result;
}

/**
 * DARE's random pruning with rescaling (PEFT's `random_pruning(…, rescale=True)`): x·mask/density, computed in
 * float32 as torch does, so the expected value of every element is unchanged.
 */
export function randomPrune(values: Float32Array, mask: Uint8Array, density: number): Float32Array {
  const density32 = Math.fround(density);
  const result = new Float32Array(values.length);
  for (let index = 0; index < values.length; index++) {
    if (mask[index] === 1) result[index] = (values[index] as number) / density32;
  }
  return result;
}

/**
 * TIES sign election (PEFT's `calculate_majority_sign_mask`) over the pruned, unweighted tensors: `total` takes
 * the sign of Σᵢ xᵢ, `frequency` the sign of Σᵢ sign(xᵢ); a zero elects +1. Returns +1/−1 per element.
 */
export function electSigns(tensors: readonly Float32Array[], method: MajoritySignMethod): Int8Array {
  const length = (tensors[0] as Float32Array).length;
  const signs = new Int8Array(length);
  for (let index = 0; index < length; index++) {
    let total = 0;
    for (const tensor of tensors) {
      const value = tensor[index] as number;
      total += method === "total" ? value : Math.sign(value);
    }
    signs[index] = total >= 0 ? 1 : -1;
  }
  return signs;
}

/**
 * Prunes every tensor as the plan says (calling `drawMask(i)` for tensor i when the pruning is random), then
 * merges: a weighted sum Σᵢ wᵢ·xᵢ, or with sign election TIES's disjoint mean
 * Σ_{i: sign xᵢ = elected} wᵢ·xᵢ / max(1, #{i: sign xᵢ = elected}). Weights are rounded to float32 first, as PEFT
 * passes them through `torch.tensor`.
 */
export function mergeTaskTensors(
  tensors: readonly Float32Array[],
  weights: readonly number[],
  plan: TaskMergePlan,
  drawMask: (tensorIndex: number) => Uint8Array,
): Float32Array {
  const prunes = plan.pruning !== "none" && plan.density < 1;
  const pruned = tensors.map((tensor, index) => {
    if (!prunes) return tensor;
    return plan.pruning === "magnitude"
      ? magnitudePrune(tensor, plan.density)
      : randomPrune(tensor, drawMask(index), plan.density);
  });
  const weights32 = weights.map((weight) => Math.fround(weight));
  const length = (tensors[0] as Float32Array).length;
  const result = new Float32Array(length);
  const elected = plan.electsSign ? electSigns(pruned, plan.majoritySignMethod) : null;
  for (let index = 0; index < length; index++) {
    let total = 0;
    let agreeing = 0;
    for (let tensor = 0; tensor < pruned.length; tensor++) {
      const value = (pruned[tensor] as Float32Array)[index] as number;
      if (elected !== null && Math.sign(value) !== elected[index]) continue;
      total += Math.fround(value * (weights32[tensor] as number));
      agreeing++;
    }
    result[index] = elected === null ? total : Math.fround(total) / Math.max(1, agreeing);
  }
  return result;
}
