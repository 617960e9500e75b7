import type { CombinationType, MajoritySignMethod } from "./combination-types.js";

/** The safetensors `__metadata__` key under which a combined adapter records how it was made (JSON). */
export const COMBINATION_METADATA_KEY = "peftjs.combination";

/**
 * How a combined adapter was made, as recorded in its file (PEFT's option names): enough to redo the
 * combination from the same inputs, DARE masks included (same seed, same masks).
 */
export interface CombinationRecord {
  /** The requested type. */
  readonly type: CombinationType;
  /** The type applied (`linear` for a single adapter, as PEFT). */
  readonly applied_type: CombinationType;
  /** The weights, in adapter order. */
  readonly weights: readonly number[];
  /** The density, when the type prunes. */
  readonly density?: number;
  /** The sign election, when the applied type elects signs. */
  readonly majority_sign_method?: MajoritySignMethod;
  /** The rank used, for `svd` and the `*_svd` types (after any clamp). */
  readonly svd_rank?: number;
  /** The Philox seed of the DARE masks, when random pruning ran on the seeded stream. */
  readonly seed?: number;
  /** `injected` when random pruning ran on masks given by the caller (a replay), instead of a seed. */
  readonly masks?: "injected";
}

/** The metadata entry of a record. */
export function combinationRecordToMetadata(record: CombinationRecord): Record<string, string> {
  return { [COMBINATION_METADATA_KEY]: JSON.stringify(record) };
}

/** The combination record of an adapter's metadata, or null when it has none (or an unreadable one). */
export function readCombinationRecord(metadata: Readonly<Record<string, string>>): CombinationRecord | null {
  const text = metadata[COMBINATION_METADATA_KEY];
  if (text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
    const record = value as Record<string, unknown>;
    if (typeof record.type !== "string" || !Array.isArray(record.weights)) return null;
    return value as CombinationRecord;
  } catch {
    return null;
  }
}
