/**
 * Sharded checkpoints as transformers writes them (`save_pretrained(max_shard_size=…)`, which splits with
 * huggingface_hub's `split_torch_state_dict_into_shards`) and reads them (`model.safetensors.index.json`).
 */
import { compareCodePoints, describedByteLength, type TensorDescription } from "./layout.js";
import { type PythonJsonValue, pythonJson } from "./python-json.js";
import type { RawTensor, TensorInfo } from "./raw-tensor.js";
import type { SafetensorsReader } from "./reader.js";
import { CheckpointError, SafetensorsTensorNotFoundError } from "./safetensors-errors.js";

/** The name of the index file beside the shards. */
export const SAFETENSORS_INDEX_NAME = "model.safetensors.index.json";

/** The default weights file name. */
export const SAFETENSORS_WEIGHTS_NAME = "model.safetensors";

const sizeUnits: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/**
 * Parses a shard size: a number of bytes, or a string such as `"600KB"` or `"5GB"` (powers of 1000, as
 * huggingface_hub's `parse_size`) or `"2GiB"` (powers of 1024).
 */
export function parseShardSize(size: number | string): number {
  if (typeof size === "number") {
    if (!Number.isSafeInteger(size) || size <= 0) throw new CheckpointError(`invalid shard size ${size}`);
    return size;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)\s*$/i.exec(size);
  const unit = match === null ? undefined : sizeUnits[(match[2] as string).toUpperCase()];
  if (match === null || unit === undefined) {
    throw new CheckpointError(`invalid shard size ${JSON.stringify(size)}; use e.g. 600KB, 5GB or 2GiB`);
  }
  return Math.floor(Number(match[1]) * unit);
}

/** One planned shard: its file name and the tensor names it holds. */
export interface PlannedShard {
  fileName: string;
  names: string[];
}

/** The result of {@link planShards}. */
export interface ShardPlan {
  shards: PlannedShard[];
  /** The index to write beside the shards, or null for a single file (no index, as transformers). */
  index: CheckpointIndex | null;
}

/** The content of `model.safetensors.index.json`. */
export interface CheckpointIndex {
  metadata: { total_parameters?: number; total_size: number; [key: string]: unknown };
  weight_map: Record<string, string>;
}

/** Inserts `-00001-of-00002` before the extension of a weights name, as transformers does. */
export function shardFileName(weightsName: string, index: number, count: number): string {
  const suffix = `-${String(index + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}`;
  const dot = weightsName.lastIndexOf(".");
  return dot < 0 ? weightsName + suffix : weightsName.slice(0, dot) + suffix + weightsName.slice(dot);
}

/**
 * Splits tensors into shards of at most `maxShardSize` bytes of tensor data, as huggingface_hub does: in
 * name order (code point order, the order transformers hands it), a tensor that would push the current shard
 * past the limit starts a new one, and a tensor larger than the limit gets a shard of its own.
 */
export function planShards(
  tensors: Array<[string, TensorDescription]>,
  maxShardSize: number | string,
  weightsName = SAFETENSORS_WEIGHTS_NAME,
): ShardPlan {
  const limit = parseShardSize(maxShardSize);
  const sorted = [...tensors].sort(([left], [right]) => compareCodePoints(left, right));
  const groups: string[][] = [];
  let current: string[] = [];
  let currentSize = 0;
  let totalSize = 0;
  let totalParameters = 0;
  for (const [name, tensor] of sorted) {
    const size = describedByteLength(name, tensor);
    totalSize += size;
    totalParameters += tensor.shape.reduce((product, dimension) => product * dimension, 1);
    if (size > limit) {
      groups.push([name]);
      continue;
    }
    if (currentSize + size > limit && current.length > 0) {
      groups.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(name);
    currentSize += size;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  if (groups.length === 1)
    return { shards: [{ fileName: weightsName, names: groups[0] as string[] }], index: null };
  const shards = groups.map((names, index) => ({
    fileName: shardFileName(weightsName, index, groups.length),
    names,
  }));
  const weightMap: Record<string, string> = {};
  for (const shard of shards) for (const name of shard.names) weightMap[name] = shard.fileName;
  return {
    shards,
    index: { metadata: { total_parameters: totalParameters, total_size: totalSize }, weight_map: weightMap },
  };
}

/** The index as transformers writes it: `json.dumps(index, indent=2, sort_keys=True) + "\n"`. */
export function formatCheckpointIndex(index: CheckpointIndex): string {
  return `${pythonJson(index as unknown as PythonJsonValue)}\n`;
}

/** Validates parsed `model.safetensors.index.json` content. */
export function parseCheckpointIndex(value: unknown, description = SAFETENSORS_INDEX_NAME): CheckpointIndex {
  const index = value as Partial<CheckpointIndex> | null;
  if (
    typeof index !== "object" ||
    index === null ||
    typeof index.weight_map !== "object" ||
    index.weight_map === null
  ) {
    throw new CheckpointError(`${description} has no "weight_map" object`);
  }
  for (const [name, file] of Object.entries(index.weight_map)) {
    if (typeof file !== "string" || !/^[^/\\]+$/.test(file) || file === "." || file === "..") {
      throw new CheckpointError(
        `${description}: tensor ${JSON.stringify(name)} maps to ${JSON.stringify(file)}, not a file name in the folder`,
      );
    }
  }
  const metadata =
    typeof index.metadata === "object" && index.metadata !== null ? index.metadata : { total_size: 0 };
  return { metadata, weight_map: index.weight_map };
}

/** A tensor entry of a checkpoint view: the header entry plus the file that holds it. */
export interface CheckpointTensorInfo extends TensorInfo {
  /** The shard (or single file) name. */
  fileName: string;
}

/** Lazy access to a whole checkpoint, single-file or sharded, as one set of tensors. */
export interface CheckpointReader {
  /** All tensors, in name order for shards (index order), file order for a single file. */
  readonly tensors: CheckpointTensorInfo[];
  /** Tensor names, in the order of {@link CheckpointReader.tensors}. */
  readonly names: string[];
  /** The `__metadata__` of the first file (transformers writes `{"format": "pt"}` in every shard). */
  readonly metadata: Record<string, string> | null;
  /** The index, or null for a single file. */
  readonly index: CheckpointIndex | null;
  /** The header entry of a tensor, or undefined. */
  info(name: string): CheckpointTensorInfo | undefined;
  /** Reads one tensor from its shard (only its byte range). */
  read(name: string): Promise<RawTensor>;
  /** Reads every tensor. */
  readAll(): Promise<Map<string, RawTensor>>;
  /** Closes every shard. */
  close(): Promise<void>;
}

/** Wraps one opened file as a {@link CheckpointReader}. */
export function singleFileCheckpoint(reader: SafetensorsReader, fileName: string): CheckpointReader {
  const tensors = reader.header.tensors.map((info) => ({ ...info, fileName }));
  const byName = new Map(tensors.map((info) => [info.name, info]));
  return {
    tensors,
    names: reader.names,
    metadata: reader.header.metadata,
    index: null,
    info: (name) => byName.get(name),
    read: (name) => reader.read(name),
    readAll: () => reader.readAll(),
    close: () => reader.close(),
  };
}

/**
 * Opens a sharded checkpoint as one view: opens every shard named in the index (headers only) and checks
 * that each tensor of the index is in its shard.
 * @param openShard - opens a shard by its file name (a path join in Node, a URL join in a browser)
 * @throws CheckpointError when a shard lacks a tensor of the index
 */
export async function openShardedCheckpoint(
  index: CheckpointIndex,
  openShard: (fileName: string) => Promise<SafetensorsReader>,
): Promise<CheckpointReader> {
  const readers = new Map<string, SafetensorsReader>();
  const close = async () => {
    for (const reader of readers.values()) await reader.close();
  };
  const tensors: CheckpointTensorInfo[] = [];
  try {
    const names = Object.keys(index.weight_map).sort(compareCodePoints);
    for (const name of names) {
      const fileName = index.weight_map[name] as string;
      let reader = readers.get(fileName);
      if (reader === undefined) {
        reader = await openShard(fileName);
        readers.set(fileName, reader);
      }
      const info = reader.info(name);
      if (info === undefined) {
        throw new CheckpointError(
          `the index maps ${JSON.stringify(name)} to ${fileName}, which does not contain it`,
        );
      }
      tensors.push({ ...info, fileName });
    }
  } catch (error) {
    await close();
    throw error;
  }
  const byName = new Map(tensors.map((info) => [info.name, info]));
  const first = readers.values().next().value as SafetensorsReader | undefined;
  const read = async (name: string): Promise<RawTensor> => {
    const info = byName.get(name);
    if (info === undefined)
      throw new SafetensorsTensorNotFoundError(`tensor ${JSON.stringify(name)} not found in the checkpoint`);
    return (readers.get(info.fileName) as SafetensorsReader).read(name);
  };
  return {
    tensors,
    names: tensors.map((info) => info.name),
    metadata: first?.header.metadata ?? null,
    index,
    info: (name) => byName.get(name),
    read,
    readAll: async () => {
      const result = new Map<string, RawTensor>();
      for (const info of tensors) result.set(info.name, await read(info.name));
      return result;
    },
    close,
  };
}
