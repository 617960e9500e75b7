import type { LoraAdapter, LoraFactors } from "../adapter.js";
import { adapterScaling, validateAdapter, variantParameterModule } from "../adapter.js";
import { withLoraConfig } from "../config/lora-config.js";
import { moduleLoraSettings } from "../config/scaling.js";
import { compareDeltas, type DeltaErrorReport } from "../convert.js";
import { AdapterCombinationError } from "../errors.js";
import { truncatedSvd } from "../math/decompositions.js";
import {
  addScaled,
  concatColumns,
  concatRows,
  isAllFinite,
  type Matrix,
  multiply,
  scale,
  scaleColumns,
  zeroMatrix,
} from "../math/matrix.js";
import {
  type CombinationTraits,
  type CombinationType,
  type CombineOptions,
  validateCombineOptions,
} from "./combination-types.js";
import { type DareMaskRequest, type DareMaskSource, philoxDareMasks } from "./dare-masks.js";
import { type CombinationRecord, combinationRecordToMetadata } from "./metadata.js";
import { largestMeaningfulSvdRank } from "./svd-rank.js";
import { mergeTaskTensors, type TaskMergePlan } from "./task-merging.js";

/** Something the combination did that the caller did not literally ask for. */
export interface CombinationNote {
  /**
   * - `single_adapter_linear`: one adapter is always combined with `linear` (PEFT does the same); the result
   *   is exactly w·s·B·A and density/svdRank are not used;
   * - `svd_rank_clamped`: the requested `svdRank` exceeds what the merged deltas can carry, so the result has
   *   the largest meaningful rank instead of zero-padded components;
   * - `no_pruning`: density 1 keeps every element (PEFT warns likewise), so nothing random was drawn.
   */
  readonly code: "single_adapter_linear" | "svd_rank_clamped" | "no_pruning";
  /** One sentence for a person. */
  readonly message: string;
}

/** What DARE's random pruning did (only for `dare_*` types with density < 1). */
export interface RandomPruningStatistics {
  /** The Philox seed the masks came from (null when the masks were injected, see `combineWithMaskSource`). */
  readonly seed: number | null;
  /** The requested keep probability. */
  readonly density: number;
  /** Elements kept, over every pruned tensor. */
  readonly keptElements: number;
  /** Elements that went through a mask. */
  readonly totalElements: number;
}

/** A combined adapter, how far its deltas are from the exact weighted sum Σ wᵢ·sᵢ·BᵢAᵢ, and what happened. */
export interface CombinationResult {
  /**
   * The combined adapter: r = new rank, lora_alpha = r, so its scaling is 1. Its metadata records the
   * combination (`peftjs.combination`, see {@link readCombinationRecord}), including the DARE seed.
   */
  readonly adapter: LoraAdapter;
  /** Error against the exact weighted sum of deltas, per module and overall. */
  readonly report: DeltaErrorReport;
  /** The type actually applied (`linear` for a single adapter, as PEFT). */
  readonly appliedType: CombinationType;
  /** Clamps and fallbacks, each with a message (empty when the request was applied as given). */
  readonly notes: readonly CombinationNote[];
  /** DARE mask statistics, when random pruning ran. */
  readonly randomPruning: RandomPruningStatistics | null;
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

/** One adapter's contribution to one module. */
interface ModuleSource {
  readonly adapterIndex: number;
  readonly factors: LoraFactors;
  /** s of this adapter at this module. */
  readonly scaling: number;
  /** The user's weight w. */
  readonly weight: number;
}

/**
 * Weighted combination of LoRA adapters with PEFT 0.21's `add_weighted_adapter` definitions; the result is
 * saved with lora_alpha = r, so its scaling is 1. With weights wᵢ and scalings sᵢ:
 * - `cat`: A' = [w₁s₁A₁; w₂s₂A₂; …], B' = [B₁, B₂, …], rank Σrᵢ — exactly Σ wᵢsᵢBᵢAᵢ;
 * - `linear`, `ties`, `dare_linear`, `dare_ties`, `magnitude_prune` act on the **factors**: the lora_A's are
 *   merged with weights sign(wᵢsᵢ)·√|wᵢsᵢ|, the lora_B's separately with √|wᵢsᵢ| (equal ranks required). The
 *   delta B'·A' then has cross terms BᵢAⱼ: far from Σ wᵢsᵢBᵢAᵢ (PEFT's own results are 82–224 % off);
 * - `svd` and every `*_svd` type act on the **deltas** sᵢBᵢAᵢ with weights wᵢ, then truncate the merged delta to
 *   `svdRank` by SVD (B' = U·S, A' = Vᵀ);
 * - the merges: linear = weighted sum; `magnitude_prune` keeps the top-k |x| of each tensor; `ties` also elects
 *   a sign per element from the unweighted pruned tensors and takes the mean of the agreeing weighted values;
 *   `dare_*` keep a Bernoulli(density) mask and rescale by 1/density (masks from the seeded Philox stream).
 * A single adapter is combined with `linear`, as PEFT does (exact). Negative weights are allowed. Unlike PEFT
 * 0.21 (issue #3761), the result never inherits `use_rslora`, so its scaling really is 1; an `svdRank` above
 * what the deltas can carry is clamped instead of padded with zero components. Options that do not apply to
 * the type are refused ({@link CombinationOptionError}), never ignored.
 */
export function combineAdapters(
  adapters: readonly LoraAdapter[],
  weights: readonly number[],
  options: CombineOptions,
): CombinationResult {
  return combineWithMaskSource(adapters, weights, options, null);
}

/**
 * {@link combineAdapters} with the DARE masks taken from `maskSource` instead of the seeded Philox stream. For
 * tests and for replaying masks recorded elsewhere (PEFT's, for instance): not part of the package's public API.
 * `maskSource` null means the Philox stream of `options.seed`.
 */
export function combineWithMaskSource(
  adapters: readonly LoraAdapter[],
  weights: readonly number[],
  options: CombineOptions,
  maskSource: DareMaskSource | null,
): CombinationResult {
  const requestedTraits = validateCombineOptions(options);
  const first = adapters[0];
  if (first === undefined) throw new AdapterCombinationError("combineAdapters needs at least one adapter");
  if (weights.length !== adapters.length) {
    throw new AdapterCombinationError(`${adapters.length} adapters but ${weights.length} weights`);
  }
  // embedding LoRA and token rows are not combined yet: their layouts would be lost in the result
  adapters.forEach((adapter, index) => {
    const embedding = [...adapter.modules].find(([, factors]) => factors.kind === "embedding");
    if (embedding !== undefined || (adapter.trainableTokens?.size ?? 0) > 0) {
      throw new AdapterCombinationError(
        `adapter ${index} has ${embedding ? `LoRA on the embedding "${embedding[0]}"` : "trainable token rows"}, which combineAdapters does not support`,
      );
    }
    if (adapter.biases !== undefined && adapter.biases.size > 0) {
      throw new AdapterCombinationError(
        `adapter ${index} trained layer biases (bias "${adapter.config.bias}"): weighted combinations are defined on s·B·A only, so they would be lost`,
      );
    }
    const found = variantParameterModule(adapter);
    if (found !== undefined) {
      throw new AdapterCombinationError(
        `adapter ${index} holds ${found.parameters.join(", ")} in module "${found.module}" (a LoRA variant such as DoRA): weighted combinations are defined on s·B·A only, so it would lose them`,
      );
    }
  });
  weights.forEach((weight, index) => {
    if (!Number.isFinite(weight)) {
      throw new AdapterCombinationError(`weight ${weight} of adapter ${index} is not finite`);
    }
  });
  const notes: CombinationNote[] = [];
  const appliedType: CombinationType = adapters.length === 1 ? "linear" : options.type;
  if (appliedType !== options.type) {
    notes.push({
      code: "single_adapter_linear",
      message: `a single adapter is combined with linear (exactly w·s·B·A), not ${options.type}, as PEFT does`,
    });
  }
  const traits: CombinationTraits =
    appliedType === options.type ? requestedTraits : validateCombineOptions({ type: appliedType });
  const density = traits.pruning === "none" ? 1 : (options.density as number);
  if (traits.pruning !== "none" && density >= 1) {
    notes.push({
      code: "no_pruning",
      message: `density ${density} keeps every element: ${appliedType} prunes nothing (PEFT warns the same)`,
    });
  }
  const plan: TaskMergePlan = {
    pruning: traits.pruning,
    electsSign: traits.electsSign,
    density,
    majoritySignMethod: options.majoritySignMethod ?? "total",
  };
  const randomPrunes = plan.pruning === "random" && density < 1;
  const seed = options.seed ?? 0;
  const masks = countingMasks(maskSource ?? philoxDareMasks(seed));

  const moduleNames: string[] = [];
  for (const adapter of adapters) {
    for (const name of adapter.modules.keys()) if (!moduleNames.includes(name)) moduleNames.push(name);
  }
  const sourcesOf = (name: string): ModuleSource[] => {
    const sources: ModuleSource[] = [];
    adapters.forEach((adapter, adapterIndex) => {
      const factors = adapter.modules.get(name);
      if (factors === undefined) return;
      if (!isAllFinite(factors.loraA) || !isAllFinite(factors.loraB)) {
        throw new AdapterCombinationError(
          `adapter ${adapterIndex} has non-finite values in module "${name}"`,
        );
      }
      sources.push({
        adapterIndex,
        factors,
        scaling: adapterScaling(adapter, name),
        weight: weights[adapterIndex] as number,
      });
    });
    return sources;
  };
  const newRank = resultRank(adapters, appliedType, traits, options, notes);

  const modules = new Map<string, LoraFactors>();
  const exact = new Map<string, Matrix>();
  const approximate = new Map<string, Matrix>();
  for (const name of moduleNames) {
    const sources = sourcesOf(name);
    const shapeSource = (sources[0] as ModuleSource).factors;
    let exactDelta = zeroMatrix(shapeSource.loraB.rows, shapeSource.loraA.columns);
    for (const { factors, scaling, weight } of sources) {
      exactDelta = addScaled(exactDelta, multiply(factors.loraB, factors.loraA), weight * scaling);
    }
    const drawMask =
      (tensor: DareMaskRequest["tensor"], length: number) =>
      (index: number): Uint8Array =>
        masks.draw({
          module: name,
          tensor,
          adapterIndex: (sources[index] as ModuleSource).adapterIndex,
          length,
          density,
        });
    let combined: LoraFactors;
    if (traits.acts === "concatenation") {
      combined = concatenate(sources, newRank);
    } else if (traits.acts === "factors") {
      combined = mergeFactors(sources, plan, drawMask);
    } else {
      combined = mergeDeltas(sources, plan, newRank, drawMask("delta", exactDelta.data.length));
    }
    if (!isAllFinite(combined.loraA) || !isAllFinite(combined.loraB)) {
      throw new AdapterCombinationError(`the ${appliedType} combination of module "${name}" is not finite`);
    }
    modules.set(name, combined);
    exact.set(name, exactDelta);
    approximate.set(name, multiply(combined.loraB, combined.loraA));
  }
  const record: CombinationRecord = {
    type: options.type,
    applied_type: appliedType,
    weights: [...weights],
    ...(options.density === undefined ? {} : { density: options.density }),
    ...(traits.electsSign ? { majority_sign_method: plan.majoritySignMethod } : {}),
    ...(traits.acts === "deltas" ? { svd_rank: newRank } : {}),
    ...(randomPrunes ? (maskSource === null ? { seed } : { masks: "injected" as const }) : {}),
  };
  const config = withLoraConfig(first.config, {
    r: newRank,
    lora_alpha: newRank,
    use_rslora: false,
    target_modules: unionTargetModules(adapters),
    rank_pattern: {},
    alpha_pattern: {},
  });
  const adapter: LoraAdapter = { config, modules, metadata: combinationRecordToMetadata(record) };
  validateAdapter(adapter);
  return {
    adapter,
    report: compareDeltas(approximate, exact),
    appliedType,
    notes,
    randomPruning: randomPrunes
      ? {
          seed: maskSource === null ? seed : null,
          density,
          keptElements: masks.kept,
          totalElements: masks.total,
        }
      : null,
  };
}

/** Wraps a mask source to count what it keeps, checking each mask's length and values. */
function countingMasks(source: DareMaskSource): {
  draw: DareMaskSource;
  readonly kept: number;
  readonly total: number;
} {
  const counts = {
    kept: 0,
    total: 0,
    draw(request: DareMaskRequest): Uint8Array {
      const mask = source(request);
      if (mask.length !== request.length) {
        throw new AdapterCombinationError(
          `the DARE mask of ${request.tensor} of adapter ${request.adapterIndex} in "${request.module}" has ${mask.length} elements, expected ${request.length}`,
        );
      }
      for (const value of mask) {
        if (value > 1)
          throw new AdapterCombinationError(`a DARE mask holds ${value}; only 0 and 1 are allowed`);
        counts.kept += value;
      }
      counts.total += mask.length;
      return mask;
    },
  };
  return counts;
}

/** The rank of the result (PEFT's `_check_add_weighted_adapter`), clamping an oversized `svdRank`. */
function resultRank(
  adapters: readonly LoraAdapter[],
  type: CombinationType,
  traits: CombinationTraits,
  options: CombineOptions,
  notes: CombinationNote[],
): number {
  const moduleRanks = adapters.flatMap((adapter) =>
    [...adapter.modules.keys()].map((name) => moduleLoraSettings(adapter.config, name).r),
  );
  const maxRank = Math.max(...moduleRanks);
  if (traits.acts === "concatenation") {
    if (adapters.some((adapter) => Object.keys(adapter.config.rank_pattern).length > 0)) {
      throw new AdapterCombinationError(
        "cat combination of adapters with a rank_pattern is not supported (PEFT neither)",
      );
    }
    return adapters.reduce((sum, adapter) => sum + adapter.config.r, 0);
  }
  if (traits.acts === "factors") {
    const ranks = new Set(moduleRanks);
    if (ranks.size !== 1) {
      throw new AdapterCombinationError(
        `${type} combines the factors elementwise and needs all adapters to have the same rank, got ranks ${JSON.stringify([...ranks])}`,
      );
    }
    return maxRank;
  }
  const requested = options.svdRank ?? maxRank;
  const largest = largestMeaningfulSvdRank(adapters, traits, options.density ?? 1);
  if (requested <= largest) return requested;
  notes.push({
    code: "svd_rank_clamped",
    message: `svd_rank ${requested} exceeds the largest rank the merged deltas can have (${largest}): the result has rank ${largest}, not ${requested - largest} extra all-zero components`,
  });
  return largest;
}

/** `cat`: A' = [w₁s₁A₁; …], B' = [B₁, …]; modules missing from some adapters get zero rows/columns. */
function concatenate(sources: readonly ModuleSource[], rank: number): LoraFactors {
  const loraA = concatRows(
    sources.map(({ factors, weight, scaling }) => scale(factors.loraA, weight * scaling)),
  );
  const loraB = concatColumns(sources.map(({ factors }) => factors.loraB));
  return padRank(loraA, loraB, rank);
}

/**
 * The factor-level types: A' = merge(Aᵢ; sign(wᵢsᵢ)·√|wᵢsᵢ|), B' = merge(Bᵢ; √|wᵢsᵢ|), masks drawn for every
 * lora_A first, then every lora_B (PEFT's order).
 */
function mergeFactors(
  sources: readonly ModuleSource[],
  plan: TaskMergePlan,
  drawMask: (tensor: "lora_A" | "lora_B", length: number) => (index: number) => Uint8Array,
): LoraFactors {
  const roots = sources.map(({ weight, scaling }) => Math.sqrt(Math.abs(weight * scaling)));
  const signs = sources.map(({ weight, scaling }) => (weight * scaling >= 0 ? 1 : -1));
  const { loraA, loraB } = (sources[0] as ModuleSource).factors;
  const mergedA = mergeTaskTensors(
    sources.map(({ factors }) => factors.loraA.data),
    roots.map((root, index) => (signs[index] as number) * root),
    plan,
    drawMask("lora_A", loraA.data.length),
  );
  const mergedB = mergeTaskTensors(
    sources.map(({ factors }) => factors.loraB.data),
    roots,
    plan,
    drawMask("lora_B", loraB.data.length),
  );
  return {
    loraA: { rows: loraA.rows, columns: loraA.columns, data: mergedA },
    loraB: { rows: loraB.rows, columns: loraB.columns, data: mergedB },
  };
}

/**
 * `svd` and the `*_svd` types: merge the deltas ΔWᵢ = sᵢ·BᵢAᵢ (float32, as PEFT's `get_delta_weight`) with
 * weights wᵢ, then B' = U_k·S_k, A' = V_kᵀ of the merged delta's SVD.
 */
function mergeDeltas(
  sources: readonly ModuleSource[],
  plan: TaskMergePlan,
  rank: number,
  drawMask: (index: number) => Uint8Array,
): LoraFactors {
  const deltas = sources.map(({ factors, scaling }) => {
    const product = multiply(factors.loraB, factors.loraA).data;
    const scaling32 = Math.fround(scaling);
    for (let index = 0; index < product.length; index++)
      product[index] = (product[index] as number) * scaling32;
    return product;
  });
  const shape = (sources[0] as ModuleSource).factors;
  const merged: Matrix = {
    rows: shape.loraB.rows,
    columns: shape.loraA.columns,
    data: mergeTaskTensors(
      deltas,
      sources.map(({ weight }) => weight),
      plan,
      drawMask,
    ),
  };
  const factors = truncatedSvd(merged, rank);
  return padRank(factors.rightTransposed, scaleColumns(factors.left, factors.singularValues), rank);
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
