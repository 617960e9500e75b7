import {
  CheckpointError,
  type CheckpointReader,
  openSafetensorsSource,
  openShardedCheckpoint,
  parseCheckpointIndex,
  SAFETENSORS_INDEX_NAME,
  SAFETENSORS_WEIGHTS_NAME,
  singleFileCheckpoint,
} from "@peftjs/io";
import { type ModelSource, readSourceJson } from "./model-source.js";

/** Options of {@link openSourceCheckpoint}. */
export interface SourceCheckpointOptions {
  /** The weights file (default `model.safetensors`; its shard index is `<name>.index.json`). */
  readonly weightsName?: string;
}

/**
 * Opens the safetensors checkpoint of a source as one set of tensors, as transformers looks for it:
 * `model.safetensors`, else the shards listed in `model.safetensors.index.json` (each shard fetched or
 * downloaded when opened). Headers are read at once, tensor bytes on demand; close the reader when done.
 *
 * @throws CheckpointError when the source has neither file or the index is inconsistent with its shards.
 */
export async function openSourceCheckpoint(
  source: ModelSource,
  options: SourceCheckpointOptions = {},
): Promise<CheckpointReader> {
  const weightsName = options.weightsName ?? SAFETENSORS_WEIGHTS_NAME;
  const indexName =
    weightsName === SAFETENSORS_WEIGHTS_NAME ? SAFETENSORS_INDEX_NAME : `${weightsName}.index.json`;
  if (await source.has(weightsName)) {
    return singleFileCheckpoint(
      await openSafetensorsSource(await source.openBytes(weightsName)),
      weightsName,
    );
  }
  if (await source.has(indexName)) {
    const index = parseCheckpointIndex(
      await readSourceJson(source, indexName),
      `${indexName} of ${source.description}`,
    );
    return openShardedCheckpoint(index, async (fileName) =>
      openSafetensorsSource(await source.openBytes(fileName)),
    );
  }
  throw new CheckpointError(`${source.description} has neither ${weightsName} nor ${indexName}`);
}
