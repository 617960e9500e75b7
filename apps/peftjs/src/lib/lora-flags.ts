import { basename, resolve } from "node:path";
import {
  createLoraConfig,
  type InitLoraWeights,
  type LoraBias,
  type LoraConfig,
  moduleLoraSettings,
  selectTargetModules,
} from "@peftjs/adapters";
import type { CausalLM } from "@peftjs/models";
import { Embedding, Linear } from "@peftjs/nn";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import type { FlagValues } from "../commands/command.js";
import { optionalInteger, optionalNumber, requiredString } from "./cli-options.js";

/** The flags that describe a new adapter (`init`, `train --method`), in `parseArgs` form. */
export const loraFlagOptions = {
  method: { type: "string" },
  r: { type: "string" },
  alpha: { type: "string" },
  rslora: { type: "boolean" },
  "use-dora": { type: "boolean" },
  bias: { type: "string" },
  target: { type: "string" },
  "trainable-tokens": { type: "string" },
  "modules-to-save": { type: "string" },
} as const;

/** `--help` lines of {@link loraFlagOptions}. */
export const loraFlagHelp = `  --method NAME     lora | gaussian | pissa | pissa_niter_K | olora (PEFT's init_lora_weights)
  --r N             rank (default 8)
  --alpha N         lora_alpha (default 8); scaling alpha/r, or alpha/sqrt(r) with --rslora
  --rslora          rank-stabilised scaling
  --use-dora        DoRA (PEFT's use_dora): a trained magnitude per output row, with any --method
  --bias MODE       none | lora_only | all (PEFT's bias, default none): train and save the wrapped layers'
                    biases or every linear bias; kept as the adapter's own biases, the base keeps its own
  --target LIST     comma-separated module names, e.g. q_proj,v_proj, or all-linear (default q_proj,v_proj);
                    embeddings too (embed_tokens: PEFT's lora_embedding_A/B; all-linear never takes them)
  --trainable-tokens IDS  comma-separated token ids whose embedding rows train on their own (PEFT's
                    trainable_token_indices; a head tied to the embedding uses the same rows)
  --modules-to-save LIST  comma-separated module names trained and saved in full (PEFT's modules_to_save;
                    an entry names every module whose name ends with it), e.g. lm_head`;

/** `--method` as PEFT's `init_lora_weights`. */
export function initLoraWeightsOf(method: string): InitLoraWeights {
  if (method === "lora") return true;
  if (method === "gaussian" || method === "pissa" || method === "olora") return method;
  if (/^pissa_niter_[1-9]\d*$/.test(method)) return method as InitLoraWeights;
  throw new CliUsageError(
    `--method ${method} is not one of lora, gaussian, pissa, pissa_niter_K (K ≥ 1), olora`,
  );
}

/** `--bias` as PEFT's `bias`. */
export function loraBiasOf(value: unknown): LoraBias {
  if (value === undefined) return "none";
  if (value === "none" || value === "lora_only" || value === "all") return value;
  throw new CliUsageError(`--bias ${String(value)} is not one of none, lora_only, all`);
}

/** `base_model_name_or_path` for a model folder, as PEFT records the name the base was loaded from. */
function baseModelName(modelDir: string): string {
  return resolve(modelDir) === resolve(embeddedModelDir) ? "stories260k" : modelDir;
}

/** Builds the LoRA config the flags describe (PEFT's defaults for everything else, task type CAUSAL_LM). */
export function loraConfigFromFlags(values: FlagValues, modelDir: string): LoraConfig {
  const method = requiredString(values, "method");
  const target = typeof values.target === "string" ? values.target : "q_proj,v_proj";
  const targets = target
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (targets.length === 0) throw new CliUsageError("--target names no module");
  return createLoraConfig({
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModelName(modelDir),
    r: optionalInteger(values, "r", { min: 1 }) ?? 8,
    lora_alpha: optionalNumber(values, "alpha") ?? 8,
    use_rslora: values.rslora === true,
    bias: loraBiasOf(values.bias),
    ...(values["use-dora"] === true && { otherFields: { use_dora: true } }),
    target_modules: targets.length === 1 && targets[0] === "all-linear" ? "all-linear" : targets,
    init_lora_weights: initLoraWeightsOf(method),
    trainable_token_indices: tokenIdsOf(values["trainable-tokens"]),
    modules_to_save: moduleListOf(values["modules-to-save"]),
  });
}

/** `--modules-to-save lm_head,model.norm` as PEFT's `modules_to_save` (null without the flag). */
function moduleListOf(value: unknown): string[] | null {
  if (typeof value !== "string") return null;
  const names = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (names.length === 0) throw new CliUsageError("--modules-to-save names no module");
  return names;
}

/** `--trainable-tokens 5,17,300` as PEFT's `trainable_token_indices` (null without the flag). */
function tokenIdsOf(value: unknown): number[] | null {
  if (typeof value !== "string") return null;
  const entries = value.split(",").map((entry) => entry.trim());
  const ids = entries.map(Number);
  const bad = entries.find(
    (entry, index) => entry === "" || !Number.isInteger(ids[index]) || ids[index]! < 0,
  );
  if (bad !== undefined) {
    throw new CliUsageError(
      `--trainable-tokens ${JSON.stringify(value)}: ${JSON.stringify(bad)} is not a token id (an integer ≥ 0)`,
    );
  }
  return ids;
}

/** A short name for the model folder, for messages. */
export function modelLabel(modelDir: string): string {
  return resolve(modelDir) === resolve(embeddedModelDir)
    ? "embedded stories260K"
    : basename(resolve(modelDir));
}

/**
 * Refuses a rank above min(in, out) of a targeted module: B·A then has no more rank to offer, only more
 * parameters, and a rank such as 10⁹ would not fit in memory. Checked before any factor is allocated.
 */
export function checkRankFits(config: LoraConfig, model: CausalLM): void {
  // Linear [out, in]; an embedding [vocab, dim] counts as in = vocab, out = dim (PEFT's lora.Embedding)
  const layers = new Map<string, { inFeatures: number; outFeatures: number }>();
  const embeddings: string[] = [];
  for (const [name, module] of model.namedModules()) {
    if (module instanceof Linear) layers.set(name, module);
    if (module instanceof Embedding) {
      layers.set(name, { inFeatures: module.numEmbeddings, outFeatures: module.embeddingDim });
      embeddings.push(name);
    }
  }
  const targeting = {
    outputModuleName: model.outputModuleName,
    modelType: model.config.modelType,
    embeddingModuleNames: embeddings,
  };
  for (const name of selectTargetModules(config, [...layers.keys()], targeting)) {
    const layer = layers.get(name)!;
    const { r } = moduleLoraSettings(config, name);
    const limit = Math.min(layer.inFeatures, layer.outFeatures);
    if (r > limit) {
      throw new CliUsageError(
        `--r ${r} exceeds the largest meaningful rank of "${name}", min(in ${layer.inFeatures}, out ${layer.outFeatures}) = ${limit}: B·A cannot have a higher rank; use --r ${limit} or less`,
      );
    }
  }
}
