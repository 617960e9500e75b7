import { mkdir, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { RawTensor } from "../raw-tensor.js";
import { CheckpointError, FileSystemError, JsonFileError } from "../safetensors-errors.js";
import {
  type CheckpointIndex,
  type CheckpointReader,
  formatCheckpointIndex,
  openShardedCheckpoint,
  parseCheckpointIndex,
  planShards,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_WEIGHTS_NAME,
  singleFileCheckpoint,
} from "../sharding.js";
import { writeFileAtomic } from "./atomic-file.js";
import { readJsonFile } from "./json-file.js";
import { openSafetensorsFile, type WritableTensorMap, writeSafetensorsFile } from "./safetensors-file.js";

/** Options for {@link openCheckpoint} and {@link readCheckpoint}. */
export interface CheckpointReadOptions {
  /** The weights file name (default `model.safetensors`; its index is `<name>.index.json`). */
  weightsName?: string;
}

function indexNameFor(weightsName: string): string {
  return weightsName === SAFETENSORS_WEIGHTS_NAME ? SAFETENSORS_INDEX_NAME : `${weightsName}.index.json`;
}

/**
 * Opens a checkpoint folder lazily: `model.safetensors`, or the shards listed in
 * `model.safetensors.index.json` presented as one set of tensors. Headers are read at once, tensor bytes
 * on demand. Close the reader when done.
 * @throws CheckpointError when the folder has neither file or the index is inconsistent with the shards
 */
export async function openCheckpoint(
  folder: string,
  options: CheckpointReadOptions = {},
): Promise<CheckpointReader> {
  const weightsName = options.weightsName ?? SAFETENSORS_WEIGHTS_NAME;
  const indexName = indexNameFor(weightsName);
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (error) {
    throw new FileSystemError(`cannot list ${folder}: ${(error as Error).message}`, { cause: error });
  }
  if (files.includes(weightsName)) {
    return singleFileCheckpoint(await openSafetensorsFile(join(folder, weightsName)), weightsName);
  }
  if (files.includes(indexName)) {
    let index: CheckpointIndex;
    try {
      index = parseCheckpointIndex(await readJsonFile(join(folder, indexName)), join(folder, indexName));
    } catch (error) {
      if (error instanceof JsonFileError) throw new CheckpointError(error.message, { cause: error });
      throw error;
    }
    return openShardedCheckpoint(index, async (fileName) => {
      if (!files.includes(fileName)) {
        throw new CheckpointError(`${indexName} lists the shard ${fileName}, which is not in ${folder}`);
      }
      return openSafetensorsFile(join(folder, fileName));
    });
  }
  throw new CheckpointError(`${folder} has neither ${weightsName} nor ${indexName}`);
}

/** The result of {@link readCheckpoint}. */
export interface CheckpointContents {
  /** Every tensor of the checkpoint (all shards). */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` of the (first) weights file. */
  metadata: Record<string, string> | null;
  /** The index, or null for a single file. */
  index: CheckpointIndex | null;
}

/** Reads every tensor of a checkpoint folder (single file or sharded). */
export async function readCheckpoint(
  folder: string,
  options: CheckpointReadOptions = {},
): Promise<CheckpointContents> {
  const reader = await openCheckpoint(folder, options);
  try {
    return { tensors: await reader.readAll(), metadata: reader.metadata, index: reader.index };
  } finally {
    await reader.close();
  }
}

/** Options for {@link writeCheckpoint}. */
export interface CheckpointWriteOptions {
  /** Largest shard, in bytes of tensor data, or a size such as `"5GB"`/`"2GiB"` (default `"5GB"`). */
  maxShardSize?: number | string;
  /** `__metadata__` of every file (default `{"format": "pt"}`, what transformers writes). */
  metadata?: Record<string, string> | null;
  /** The weights file name (default `model.safetensors`). */
  weightsName?: string;
}

/**
 * Writes a checkpoint folder as transformers' `save_pretrained` does: one `model.safetensors` when everything
 * fits in `maxShardSize`, otherwise `model-00001-of-0000N.safetensors` shards plus
 * `model.safetensors.index.json` (`{"metadata": {"total_parameters", "total_size"}, "weight_map"}`, sorted,
 * indented as Python's json). Every file is written atomically and streamed (lazy tensors are produced one
 * at a time). Weight files of an earlier save that the new one does not use are removed afterwards.
 * @returns the names of the files written
 */
export async function writeCheckpoint(
  folder: string,
  tensors: WritableTensorMap,
  options: CheckpointWriteOptions = {},
): Promise<string[]> {
  const weightsName = options.weightsName ?? SAFETENSORS_WEIGHTS_NAME;
  const metadata = options.metadata === undefined ? { format: "pt" } : options.metadata;
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const byName = new Map(entries);
  const plan = planShards(entries, options.maxShardSize ?? "5GB", weightsName);
  // As save_pretrained: the folder is created when missing.
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    throw new FileSystemError(`cannot create ${folder}: ${(error as Error).message}`, { cause: error });
  }
  const written: string[] = [];
  for (const shard of plan.shards) {
    const shardTensors = new Map(
      shard.names.map((name) => [name, byName.get(name) as (typeof entries)[number][1]]),
    );
    await writeSafetensorsFile(join(folder, shard.fileName), shardTensors, metadata);
    written.push(shard.fileName);
  }
  const indexName = indexNameFor(weightsName);
  if (plan.index !== null) {
    await writeFileAtomic(join(folder, indexName), formatCheckpointIndex(plan.index));
    written.push(indexName);
  }
  await removeStaleWeights(folder, weightsName, indexName, new Set(written));
  return written;
}

/** Deletes `model.safetensors`, `model-…-of-….safetensors` and the index left by a previous save. */
async function removeStaleWeights(folder: string, weightsName: string, indexName: string, keep: Set<string>) {
  const dot = weightsName.lastIndexOf(".");
  const stem = dot < 0 ? weightsName : weightsName.slice(0, dot);
  const extension = dot < 0 ? "" : weightsName.slice(dot);
  const isWeights = (file: string) =>
    file === weightsName ||
    file === indexName ||
    (file.startsWith(`${stem}-`) &&
      file.endsWith(extension) &&
      /^-\d{5}-of-\d{5}$/.test(file.slice(stem.length, file.length - extension.length)));
  let files: string[];
  try {
    files = await readdir(folder);
  } catch (error) {
    throw new FileSystemError(`cannot list ${folder}: ${(error as Error).message}`, { cause: error });
  }
  for (const file of files) {
    if (isWeights(file) && !keep.has(file)) {
      await unlink(join(folder, file)).catch((error: unknown) => {
        throw new FileSystemError(`cannot remove stale ${file}: ${(error as Error).message}`, {
          cause: error,
        });
      });
    }
  }
}
