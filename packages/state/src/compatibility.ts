import type { AdapterRecord } from "./adapter-record.js";
import {
  AdapterBaseMismatchError,
  AdapterCompatibilityError,
  AdapterNeedsMutatedBaseError,
  AdapterNeedsOriginalBaseError,
} from "./errors.js";
import type { Fingerprint } from "./fingerprint.js";
import type { WeightStore } from "./weight-store.js";

/** Options of {@link checkCompatibility}. */
export interface CompatibilityOptions {
  /**
   * The caller owns this store and will rewrite it into the adapter's residual base (PiSSA/OLoRA residual
   * mode, through `mutate`). Default `false`: an adapter that needs that is refused with
   * {@link AdapterNeedsMutatedBaseError}.
   */
  allowMutation?: boolean;
  /** Accept the adapter even when it does not fit; the report lists what was overridden. Default `false`. */
  force?: boolean;
}

/** A successful check. */
export interface CompatibilityOk {
  readonly ok: true;
  readonly adapterName: string;
  /** The store's model fingerprint at the time of the check. */
  readonly storeFingerprint: Fingerprint;
  /** True when a recorded fingerprint matched; false when the adapter carries none (PEFT files). */
  readonly verified: boolean;
  /** True when the loader must now rewrite the base into the adapter's residual (through `mutate`). */
  readonly requiresMutation: boolean;
  /** Problems that `force` overrode (empty normally). */
  readonly overridden: readonly string[];
}

/** A failed check. */
export interface CompatibilityFailure {
  readonly ok: false;
  readonly adapterName: string;
  readonly error: AdapterCompatibilityError;
}

/** The outcome of {@link checkCompatibility}. */
export type CompatibilityResult = CompatibilityOk | CompatibilityFailure;

/** "name (by, reason)" for the latest change of each changed weight, for messages. */
function describeChanges(store: WeightStore, changedNames: readonly string[]): string {
  const latest = new Map(store.journal.map((entry) => [entry.name, entry] as const));
  const shown = changedNames.slice(0, 3).map((name) => {
    const entry = latest.get(name)!;
    return `${JSON.stringify(name)} by ${entry.by}: ${entry.reason}`;
  });
  return shown.join("; ") + (changedNames.length > 3 ? `; … ${changedNames.length - 3} more` : "");
}

const ORIGINAL_BASE_REMEDY =
  "load it on a store with the original weights: restore a snapshot taken before the change, or keep the " +
  "original store for it and do such changes on a fork (store.fork())";

function evaluate(
  store: WeightStore,
  record: AdapterRecord,
  allowMutation: boolean,
): Omit<CompatibilityOk, "overridden"> {
  const storeFingerprint = store.modelFingerprint();
  const base = { ok: true as const, adapterName: record.name, storeFingerprint };
  if (record.needsMutatedBase && record.residualBaseFingerprint === storeFingerprint) {
    return { ...base, verified: true, requiresMutation: false };
  }
  if (record.baseFingerprint !== null && record.baseFingerprint !== storeFingerprint) {
    const wasOriginal =
      store.changedNames().length > 0 && store.originFingerprint() === record.baseFingerprint;
    const expected =
      record.needsMutatedBase && record.residualBaseFingerprint !== null
        ? `${record.residualBaseFingerprint} (residual) or ${record.baseFingerprint} (original, to be rewritten)`
        : record.baseFingerprint;
    const detail = wasOriginal
      ? `: this store was the adapter's base until it was changed (${describeChanges(store, store.changedNames())})`
      : ": it is another model or another version of the weights";
    const remedy = wasOriginal
      ? ORIGINAL_BASE_REMEDY
      : "load it on the base it was trained for" +
        (record.needsMutatedBase ? ", or convert it to LoRA and load it on that base" : "");
    throw new AdapterBaseMismatchError(record.name, expected, storeFingerprint, detail, remedy);
  }
  const verified = record.baseFingerprint !== null;
  if (!verified) {
    // No fingerprint to compare: at least refuse a base that is known to have been changed.
    const changed = store.changedNames();
    if (changed.length > 0) {
      const remedy = record.needsMutatedBase
        ? `${ORIGINAL_BASE_REMEDY}; re-running its init on a changed base subtracts B₀A₀ twice (PEFT gives ` +
          "wrong outputs there); or convert it to LoRA"
        : ORIGINAL_BASE_REMEDY;
      throw new AdapterNeedsOriginalBaseError(record.name, changed, describeChanges(store, changed), remedy);
    }
  }
  if (record.needsMutatedBase) {
    if (!allowMutation)
      throw new AdapterNeedsMutatedBaseError(record.name, JSON.stringify(record.initMethod));
    return { ...base, verified, requiresMutation: true };
  }
  return { ...base, verified, requiresMutation: false };
}

/**
 * Checks whether `record`'s adapter fits `store`, before loading it:
 *
 * - an adapter with a recorded base fingerprint needs exactly that base (or, in residual mode, its recorded
 *   residual base): otherwise {@link AdapterBaseMismatchError};
 * - an adapter without fingerprints (written by PEFT) needs a store none of whose weights were changed:
 *   otherwise {@link AdapterNeedsOriginalBaseError} (the mixing hazard of PEFT issue #2184);
 * - an unconverted PiSSA/OLoRA adapter needs its residual base; unless `allowMutation` (the caller owns the
 *   store and will `mutate` it) that is {@link AdapterNeedsMutatedBaseError}: "load it on a fork, or convert
 *   it to LoRA".
 *
 * Returns `{ ok: true, … }` or `{ ok: false, error }`; with `force`, failures become `ok` with the problem in
 * `overridden`. Computes the store's fingerprint (hashing each tensor once; cached afterwards).
 */
export function checkCompatibility(
  store: WeightStore,
  record: AdapterRecord,
  options: CompatibilityOptions = {},
): CompatibilityResult {
  try {
    return { ...evaluate(store, record, options.allowMutation ?? false), overridden: [] };
  } catch (error) {
    if (!(error instanceof AdapterCompatibilityError)) throw error;
    if (!options.force) return { ok: false, adapterName: record.name, error };
    return {
      ok: true,
      adapterName: record.name,
      storeFingerprint: store.modelFingerprint(),
      verified: false,
      requiresMutation:
        record.needsMutatedBase && record.residualBaseFingerprint !== store.modelFingerprint(),
      overridden: [error.message],
    };
  }
}

/** {@link checkCompatibility} that throws the {@link AdapterCompatibilityError} instead of returning it. */
export function assertCompatible(
  store: WeightStore,
  record: AdapterRecord,
  options: CompatibilityOptions = {},
): CompatibilityOk {
  const result = checkCompatibility(store, record, options);
  if (!result.ok) throw result.error;
  return result;
}
