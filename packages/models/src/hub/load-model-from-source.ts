/**
 * The glue between model sources and the architecture registry: `config.json` plus the safetensors checkpoint
 * (single file or shards) of any source, built by the architecture its `model_type` names.
 */
import { type CreateModelOptions, createModel } from "../architectures/registry.js";
import type { CausalLM } from "../causal-lm.js";
import { type ModelSource, readSourceJson } from "./model-source.js";
import { openSourceCheckpoint } from "./source-checkpoint.js";

/**
 * Loads a model of any registered `model_type` from a model source (a folder, an HTTP folder, a Hub repository).
 *
 * @throws ModelFileNotFoundError / CheckpointError for missing files, and the config and weight errors of
 *   `createModel`.
 */
export async function loadModelFromSource(
  source: ModelSource,
  options: CreateModelOptions = {},
): Promise<CausalLM> {
  const config = await readSourceJson(source, "config.json");
  const checkpoint = await openSourceCheckpoint(source);
  try {
    return createModel(config, await checkpoint.readAll(), options);
  } finally {
    await checkpoint.close();
  }
}
