import { UnknownTensorError } from "./errors.js";
import { type Fingerprint, fingerprintModel } from "./fingerprint.js";
import type { FrozenTensor } from "./frozen-tensor.js";
import type { JournalEntry } from "./journal.js";

/** What a snapshot is made of; the journal is shared with its store and read up to `journalLength`. */
export interface SnapshotParts {
  readonly id: string;
  readonly label: string | null;
  readonly storeId: string;
  readonly createdAt: string;
  readonly tensors: ReadonlyMap<string, FrozenTensor>;
  readonly journal: readonly JournalEntry[];
  readonly journalLength: number;
}

let createSnapshotInternal: (parts: SnapshotParts) => Snapshot;

/**
 * A frozen picture of a store: its tensors (shared with the store, never copied, because frozen tensors
 * cannot change) and its journal up to that moment. Taking one costs O(number of tensors).
 * Create with {@link WeightStore.snapshot}, bring back with {@link WeightStore.restore} or
 * {@link WeightStore.fromSnapshot}, persist with `encodeSnapshot` / `writeSnapshotFile`.
 */
export class Snapshot {
  /** Unique within this process (or as read from a snapshot file). */
  readonly id: string;
  /** The label given to {@link WeightStore.snapshot}, if any. */
  readonly label: string | null;
  /** The id of the store it was taken from. */
  readonly storeId: string;
  /** When it was taken, ISO 8601 UTC. */
  readonly createdAt: string;
  readonly #tensors: ReadonlyMap<string, FrozenTensor>;
  readonly #journal: readonly JournalEntry[];
  readonly #journalLength: number;
  #fingerprint: Fingerprint | undefined;

  static {
    createSnapshotInternal = (parts) => new Snapshot(parts);
  }

  private constructor(parts: SnapshotParts) {
    this.id = parts.id;
    this.label = parts.label;
    this.storeId = parts.storeId;
    this.createdAt = parts.createdAt;
    this.#tensors = parts.tensors;
    this.#journal = parts.journal;
    this.#journalLength = parts.journalLength;
    Object.freeze(this);
  }

  /** Number of tensors. */
  get size(): number {
    return this.#tensors.size;
  }

  /** The tensor names, in insertion order. */
  names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** True when the snapshot holds `name`. */
  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  /** The frozen tensor called `name`; throws {@link UnknownTensorError} when absent. */
  get(name: string): FrozenTensor {
    const tensor = this.#tensors.get(name);
    if (tensor === undefined) throw new UnknownTensorError(name, this.names());
    return tensor;
  }

  /** The (name, tensor) pairs, in insertion order. */
  entries(): IterableIterator<[string, FrozenTensor]> {
    return this.#tensors.entries();
  }

  /** The journal of the store at the moment the snapshot was taken (a copy). */
  get journal(): readonly JournalEntry[] {
    return this.#journal.slice(0, this.#journalLength);
  }

  /** The model fingerprint of the snapshot's tensors (see `fingerprintModel`); cached. */
  fingerprint(): Fingerprint {
    this.#fingerprint ??= fingerprintModel(
      [...this.#tensors].map(([name, tensor]) => [name, tensor.fingerprint] as const),
    );
    return this.#fingerprint;
  }
}

/** Builds a {@link Snapshot}. Internal to this package, never exported. */
export function createSnapshot(parts: SnapshotParts): Snapshot {
  return createSnapshotInternal(parts);
}
