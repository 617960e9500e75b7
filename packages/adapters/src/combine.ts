import type { LoraAdapter, LoraFactors } from "./adapter.js";
import { adapterScaling, validateAdapter } from "./adapter.js";
import { withLoraConfig } from "./config/lora-config.js";
import { moduleLoraSettings } from "./config/scaling.js";
import { compareDeltas, type DeltaErrorReport } from "./convert.js";
import { AdapterCombinationError } from "./errors.js";
import { truncatedSvd } from "./math/decompositions.js";
import {
  addScaled,
  concatColumns,
  concatRows,
  type Matrix,
  multiply,
  scale,
  scaleColumns,
  zeroMatrix,
} from "./math/matrix.js";

/** How {@link combineAdapters} combines, with PEFT's `add_weighted_adapter` names. */
export type CombinationType = "cat" | "linear" | "svd";

/** Options for {@link combineAdapters}. */
export interface CombineOptions {
  /** The combination (PEFT's `combination_type`). */
  type: CombinationType;
  /** Rank of the `svd` result (PEFT's `svd_rank`; default the largest input rank). */
  svdRank?: number;
}

/** A combined adapter and how far its deltas are from the exact weighted sum Σ wᵢ·sᵢ·BᵢAᵢ. */
export interface CombinationResult {
  /** The combined adapter: r = new rank, lora_alpha = r, so its scaling is 1. */
  readonly adapter: LoraAdapter;
  /** Error against the exact weighted sum of deltas, per module and overall. */
  readonly report: DeltaErrorReport;
}

function unionTargetModules(adapters: readonly LoraAdapter[]): string[] | string | null {
  const targets = adapters.map((adapter) => adapter.config.target_modules);
  if (targets.every((target) => typeof target === "string")) {
    return (targets as string[]).map((target) => `(${target})`).join("|");
  }
  if (targets.every((target) => Array.isArray(target))) {
    const union: string[] = [];
    for (const list of targets as string[][])
      for (const entry of list) if (!union.includes(entry)) union.push(entry);
    return union;
  }
  throw new AdapterCombinationError(
    `cannot combine adapters whose target_modules mix regex strings and lists: ${JSON.stringify(targets)}`,
  );
}

/**
 * Weighted combination of LoRA adapters, with PEFT's `add_weighted_adapter` definitions (each source's scaling
 * sᵢ folded into the factors, result saved with lora_alpha = r so its scaling is 1):
 * - `cat`: A' = [w₁s₁A₁; w₂s₂A₂; …], B' = [B₁, B₂, …], rank Σrᵢ — exactly Σ wᵢsᵢBᵢAᵢ;
 * - `linear`: A' = Σ √(wᵢsᵢ)·Aᵢ, B' = Σ √(wᵢsᵢ)·Bᵢ, equal ranks required — has cross terms, an approximation
 *   (for a negative wᵢsᵢ the sign goes on Aᵢ, where PEFT's `math.sqrt` would fail);
 * - `svd`: the rank-k truncated SVD of Σ wᵢsᵢBᵢAᵢ, B' = U_k·S_k, A' = V_kᵀ.
 * Negative weights are allowed. Unlike PEFT 0.21 (issue #3761), the result never inherits `use_rslora` from the
 * first adapter, so its scaling really is 1. Every result reports its error against the exact weighted sum.
 */
export function combineAdapters(
  adapters: readonly LoraAdapter[],
  weights: readonly number[],
  options: CombineOptions,
): CombinationResult {
  const first = adapters[0];
  if (first === undefined) throw new AdapterCombinationError("combineAdapters needs at least one adapter");
  if (weights.length !== adapters.length) {
    throw new AdapterCombinationError(`${adapters.length} adapters but ${weights.length} weights`);
  }
  for (const weight of weights) {
    if (!Number.isFinite(weight)) throw new AdapterCombinationError(`weight ${weight} is not finite`);
  }
  const moduleNames: string[] = [];
  for (const adapter of adapters) {
    for (const name of adapter.modules.keys()) if (!moduleNames.includes(name)) moduleNames.push(name);
  }
  const maxRank = Math.max(
    ...adapters.flatMap((adapter) =>
      [...adapter.modules.keys()].map((name) => moduleLoraSettings(adapter.config, name).r),
    ),
  );
  let newRank: number;
  if (options.type === "cat") {
    newRank = adapters.reduce((sum, adapter) => sum + adapter.config.r, 0);
    for (const adapter of adapters) {
      if (Object.keys(adapter.config.rank_pattern).length > 0) {
        throw new AdapterCombinationError(
          "cat combination of adapters with a rank_pattern is not supported (PEFT neither)",
        );
      }
    }
  } else if (options.type === "linear") {
    const ranks = new Set(
      adapters.flatMap((adapter) =>
        [...adapter.modules.keys()].map((name) => moduleLoraSettings(adapter.config, name).r),
      ),
    );
    if (ranks.size !== 1) {
      throw new AdapterCombinationError(
        `linear combination needs all adapters to have the same rank, got ranks ${JSON.stringify([...ranks])}`,
      );
    }
    newRank = maxRank;
  } else if (options.type === "svd") {
    newRank = options.svdRank ?? maxRank;
    if (!Number.isInteger(newRank) || newRank <= 0) {
      throw new AdapterCombinationError(`svdRank must be a positive integer, got ${newRank}`);
    }
  } else {
    throw new AdapterCombinationError(
      `unknown combination type ${JSON.stringify(options.type)}; use cat, linear or svd`,
    );
  }

  const modules = new Map<string, LoraFactors>();
  const exact = new Map<string, Matrix>();
  const approximate = new Map<string, Matrix>();
  for (const name of moduleNames) {
    const sources: { factors: LoraFactors; weightedScaling: number }[] = [];
    adapters.forEach((adapter, index) => {
      const factors = adapter.modules.get(name);
      if (factors !== undefined) {
        sources.push({
          factors,
          weightedScaling: (weights[index] as number) * adapterScaling(adapter, name),
        });
      }
    });
    const shapeSource = (sources[0] as (typeof sources)[number]).factors;
    const outFeatures = shapeSource.loraB.rows;
    const inFeatures = shapeSource.loraA.columns;
    let exactDelta = zeroMatrix(outFeatures, inFeatures);
    for (const { factors, weightedScaling } of sources) {
      exactDelta = addScaled(exactDelta, multiply(factors.loraB, factors.loraA), weightedScaling);
    }
    let combined: LoraFactors;
    if (options.type === "cat") {
      // Σ wᵢsᵢBᵢAᵢ = [B₁ … Bₙ]·[w₁s₁A₁; …; wₙsₙAₙ]; modules missing from some adapters leave zero rows/columns
      const loraA = concatRows(
        sources.map(({ factors, weightedScaling }) => scale(factors.loraA, weightedScaling)),
      );
      const loraB = concatColumns(sources.map(({ factors }) => factors.loraB));
      combined = padRank(loraA, loraB, newRank);
    } else if (options.type === "linear") {
      let loraA = zeroMatrix(newRank, inFeatures);
      let loraB = zeroMatrix(outFeatures, newRank);
      for (const { factors, weightedScaling } of sources) {
        const root = Math.sqrt(Math.abs(weightedScaling));
        loraA = addScaled(loraA, factors.loraA, Math.sign(weightedScaling) * root);
        loraB = addScaled(loraB, factors.loraB, root);
      }
      combined = { loraA, loraB };
    } else {
      const factors = truncatedSvd(exactDelta, newRank);
      combined = padRank(
        factors.rightTransposed,
        scaleColumns(factors.left, factors.singularValues),
        newRank,
      );
    }
    modules.set(name, combined);
    exact.set(name, exactDelta);
    approximate.set(name, multiply(combined.loraB, combined.loraA));
  }
  const config = withLoraConfig(first.config, {
    r: newRank,
    lora_alpha: newRank,
    use_rslora: false,
    target_modules: unionTargetModules(adapters),
    rank_pattern: {},
    alpha_pattern: {},
  });
  const adapter: LoraAdapter = { config, modules, metadata: {} };
  validateAdapter(adapter);
  return { adapter, report: compareDeltas(approximate, exact) };
}

/** Zero-pads A (rows) and B (columns) up to `rank` when a module contributes fewer components. */
function padRank(loraA: Matrix, loraB: Matrix, rank: number): LoraFactors {
  if (loraA.rows === rank) return { loraA, loraB };
  const missing = rank - loraA.rows;
  return {
    loraA: concatRows([loraA, zeroMatrix(missing, loraA.columns)]),
    loraB: concatColumns([loraB, zeroMatrix(loraB.rows, missing)]),
  };
}
