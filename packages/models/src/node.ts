/**
 * Node-only loaders: read a model folder or a tokenizer file from disk.
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readCheckpoint, readJsonFile } from "@peftjs/io/node";
import { type CreateModelOptions, createModel } from "./architectures/registry.js";
import type { CausalLM } from "./causal-lm.js";
import { Llama2cTokenizer } from "./tokenizer/llama2c-tokenizer.js";

/**
 * Loads a Hugging Face model folder of any registered `model_type` (`llama`, `mistral`, …): `config.json`
 * plus `model.safetensors`, or shards listed in `model.safetensors.index.json`. Weights of any float dtype are
 * computed in float32; `model.weights` keeps them as stored (the model's identity).
 *
 * @throws the config errors of `parseModelConfig`, ModelWeightsError for missing or misshapen weights, and
 *   @peftjs/io's errors for unreadable files.
 */
export async function loadModel(directory: string, options: CreateModelOptions = {}): Promise<CausalLM> {
  const config = await readJsonFile(join(directory, "config.json"));
  const checkpoint = await readCheckpoint(directory);
  // Every tensor was read into a buffer of its own that nothing else holds: the weight store takes it over.
  return createModel(config, checkpoint.tensors, { ...options, takeOverBytes: true });
}

/**
 * Reads a llama2.c tokenizer file (`tok512.bin`, `tokenizer.bin`).
 *
 * @param vocabSize how many tokens to read (by default all records in the file).
 */
export async function loadLlama2cTokenizer(path: string, vocabSize?: number): Promise<Llama2cTokenizer> {
  return Llama2cTokenizer.fromBytes(new Uint8Array(await readFile(path)), vocabSize);
}

export { folderModelSource } from "./hub/node/folder-source.js";
export {
  defaultHubCacheDirectory,
  huggingFaceHome,
  repositoryFolderName,
  tokenFilePath,
} from "./hub/node/hub-cache-paths.js";
export type { CachedHubSource } from "./hub/node/hub-cache-source.js";
export { openCachedHubSource } from "./hub/node/hub-cache-source.js";
export type { CachedHubFile, HubFileRequest, NodeHubOptions } from "./hub/node/hub-download.js";
export { resolveHubFile } from "./hub/node/hub-download.js";
export { loadTokenizer } from "./hub/node/load-tokenizer.js";
export type { LocalHub, LocalHubOptions, LocalHubRequest } from "./hub/node/local-hub-server.js";
export { startLocalHub } from "./hub/node/local-hub-server.js";
export type { NodeOpenModelSourceOptions } from "./hub/node/open-model-source.js";
export { openModelSource } from "./hub/node/open-model-source.js";
