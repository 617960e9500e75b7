import { deserialize, type RawTensor, serialize } from "@peftjs/io";
import { SnapshotFormatError } from "./errors.js";
import { type Fingerprint, isFingerprint } from "./fingerprint.js";
import { adoptRawTensor, borrowBytes, FrozenTensor } from "./frozen-tensor.js";
import { parseJournal, serializeJournal } from "./journal.js";
import { createSnapshot, type Snapshot } from "./snapshot.js";

/**
 * The `__metadata__` keys of a snapshot file. The file is an ordinary safetensors file (loadable by
 * `safetensors`/torch, `format: "pt"`); the journal travels with it as JSON in the metadata.
 */
export const SNAPSHOT_METADATA_KEYS = {
  version: "peftjs.snapshot.version",
  id: "peftjs.snapshot.id",
  label: "peftjs.snapshot.label",
  storeId: "peftjs.snapshot.store_id",
  createdAt: "peftjs.snapshot.created_at",
  fingerprint: "peftjs.snapshot.fingerprint",
  journal: "peftjs.snapshot.journal",
} as const;

/** The snapshot file layout version. */
export const SNAPSHOT_FORMAT_VERSION = "1";

/** Options for reading a snapshot. */
export interface DecodeSnapshotOptions {
  /**
   * Recompute the model fingerprint and compare it with the recorded one (hashes every byte, ≥ 1 GB/s);
   * default `true`. A mismatch throws {@link SnapshotFormatError}.
   */
  verify?: boolean;
}

/**
 * The tensors (read-only views of the frozen bytes: only for a writer that reads them) and metadata that
 * represent `snapshot` in a safetensors file. Internal to this package.
 */
export function snapshotToSafetensors(snapshot: Snapshot): {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
} {
  const tensors = new Map<string, RawTensor>();
  for (const [name, tensor] of snapshot.entries()) {
    tensors.set(name, { dtype: tensor.dtype, shape: [...tensor.shape], data: borrowBytes(tensor) });
  }
  const keys = SNAPSHOT_METADATA_KEYS;
  const metadata: Record<string, string> = {
    format: "pt",
    [keys.version]: SNAPSHOT_FORMAT_VERSION,
    [keys.id]: snapshot.id,
    [keys.storeId]: snapshot.storeId,
    [keys.createdAt]: snapshot.createdAt,
    [keys.fingerprint]: snapshot.fingerprint(),
    [keys.journal]: serializeJournal(snapshot.journal),
  };
  if (snapshot.label !== null) metadata[keys.label] = snapshot.label;
  return { tensors, metadata };
}

/**
 * Rebuilds a snapshot from decoded safetensors contents. With `owned`, the tensors' bytes belong to the
 * caller alone and are adopted without copying; otherwise they are copied. Internal to this package.
 */
export function snapshotFromSafetensors(
  tensors: ReadonlyMap<string, RawTensor>,
  metadata: Readonly<Record<string, string>> | null,
  owned: boolean,
  options: DecodeSnapshotOptions = {},
): Snapshot {
  const keys = SNAPSHOT_METADATA_KEYS;
  if (metadata === null || metadata[keys.version] === undefined) {
    throw new SnapshotFormatError(`not a peftjs snapshot: the metadata has no "${keys.version}" key`);
  }
  if (metadata[keys.version] !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotFormatError(
      `snapshot format ${JSON.stringify(metadata[keys.version])} is not supported (this version reads "${SNAPSHOT_FORMAT_VERSION}")`,
    );
  }
  const recorded = metadata[keys.fingerprint];
  if (!isFingerprint(recorded))
    throw new SnapshotFormatError(`${keys.fingerprint} ${JSON.stringify(recorded)} is not a fingerprint`);
  for (const key of [keys.id, keys.storeId, keys.createdAt, keys.journal]) {
    if (metadata[key] === undefined) throw new SnapshotFormatError(`the snapshot metadata lacks "${key}"`);
  }
  const journal = parseJournal(metadata[keys.journal]!);
  const frozen = new Map<string, FrozenTensor>();
  for (const [name, raw] of tensors)
    frozen.set(name, owned ? adoptRawTensor(raw, name) : FrozenTensor.from(raw, name));
  const snapshot = createSnapshot({
    id: metadata[keys.id]!,
    label: metadata[keys.label] ?? null,
    storeId: metadata[keys.storeId]!,
    createdAt: metadata[keys.createdAt]!,
    tensors: frozen,
    journal,
    journalLength: journal.length,
  });
  if (options.verify ?? true) {
    const actual: Fingerprint = snapshot.fingerprint();
    if (actual !== recorded) {
      throw new SnapshotFormatError(
        `snapshot ${snapshot.id} records fingerprint ${recorded} but its tensors hash to ${actual}`,
      );
    }
  }
  return snapshot;
}

/** A snapshot as the bytes of a safetensors file (tensors + `peftjs.snapshot.*` metadata with the journal). */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const { tensors, metadata } = snapshotToSafetensors(snapshot);
  return serialize(tensors, metadata);
}

/** Reads bytes written by {@link encodeSnapshot} (copying the tensor data out of `bytes`). */
export function decodeSnapshot(bytes: Uint8Array, options: DecodeSnapshotOptions = {}): Snapshot {
  const { tensors, metadata } = deserialize(bytes);
  return snapshotFromSafetensors(tensors, metadata, false, options);
}
