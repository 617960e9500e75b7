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
import { ModelConfigError } from "./errors.js";
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
  return modelFromFolder(directory, await readJsonFile(join(directory, "config.json")), options);
}

/**
 * {@link loadModel} for Llama checkpoints only (`model_type: "llama"`, e.g. SmolLM2 or Llama 3.2): the loader of
 * peftjs's first API, kept for code written against it (the project's shared PyTorch benchmark calls it).
 *
 * @throws ModelConfigError naming the folder's `model_type` when it is not `"llama"`, before any weight is read;
 *   otherwise what {@link loadModel} throws.
 */
export async function loadLlama(directory: string, options: CreateModelOptions = {}): Promise<CausalLM> {
  const configPath = join(directory, "config.json");
  const config = await readJsonFile(configPath);
  const modelType = (config as { model_type?: unknown } | null)?.model_type;
  if (modelType !== "llama") {
    throw new ModelConfigError(
      `loadLlama reads Llama checkpoints, but ${configPath} has model_type ${JSON.stringify(modelType)}: use loadModel, which reads every registered model_type`,
    );
  }
  return modelFromFolder(directory, config, options);
}

async function modelFromFolder(
  directory: string,
  config: unknown,
  options: CreateModelOptions,
): Promise<CausalLM> {
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
