import type { RawTensor } from "@peftjs/io";
import {
  BaseMutationForbiddenError,
  FrozenTensorWriteError,
  MutationDescriptionError,
  MutationShapeError,
  SnapshotMismatchError,
  UnknownTensorError,
} from "./errors.js";
import {
  BaseMutationWarning,
  defaultWarningSink,
  type MutationPolicy,
  type WarningSink,
  type WeightStoreEventMap,
} from "./events.js";
import { type Fingerprint, fingerprintModel } from "./fingerprint.js";
import { adoptRawTensor, FrozenTensor } from "./frozen-tensor.js";
import type { JournalEntry, JournalEntryKind } from "./journal.js";
import { createSnapshot, type Snapshot } from "./snapshot.js";

/** Options of a {@link WeightStore} (a fork inherits its parent's unless given). */
export interface WeightStoreOptions {
  /** What {@link WeightStore.mutate} does besides journaling; default `"warn"`. */
  policy?: MutationPolicy;
  /** Where `"warn"` sends its {@link BaseMutationWarning}; default `process.emitWarning` / `console.warn`. */
  warn?: WarningSink;
  /** The clock for journal and snapshot times; default `() => new Date()`. */
  now?: () => Date;
}

/** The why and who of a change, both required, both recorded in the journal. */
export interface MutationDescription {
  /** Why the weight changes, e.g. `"PiSSA residual for adapter \"default\""`. */
  reason: string;
  /** Who changes it, e.g. `"@peftjs/adapters"`. */
  by: string;
}

/** Optional why and who for {@link WeightStore.restore} journal entries. */
export interface RestoreDescription {
  reason?: string;
  by?: string;
}

/** The tensors a store can be built from. */
export type TensorSource =
  | Record<string, RawTensor | FrozenTensor>
  | ReadonlyMap<string, RawTensor | FrozenTensor>
  | Iterable<readonly [string, RawTensor | FrozenTensor]>;

type Listener<Type extends keyof WeightStoreEventMap> = (event: WeightStoreEventMap[Type]) => void;

let storeCounter = 0;
let snapshotCounter = 0;

function freeze(value: RawTensor | FrozenTensor, name: string): FrozenTensor {
  return value instanceof FrozenTensor ? value : FrozenTensor.from(value, name);
}

function sourceEntries(source: TensorSource): Iterable<readonly [string, RawTensor | FrozenTensor]> {
  if (source instanceof Map) return source.entries();
  if (Symbol.iterator in source) return source as Iterable<readonly [string, RawTensor | FrozenTensor]>;
  return Object.entries(source);
}

function describe(tensor: { dtype: string; shape: readonly number[] }): string {
  return `${tensor.dtype} [${tensor.shape.join(", ")}]`;
}

/**
 * A named set of frozen base weights with a mutation journal.
 *
 * - Reading is free: {@link WeightStore.get} returns the {@link FrozenTensor}; its bytes cannot be written.
 * - Writing is explicit: {@link WeightStore.mutate} is the only way to change a weight; it journals the change
 *   (name, fingerprints before and after, reason, actor, time), emits `base-mutated` and, by
 *   {@link MutationPolicy}, warns (default), throws or stays quiet. `set` and `delete` throw
 *   {@link FrozenTensorWriteError}.
 * - {@link WeightStore.snapshot} and {@link WeightStore.fork} cost O(number of tensors): tensors are shared.
 * - Fingerprints are computed lazily and cached per tensor, so after a mutation only the new tensor is hashed.
 */
export class WeightStore {
  /** Unique within this process. */
  readonly id: string;
  /** The id of the store this one was forked from, or `null`. */
  readonly parentId: string | null;
  #tensors: Map<string, FrozenTensor>;
  /** Append-only: snapshots share this array and read it up to their length. */
  readonly #journal: JournalEntry[];
  #policy: MutationPolicy;
  readonly #warn: WarningSink;
  readonly #now: () => Date;
  readonly #listeners = new Map<keyof WeightStoreEventMap, Set<(event: never) => void>>();
  #modelFingerprint: Fingerprint | undefined;

  private constructor(
    tensors: Map<string, FrozenTensor>,
    journal: JournalEntry[],
    parentId: string | null,
    options: Required<WeightStoreOptions>,
  ) {
    storeCounter += 1;
    this.id = `store-${storeCounter}`;
    this.parentId = parentId;
    this.#tensors = tensors;
    this.#journal = journal;
    this.#policy = options.policy;
    this.#warn = options.warn;
    this.#now = options.now;
  }

  /**
   * Builds a store from storage tensors (copied and frozen) or already frozen tensors (shared).
   * Throws `InvalidTensorError` when a tensor's bytes do not match its dtype and shape.
   */
  static from(tensors: TensorSource, options: WeightStoreOptions = {}): WeightStore {
    const frozen = new Map<string, FrozenTensor>();
    for (const [name, value] of sourceEntries(tensors)) frozen.set(name, freeze(value, name));
    return new WeightStore(frozen, [], null, WeightStore.#resolveOptions(options));
  }

  /**
   * Builds a store that **takes over** the bytes of storage tensors instead of copying them (already frozen
   * tensors are shared, as in {@link WeightStore.from}): for a caller that owns buffers it just read, such as a
   * model loader, so the weights are not held twice. The caller hands the bytes over: it must keep no
   * reference through which they could be written (the store, its snapshots and fingerprints read them as
   * they are). Throws `InvalidTensorError` when a tensor's bytes do not match its dtype and shape.
   */
  static adopt(tensors: TensorSource, options: WeightStoreOptions = {}): WeightStore {
    const frozen = new Map<string, FrozenTensor>();
    for (const [name, value] of sourceEntries(tensors)) {
      frozen.set(name, value instanceof FrozenTensor ? value : adoptRawTensor(value, name));
    }
    return new WeightStore(frozen, [], null, WeightStore.#resolveOptions(options));
  }

  /** A new store holding a snapshot's tensors (shared) and journal, e.g. one read from a file. */
  static fromSnapshot(snapshot: Snapshot, options: WeightStoreOptions = {}): WeightStore {
    return new WeightStore(
      new Map(snapshot.entries()),
      [...snapshot.journal],
      null,
      WeightStore.#resolveOptions(options),
    );
  }

  static #resolveOptions(options: WeightStoreOptions): Required<WeightStoreOptions> {
    return {
      policy: options.policy ?? "warn",
      warn: options.warn ?? defaultWarningSink,
      now: options.now ?? (() => new Date()),
    };
  }

  /** The current mutation policy. */
  get policy(): MutationPolicy {
    return this.#policy;
  }

  /** Changes the mutation policy (e.g. `"throw"` while several adapters share this base). */
  setPolicy(policy: MutationPolicy): void {
    this.#policy = policy;
  }

  /** Number of tensors. */
  get size(): number {
    return this.#tensors.size;
  }

  /** True when the store holds `name`. */
  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /** The frozen tensor called `name`; throws {@link UnknownTensorError} when absent. */
  get(name: string): FrozenTensor {
    const tensor = this.#tensors.get(name);
    if (tensor === undefined) throw new UnknownTensorError(name, this.names());
    return tensor;
  }

  /** The tensor names, in insertion order. */
  names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** The (name, tensor) pairs, in insertion order. */
  entries(): IterableIterator<[string, FrozenTensor]> {
    return this.#tensors.entries();
  }

  /** Iterates the (name, tensor) pairs. */
  [Symbol.iterator](): IterableIterator<[string, FrozenTensor]> {
    return this.#tensors.entries();
  }

  /** Always throws {@link FrozenTensorWriteError}: base weights change only through {@link WeightStore.mutate}. */
  set(name: string, _value: unknown): never {
    throw new FrozenTensorWriteError(name, "set");
  }

  /** Always throws {@link FrozenTensorWriteError}: the set of base weights is fixed. */
  delete(name: string): never {
    throw new FrozenTensorWriteError(name, "delete");
  }

  /** Fresh storage copies of every tensor (safe to hand to code that writes). */
  toRawTensors(): Map<string, RawTensor> {
    return new Map([...this.#tensors].map(([name, tensor]) => [name, tensor.toRaw()]));
  }

  /** The fingerprint of one tensor (see `fingerprintTensor`). */
  tensorFingerprint(name: string): Fingerprint {
    return this.get(name).fingerprint;
  }

  /** The model fingerprint over all (name, tensor fingerprint) pairs (see `fingerprintModel`); cached. */
  modelFingerprint(): Fingerprint {
    this.#modelFingerprint ??= fingerprintModel(
      [...this.#tensors].map(([name, tensor]) => [name, tensor.fingerprint] as const),
    );
    return this.#modelFingerprint;
  }

  /**
   * The model fingerprint of the weights before any journaled change: for each tensor, the "before" of its
   * first journal entry, or its current fingerprint if it was never changed. Equals
   * {@link WeightStore.modelFingerprint} when nothing was changed or everything was put back.
   */
  originFingerprint(): Fingerprint {
    return this.fingerprintAt(0);
  }

  /** How many journal entries there are (a position for {@link WeightStore.fingerprintAt}). */
  get journalLength(): number {
    return this.#journal.length;
  }

  /**
   * The model fingerprint the store had when its journal held `journalLength` entries: for each tensor, the
   * "before" of its first journal entry from that position on, or its current fingerprint if it has not changed
   * since. Every change of content is journaled, so this is exact without keeping old tensors; it lets a caller
   * note a position now and pay for the fingerprint only if it is ever needed.
   *
   * @throws RangeError when `journalLength` is not a position of the journal (0 … {@link WeightStore.journalLength}).
   */
  fingerprintAt(journalLength: number): Fingerprint {
    if (!Number.isInteger(journalLength) || journalLength < 0 || journalLength > this.#journal.length) {
      throw new RangeError(
        `journal position ${journalLength} is outside 0 … ${this.#journal.length} of this weight store`,
      );
    }
    if (journalLength === this.#journal.length) return this.modelFingerprint();
    const before = this.#fingerprintsBefore(journalLength);
    return fingerprintModel(
      [...this.#tensors.keys()].map(
        (name) => [name, before.get(name) ?? this.get(name).fingerprint] as const,
      ),
    );
  }

  /** Names whose current content differs from the origin (see {@link WeightStore.originFingerprint}). */
  changedNames(): string[] {
    return [...this.#fingerprintsBefore(0)]
      .filter(([name, fingerprint]) => this.get(name).fingerprint !== fingerprint)
      .map(([name]) => name);
  }

  /** Per changed tensor, its fingerprint before the first journal entry at or after position `start`. */
  #fingerprintsBefore(start: number): Map<string, Fingerprint> {
    const before = new Map<string, Fingerprint>();
    for (const entry of this.#journal.slice(start))
      if (!before.has(entry.name)) before.set(entry.name, entry.fingerprintBefore);
    return before;
  }

  /** Every change so far, oldest first (a copy; entries are frozen). */
  get journal(): readonly JournalEntry[] {
    return this.#journal.slice();
  }

  /**
   * Replaces base weight `name` with `next` (same dtype and shape; copied and frozen unless already frozen).
   * Records a journal entry, emits `base-mutated` and applies the {@link MutationPolicy}: `"warn"` sends a
   * {@link BaseMutationWarning} to the warning sink, `"throw"` throws {@link BaseMutationForbiddenError}
   * without changing anything, `"silent"` does neither. Returns the journal entry.
   */
  mutate(name: string, next: RawTensor | FrozenTensor, description: MutationDescription): JournalEntry {
    const current = this.get(name);
    if (typeof description?.reason !== "string" || description.reason.trim() === "") {
      throw new MutationDescriptionError(name, "reason");
    }
    if (typeof description.by !== "string" || description.by.trim() === "") {
      throw new MutationDescriptionError(name, "by");
    }
    if (this.#policy === "throw")
      throw new BaseMutationForbiddenError(name, description.reason, description.by);
    const replacement = freeze(next, name);
    if (
      replacement.dtype !== current.dtype ||
      replacement.shape.length !== current.shape.length ||
      replacement.shape.some((size, axis) => size !== current.shape[axis])
    ) {
      throw new MutationShapeError(name, describe(current), describe(replacement));
    }
    const entry = this.#record("mutate", name, current, replacement, description.reason, description.by);
    this.#tensors.set(name, replacement);
    this.#modelFingerprint = undefined;
    if (this.#policy === "warn") this.#warn(new BaseMutationWarning(entry, this.id));
    this.#emit("base-mutated", { type: "base-mutated", store: this, entry });
    return entry;
  }

  #record(
    kind: JournalEntryKind,
    name: string,
    before: FrozenTensor,
    after: FrozenTensor,
    reason: string,
    by: string,
  ): JournalEntry {
    const entry: JournalEntry = Object.freeze({
      sequence: this.#journal.length + 1,
      kind,
      name,
      fingerprintBefore: before.fingerprint,
      fingerprintAfter: after.fingerprint,
      reason,
      by,
      time: this.#now().toISOString(),
    });
    this.#journal.push(entry);
    return entry;
  }

  /**
   * Takes a snapshot: the current tensors (shared, not copied) and the journal so far. O(number of tensors).
   *
   * @param label - an optional name kept with the snapshot (and in its file)
   */
  snapshot(label?: string): Snapshot {
    snapshotCounter += 1;
    return createSnapshot({
      id: `snapshot-${snapshotCounter}`,
      label: label ?? null,
      storeId: this.id,
      createdAt: this.#now().toISOString(),
      tensors: new Map(this.#tensors),
      journal: this.#journal,
      journalLength: this.#journal.length,
    });
  }

  /**
   * Puts back the tensors of `snapshot` (from this store, a relative, or a file), bit for bit: afterwards
   * {@link WeightStore.modelFingerprint} equals `snapshot.fingerprint()`. Every weight whose content differs
   * gets a `"restore"` journal entry (the journal keeps growing: it is an audit log); a `restored` event
   * follows. Restoring is not a base mutation in the policy's sense, so it neither warns nor throws.
   * Throws {@link SnapshotMismatchError} when the snapshot's tensor names differ from the store's.
   */
  restore(snapshot: Snapshot, description: RestoreDescription = {}): readonly JournalEntry[] {
    const missing = this.names().filter((name) => !snapshot.has(name));
    const extra = snapshot.names().filter((name) => !this.#tensors.has(name));
    if (missing.length > 0 || extra.length > 0) throw new SnapshotMismatchError(missing, extra);
    const reason = description.reason ?? `restore snapshot ${snapshot.label ?? snapshot.id}`;
    const by = description.by ?? "restore";
    const entries: JournalEntry[] = [];
    const restored = new Map<string, FrozenTensor>();
    for (const [name, current] of this.#tensors) {
      const target = snapshot.get(name);
      restored.set(name, target);
      if (target !== current && target.fingerprint !== current.fingerprint) {
        entries.push(this.#record("restore", name, current, target, reason, by));
      }
    }
    this.#tensors = restored;
    this.#modelFingerprint = undefined;
    this.#emit("restored", { type: "restored", store: this, snapshot, entries });
    return entries;
  }

  /**
   * An independent store with the same tensors (shared until one side mutates: copy-on-write by
   * construction, since frozen tensors never change) and a copy of the journal. Mutations of either store
   * are never seen by the other. Options default to this store's.
   */
  fork(options: WeightStoreOptions = {}): WeightStore {
    return new WeightStore(new Map(this.#tensors), this.#journal.slice(), this.id, {
      policy: options.policy ?? this.#policy,
      warn: options.warn ?? this.#warn,
      now: options.now ?? this.#now,
    });
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<Type extends keyof WeightStoreEventMap>(type: Type, listener: Listener<Type>): () => void {
    let listeners = this.#listeners.get(type);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(type, listeners);
    }
    listeners.add(listener as (event: never) => void);
    return () => {
      listeners.delete(listener as (event: never) => void);
    };
  }

  #emit<Type extends keyof WeightStoreEventMap>(type: Type, event: WeightStoreEventMap[Type]): void {
    const listeners = this.#listeners.get(type);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) (listener as Listener<Type>)(event);
  }
}
