/**
 * The thin glue between model sources and today's Llama loader: `config.json` plus the safetensors checkpoint
 * (single file or shards) of any source. The model registry of `@peftjs/models` replaces it with a loader per
 * `model_type` reading the same source.
 */
import { parseLlamaConfig } from "../config.js";
import { LlamaForCausalLM } from "../llama/llama-model.js";
import { type ModelSource, readSourceJson } from "./model-source.js";
import { openSourceCheckpoint } from "./source-checkpoint.js";

/**
 * Loads a Llama from a model source (a folder, an HTTP folder, a Hub repository).
 *
 * @throws ModelFileNotFoundError / CheckpointError for missing files, and the config and weight errors of
 *   {@link LlamaForCausalLM.fromWeights}.
 */
export async function loadLlamaFromSource(source: ModelSource): Promise<LlamaForCausalLM> {
  const config = parseLlamaConfig(await readSourceJson(source, "config.json"));
  const checkpoint = await openSourceCheckpoint(source);
  try {
    return LlamaForCausalLM.fromWeights(config, await checkpoint.readAll());
  } finally {
    await checkpoint.close();
  }
}
