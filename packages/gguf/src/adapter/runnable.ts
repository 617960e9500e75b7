import type { LoraAdapter } from "@peftjs/adapters";
import { adapterRecordFromMetadata, initMethodMutatesBase } from "@peftjs/state";
import { GgufUnsupportedAdapterError } from "../errors.js";

const convertRemedy =
  "Convert it to a plain LoRA for the original base first (peftjs convert --initial ADAPTER_INIT --trained ADAPTER --out DIR, " +
  "or PEFT's save_pretrained(path_initial_model_for_weight_conversion=…)) and export that, or merge it " +
  "(peftjs merge) and export the merged model folder";

/**
 * Raw `adapter_config.json` features that llama.cpp's LoRA (y = W x + s·B·A x per linear module) cannot run,
 * checked before the config is parsed so that the refusal names the reason and the remedy rather than failing on
 * an unsupported field. Returns normally for a config llama.cpp can run.
 * @throws GgufUnsupportedAdapterError for DoRA, LoRA biases, trainable tokens, LoRA on the embedding, modules_to_save
 */
export function checkRunnableAdapterConfig(configJson: unknown): void {
  if (typeof configJson !== "object" || configJson === null) return;
  const config = configJson as Record<string, unknown>;
  const mergedRemedy =
    "Merge it into the base (peftjs merge --model M --adapter A --out MERGED, or PEFT's merge_and_unload) and export the merged model folder (peftjs export --format gguf --model MERGED)";
  if (config.use_dora === true) {
    throw new GgufUnsupportedAdapterError(
      "DoRA rescales each output row by m / ‖W + s·B·A‖, which llama.cpp's LoRA (W + s·B·A) cannot express",
      mergedRemedy,
    );
  }
  if (config.bias !== undefined && config.bias !== "none") {
    throw new GgufUnsupportedAdapterError(
      `bias "${String(config.bias)}" trains base-layer biases, which a GGUF LoRA cannot carry (llama.cpp's converter refuses them too)`,
      mergedRemedy,
    );
  }
  const tokens = config.trainable_token_indices;
  if (tokens !== undefined && tokens !== null && !(Array.isArray(tokens) && tokens.length === 0)) {
    throw new GgufUnsupportedAdapterError(
      "trainable tokens replace embedding rows, which a GGUF LoRA cannot carry",
      mergedRemedy,
    );
  }
  const targets = config.target_modules;
  const targetList = Array.isArray(targets) ? targets : typeof targets === "string" ? [targets] : [];
  if (targetList.some((target) => typeof target === "string" && /embed_tokens/.test(target))) {
    throw new GgufUnsupportedAdapterError(
      "the adapter puts LoRA on the token embedding (embed_tokens); peftjs exports LoRA on linear projections only, and with tied embeddings PEFT's unmerged and merged models differ there",
      mergedRemedy,
    );
  }
  const saved = config.modules_to_save;
  if (Array.isArray(saved) && saved.length > 0) {
    throw new GgufUnsupportedAdapterError(
      `modules_to_save ${JSON.stringify(saved)} are full weights, which a GGUF LoRA cannot carry`,
      mergedRemedy,
    );
  }
}

/**
 * Refuses an adapter that is only right on a rewritten base: an unconverted PiSSA/OLoRA adapter (its config
 * says `pissa`, `pissa_niter_K`, `olora`, …: it expects W − s·B₀A₀) or a peftjs init adapter whose record says it
 * belongs to a residual base. llama.cpp applies adapters to the original weights, so either would silently give a
 * different model.
 * @throws GgufUnsupportedAdapterError with the remedy
 */
export function checkAdapterForOriginalBase(adapter: LoraAdapter): void {
  const init = adapter.config.init_lora_weights;
  if (initMethodMutatesBase(init)) {
    throw new GgufUnsupportedAdapterError(
      `this adapter is unconverted ${JSON.stringify(init)}: it is right only on PEFT's residual base W − s·B₀A₀, while llama.cpp adds adapters to the original weights`,
      convertRemedy,
    );
  }
  const record = adapterRecordFromMetadata(adapter.metadata);
  if (record?.needsMutatedBase === true) {
    throw new GgufUnsupportedAdapterError(
      `its peftjs record says it belongs to a residual base (init ${JSON.stringify(record.initMethod)}), not to the original weights llama.cpp uses`,
      convertRemedy,
    );
  }
}
