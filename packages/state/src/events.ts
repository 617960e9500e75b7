import type { JournalEntry } from "./journal.js";
import type { Snapshot } from "./snapshot.js";
import type { WeightStore } from "./weight-store.js";

/**
 * What {@link WeightStore.mutate} does besides journaling: `"warn"` (the default) sends a
 * {@link BaseMutationWarning} to the warning sink, `"throw"` refuses the change with
 * `BaseMutationForbiddenError`, `"silent"` only journals and emits the event.
 */
export type MutationPolicy = "warn" | "throw" | "silent";

/** The typed warning sent to the warning sink when a base weight changes under the `"warn"` policy. */
export class BaseMutationWarning extends Error {
  /** Stable identifier, also usable as a Node warning code. */
  readonly code = "base_mutated";
  /** The journal entry of the change. */
  readonly entry: JournalEntry;

  constructor(entry: JournalEntry, storeId: string) {
    super(
      `base weight ${JSON.stringify(entry.name)} of store ${storeId} was mutated by ${entry.by} ` +
        `(${entry.reason}): ${entry.fingerprintBefore} → ${entry.fingerprintAfter}. Adapters that expect the ` +
        `original base now give wrong outputs on this store; give them a fork taken before the change ` +
        `(store.fork()) or restore a snapshot`,
    );
    this.name = "BaseMutationWarning";
    this.entry = entry;
  }
}

/** Receives {@link BaseMutationWarning}s; inject one to route warnings into your logger or a test. */
export type WarningSink = (warning: BaseMutationWarning) => void;

/** `process.emitWarning` where it exists (Node), otherwise `console.warn` (browsers). */
export const defaultWarningSink: WarningSink = (warning) => {
  const runtime = (globalThis as { process?: { emitWarning?: (warning: Error) => void } }).process;
  if (typeof runtime?.emitWarning === "function") runtime.emitWarning(warning);
  else console.warn(warning);
};

/** Emitted after a base weight changed through {@link WeightStore.mutate}. */
export interface BaseMutatedEvent {
  readonly type: "base-mutated";
  /** The store that changed. */
  readonly store: WeightStore;
  /** The journal entry of the change. */
  readonly entry: JournalEntry;
}

/** Emitted after {@link WeightStore.restore}, with the entries of the weights that it put back. */
export interface RestoredEvent {
  readonly type: "restored";
  readonly store: WeightStore;
  readonly snapshot: Snapshot;
  /** One `"restore"` entry per weight whose content changed (empty when nothing differed). */
  readonly entries: readonly JournalEntry[];
}

/** The events of a {@link WeightStore}, by type. */
export interface WeightStoreEventMap {
  "base-mutated": BaseMutatedEvent;
  restored: RestoredEvent;
}
