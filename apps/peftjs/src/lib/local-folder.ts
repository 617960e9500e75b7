/**
 * A Hub id as a folder on disk, for the code that reads folders only (GGUF export): the files a model or an
 * adapter needs are resolved into the Hugging Face cache (downloaded once) and the snapshot folder that links
 * them is returned. A folder is returned as it is.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { SAFETENSORS_INDEX_NAME, SAFETENSORS_WEIGHTS_NAME } from "@peftjs/io";
import { type ModelSource, ModelSourceError, readPeftAdapterFiles, readSourceJson } from "@peftjs/models";
import { openModelLocation } from "./model-location.js";

/** The tokenizer files a model folder may hold, all fetched when present. */
const TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "tok512.bin", "tokenizer.bin"] as const;

async function snapshotFolder(source: ModelSource, file: string): Promise<string> {
  if (source.localFile === undefined) {
    throw new ModelSourceError(`${source.description} is not kept on disk, so it cannot be read as a folder`);
  }
  return dirname(await source.localFile(file));
}

/**
 * The folder of a model location: config.json, the checkpoint (single file or every shard of the index) and
 * the tokenizer files it has, in the Hugging Face cache for a Hub id.
 */
export async function localModelFolder(location: string): Promise<string> {
  if (existsSync(location)) return location;
  const source = await openModelLocation(location);
  if (!(await source.has(SAFETENSORS_WEIGHTS_NAME)) && (await source.has(SAFETENSORS_INDEX_NAME))) {
    const index = (await readSourceJson(source, SAFETENSORS_INDEX_NAME)) as { weight_map?: unknown };
    const shards = new Set(Object.values((index.weight_map ?? {}) as Record<string, unknown>).map(String));
    for (const shard of shards) await source.has(shard);
  }
  for (const file of TOKENIZER_FILES) await source.has(file);
  return snapshotFolder(source, "config.json");
}

/** The folder of an adapter location (a Hub id: adapter_config.json + adapter_model.safetensors in the cache). */
export async function localAdapterFolder(location: string): Promise<string> {
  if (existsSync(location)) return location;
  const source = await openModelLocation(location);
  await readPeftAdapterFiles(source); // fetches both files; refuses adapter_model.bin
  return snapshotFolder(source, "adapter_config.json");
}
