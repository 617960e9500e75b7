import { CombinationOptionError } from "./errors.js";

/**
 * How {@link combineAdapters} combines, with the `combination_type` names of PEFT's `add_weighted_adapter`.
 * See {@link combinationTraits} for what each one does.
 */
export type CombinationType =
  | "cat"
  | "linear"
  | "svd"
  | "ties"
  | "ties_svd"
  | "dare_linear"
  | "dare_ties"
  | "dare_linear_svd"
  | "dare_ties_svd"
  | "magnitude_prune"
  | "magnitude_prune_svd";

/** Every {@link CombinationType}, in PEFT's documentation order. */
export const COMBINATION_TYPES: readonly CombinationType[] = [
  "cat",
  "linear",
  "svd",
  "ties",
  "ties_svd",
  "dare_linear",
  "dare_ties",
  "dare_linear_svd",
  "dare_ties_svd",
  "magnitude_prune",
  "magnitude_prune_svd",
];

/**
 * How TIES elects the sign of each element (PEFT's `majority_sign_method`): `total` takes the sign of the sum
 * of the pruned tensors, `frequency` the sign held by more of them (a tie, or a zero sum, elects +).
 */
export type MajoritySignMethod = "total" | "frequency";

/** Every {@link MajoritySignMethod}. */
export const MAJORITY_SIGN_METHODS: readonly MajoritySignMethod[] = ["total", "frequency"];

/** What a combination type does, as PEFT 0.21 implements it. */
export interface CombinationTraits {
  /**
   * What the elementwise merge acts on:
   * - `concatenation` (`cat`): the factors are stacked, exactly Σ wᵢsᵢBᵢAᵢ at rank Σrᵢ;
   * - `factors` (`linear`, `ties`, `dare_linear`, `dare_ties`, `magnitude_prune`): the lora_A's are merged with
   *   weights sign(wᵢsᵢ)·√|wᵢsᵢ| and, separately, the lora_B's with √|wᵢsᵢ|; the result is B'·A', not Σ wᵢ·ΔWᵢ;
   * - `deltas` (every `*_svd` type and `svd`): the deltas ΔWᵢ = sᵢBᵢAᵢ are merged with weights wᵢ and the result
   *   is truncated to `svdRank` by SVD.
   */
  readonly acts: "concatenation" | "factors" | "deltas";
  /** Pruning before the merge: by magnitude (top-k |x|), random (DARE, rescaled by 1/density) or none. */
  readonly pruning: "none" | "magnitude" | "random";
  /** Whether TIES sign election and the disjoint mean follow the pruning (else a weighted sum). */
  readonly electsSign: boolean;
}

const traits: Record<CombinationType, CombinationTraits> = {
  cat: { acts: "concatenation", pruning: "none", electsSign: false },
  linear: { acts: "factors", pruning: "none", electsSign: false },
  svd: { acts: "deltas", pruning: "none", electsSign: false },
  ties: { acts: "factors", pruning: "magnitude", electsSign: true },
  ties_svd: { acts: "deltas", pruning: "magnitude", electsSign: true },
  dare_linear: { acts: "factors", pruning: "random", electsSign: false },
  dare_ties: { acts: "factors", pruning: "random", electsSign: true },
  dare_linear_svd: { acts: "deltas", pruning: "random", electsSign: false },
  dare_ties_svd: { acts: "deltas", pruning: "random", electsSign: true },
  magnitude_prune: { acts: "factors", pruning: "magnitude", electsSign: false },
  magnitude_prune_svd: { acts: "deltas", pruning: "magnitude", electsSign: false },
};

/** Whether `value` names a {@link CombinationType}. */
export function isCombinationType(value: unknown): value is CombinationType {
  return typeof value === "string" && (COMBINATION_TYPES as readonly string[]).includes(value);
}

/** What `type` does (see {@link CombinationTraits}); throws {@link CombinationOptionError} for an unknown type. */
export function combinationTraits(type: CombinationType): CombinationTraits {
  if (!isCombinationType(type)) {
    throw new CombinationOptionError(
      "type",
      `unknown combination type ${JSON.stringify(type)}; use one of ${COMBINATION_TYPES.join(", ")}`,
    );
  }
  return traits[type];
}

/** Options for {@link combineAdapters}. */
export interface CombineOptions {
  /** The combination (PEFT's `combination_type`). */
  type: CombinationType;
  /**
   * Rank of the result of `svd` and every `*_svd` type (PEFT's `svd_rank`; default the largest input rank). A
   * rank above what the merged deltas can carry is clamped (see {@link CombinationResult.notes}).
   */
  svdRank?: number;
  /**
   * Fraction of each tensor's elements kept by the pruning types, in (0, 1] (PEFT's `density`); required by
   * `ties`, `dare_*` and `magnitude_prune*`, refused by the others. 1 prunes nothing, as in PEFT.
   */
  density?: number;
  /** TIES sign election for `ties`, `ties_svd`, `dare_ties`, `dare_ties_svd` (default `total`, as PEFT). */
  majoritySignMethod?: MajoritySignMethod;
  /**
   * Seed of the DARE masks (`dare_*` types; default 0): a Philox4x32 stream, recorded in the result's metadata
   * so the combination can be replayed exactly. PEFT draws from torch's global generator instead, so its masks
   * cannot be reproduced.
   */
  seed?: number;
}

/** The options that apply to `type`, for messages. */
function typesUsing(predicate: (traits: CombinationTraits, type: CombinationType) => boolean): string {
  return COMBINATION_TYPES.filter((type) => predicate(traits[type], type)).join(", ");
}

/**
 * Checks options before any work: the type is known; `density` is given exactly for the pruning types and lies
 * in (0, 1]; `majoritySignMethod` only for the sign-electing types; `seed` only for the DARE types, a
 * non-negative safe integer; `svdRank` only for the SVD types, a positive integer. Throws
 * {@link CombinationOptionError} naming the offending value.
 */
export function validateCombineOptions(options: CombineOptions): CombinationTraits {
  const { type, density, majoritySignMethod, seed, svdRank } = options;
  const traitsOfType = combinationTraits(type);
  if (traitsOfType.pruning === "none") {
    if (density !== undefined) {
      throw new CombinationOptionError(
        "density",
        `density applies to ${typesUsing((entry) => entry.pruning !== "none")} only, not to ${type}`,
      );
    }
  } else if (density === undefined) {
    throw new CombinationOptionError("density", `${type} needs a density in (0, 1] (the fraction kept)`);
  } else if (!(density > 0 && density <= 1)) {
    throw new CombinationOptionError(
      "density",
      `density ${density} is outside (0, 1]: it is the fraction of each tensor's elements that ${type} keeps`,
    );
  }
  if (majoritySignMethod !== undefined) {
    if (!traitsOfType.electsSign) {
      throw new CombinationOptionError(
        "majoritySignMethod",
        `majority_sign_method applies to ${typesUsing((entry) => entry.electsSign)} only, not to ${type}`,
      );
    }
    if (!MAJORITY_SIGN_METHODS.includes(majoritySignMethod)) {
      throw new CombinationOptionError(
        "majoritySignMethod",
        `majority_sign_method ${JSON.stringify(majoritySignMethod)} is not one of ${MAJORITY_SIGN_METHODS.join(", ")}`,
      );
    }
  }
  if (seed !== undefined) {
    if (traitsOfType.pruning !== "random") {
      throw new CombinationOptionError(
        "seed",
        `seed applies to the random (DARE) types ${typesUsing((entry) => entry.pruning === "random")} only, not to ${type}`,
      );
    }
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new CombinationOptionError("seed", `seed ${seed} is not a non-negative safe integer`);
    }
  }
  if (svdRank !== undefined) {
    if (traitsOfType.acts !== "deltas") {
      throw new CombinationOptionError(
        "svdRank",
        `svd_rank applies to ${typesUsing((entry) => entry.acts === "deltas")} only, not to ${type}`,
      );
    }
    if (!Number.isInteger(svdRank) || svdRank <= 0) {
      throw new CombinationOptionError("svdRank", `svd_rank ${svdRank} is not a positive integer`);
    }
  }
  return traitsOfType;
}
