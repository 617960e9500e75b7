/**
 * Node-only helpers of `@peftjs/state`: snapshot files on disk, written atomically by `@peftjs/io/node`.
 * @module
 */
import { readSafetensorsFile, writeSafetensorsFile } from "@peftjs/io/node";
import type { Snapshot } from "./snapshot.js";
import {
  type DecodeSnapshotOptions,
  snapshotFromSafetensors,
  snapshotToSafetensors,
} from "./snapshot-codec.js";

/**
 * Writes `snapshot` to `path` as a safetensors file with the journal in its metadata, atomically (temporary
 * file, fsync, rename): a crash leaves either the old file or the new one, never a torn one.
 */
export async function writeSnapshotFile(path: string, snapshot: Snapshot): Promise<void> {
  const { tensors, metadata } = snapshotToSafetensors(snapshot);
  await writeSafetensorsFile(path, tensors, metadata);
}

/**
 * Reads a snapshot file written by {@link writeSnapshotFile}; by default verifies that the tensors hash to
 * the recorded fingerprint (`SnapshotFormatError` otherwise). Restore it with `store.restore(snapshot)` or
 * `WeightStore.fromSnapshot(snapshot)`.
 */
export async function readSnapshotFile(path: string, options: DecodeSnapshotOptions = {}): Promise<Snapshot> {
  const { tensors, metadata } = await readSafetensorsFile(path);
  return snapshotFromSafetensors(tensors, metadata, true, options);
}
