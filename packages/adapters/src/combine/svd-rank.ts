import type { LoraAdapter } from "../adapter.js";
import { moduleLoraSettings } from "../config/scaling.js";
import type { CombinationTraits } from "./combination-types.js";

/**
 * The largest rank a `svd`/`*_svd` result can use without all-zero components: per module, the merged delta
 * [out, in] has rank ≤ min(out, in), and a weighted sum of the deltas sᵢBᵢAᵢ (no pruning, no sign election) has
 * rank ≤ Σ rᵢ as well; elementwise pruning or sign election makes it full rank in general. The maximum over
 * the modules (smaller modules are zero-padded up to it, as PEFT's single `r` requires).
 */
export function largestMeaningfulSvdRank(
  adapters: readonly LoraAdapter[],
  traits: CombinationTraits,
  density: number,
): number {
  const linearInDeltas = !traits.electsSign && (traits.pruning === "none" || density >= 1);
  const bounds = new Map<string, { full: number; rankSum: number }>();
  for (const adapter of adapters) {
    for (const [name, { loraA, loraB }] of adapter.modules) {
      const bound = bounds.get(name) ?? { full: Math.min(loraB.rows, loraA.columns), rankSum: 0 };
      bound.rankSum += moduleLoraSettings(adapter.config, name).r;
      bounds.set(name, bound);
    }
  }
  let largest = 1;
  for (const { full, rankSum } of bounds.values()) {
    largest = Math.max(largest, linearInDeltas ? Math.min(full, rankSum) : full);
  }
  return largest;
}
