import { type LoraAdapter, loraConfigToJson } from "@peftjs/adapters";
import type { GgufArchitecture } from "../architectures/architecture.js";
import { linearModuleNames } from "../architectures/linear-modules.js";
import { type DecoderConfig, readDecoderConfig } from "../architectures/model-config.js";
import { permuteRows } from "../architectures/query-key-permutation.js";
import { ggufArchitectureFor } from "../architectures/registry.js";
import { GgufAdapterMismatchError, GgufUnsupportedAdapterError } from "../errors.js";
import { GgufMetadataBuilder } from "../format/metadata.js";
import type { GgufContents, GgufTensorSource } from "../format/writer.js";
import { checkAdapterForOriginalBase } from "./runnable.js";
import { planLoraScales } from "./scale-plan.js";

/** Metadata keys peftjs adds to a GGUF LoRA so that importing it restores the PEFT adapter it came from. */
export const PEFTJS_ADAPTER_CONFIG_KEY = "peftjs.adapter_config";
/** The adapter's own safetensors metadata (its `peftjs.*` record), as JSON. */
export const PEFTJS_ADAPTER_METADATA_KEY = "peftjs.adapter_metadata";

/** Options of {@link exportAdapterToGguf}. */
export interface AdapterExportOptions {
  /** The base model's `config.json`: its `model_type` picks the layout, its head counts the q/k row order. */
  readonly config: Record<string, unknown>;
  /**
   * The shapes of the base model's tensors by checkpoint name (e.g. from a `CheckpointReader`); when given, every
   * module's factors are checked against its weight.
   */
  readonly baseShape?: (name: string) => readonly number[] | undefined;
  /** `general.name`. */
  readonly name?: string;
}

/** A GGUF LoRA ready to write, and what was done to fit llama.cpp's single alpha. */
export interface AdapterExport {
  /** The file's contents (write with `writeGgufFile`, `ggufToBlob` or `ggufToBytes`). */
  readonly contents: GgufContents;
  /** The `adapter.lora.alpha` written. */
  readonly alpha: number;
  /** Modules whose lora_B carries a folded scale factor, with the factor. */
  readonly folded: ReadonlyMap<string, number>;
}

function float32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/** Resolves each adapted module to its GGUF weight name, refusing modules llama.cpp cannot adapt. */
export function ggufModuleNames(
  adapter: Pick<LoraAdapter, "modules">,
  architecture: GgufArchitecture,
  config: DecoderConfig,
): Map<string, string> {
  const available = linearModuleNames(architecture, config);
  const names = new Map<string, string>();
  for (const module of adapter.modules.keys()) {
    const name = available.get(module);
    if (name !== undefined) {
      names.set(module, name);
      continue;
    }
    if (module === "lm_head" && config.tieWordEmbeddings) {
      throw new GgufUnsupportedAdapterError(
        "the adapter targets lm_head, which this model ties to the embedding; llama.cpp has no separate output tensor to attach it to",
        "Export the model with the adapter merged (peftjs export --format gguf --model M --adapter A), which gives the output projection its own weight",
      );
    }
    throw new GgufUnsupportedAdapterError(
      `module "${module}" is not a linear projection of this ${config.modelType} model that llama.cpp can adapt`,
      "Export the model with the adapter merged instead (peftjs export --format gguf --model M --adapter A)",
    );
  }
  return names;
}

/** Checks lora_A [r, in] and lora_B [out, r] against the module's weight [out, in]. */
export function checkFactorShapes(
  adapter: Pick<LoraAdapter, "modules">,
  baseShape: ((name: string) => readonly number[] | undefined) | undefined,
  config: DecoderConfig,
): void {
  for (const [module, { loraA, loraB }] of adapter.modules) {
    const weightName =
      module === "lm_head" && config.tieWordEmbeddings ? "model.embed_tokens.weight" : `${module}.weight`;
    const shape = baseShape?.(weightName);
    if (baseShape !== undefined && shape === undefined) {
      throw new GgufAdapterMismatchError(
        `the adapter has module "${module}" but the model has no tensor "${weightName}"`,
      );
    }
    if (shape !== undefined && (shape[0] !== loraB.rows || shape[1] !== loraA.columns)) {
      throw new GgufAdapterMismatchError(
        `module "${module}": lora_B [${loraB.rows}, ${loraB.columns}] · lora_A [${loraA.rows}, ${loraA.columns}] does not fit the weight [${shape.join(", ")}]`,
      );
    }
  }
}

/**
 * Writes a PEFT LoRA adapter as a GGUF LoRA for llama.cpp (`llama-cli --lora`, `llama_adapter_lora_init`,
 * wllama, node-llama-cpp): `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and per module
 * `<gguf weight>.lora_a` [r, in] and `.lora_b` [out, r] in float32. lora_B rows are permuted exactly where the
 * base weights are (q/k of Llama-family models); scales that the one alpha cannot express (rsLoRA with several
 * ranks, rank/alpha patterns) are folded into lora_B (see {@link planLoraScales}). The adapter's PEFT config and
 * record travel in `peftjs.*` metadata (llama.cpp ignores them), so importing the file gives the adapter back.
 * @throws GgufUnsupportedAdapterError for adapters llama.cpp cannot run (unconverted PiSSA/OLoRA, a tied lm_head,
 *   fan_in_fan_out), GgufAdapterMismatchError when the factors do not fit the base, GgufArchitectureError for an
 *   unsupported model
 */
export function exportAdapterToGguf(adapter: LoraAdapter, options: AdapterExportOptions): AdapterExport {
  checkAdapterForOriginalBase(adapter);
  if (adapter.config.fan_in_fan_out) {
    throw new GgufUnsupportedAdapterError(
      "fan_in_fan_out adapters belong to GPT-2-style Conv1D layers, which these architectures do not have",
      "Use an adapter trained on the Linear layers of this model",
    );
  }
  const config = readDecoderConfig(options.config);
  const architecture = ggufArchitectureFor(config.modelType);
  architecture.describe(config);
  const names = ggufModuleNames(adapter, architecture, config);
  checkFactorShapes(adapter, options.baseShape, config);
  const plan = planLoraScales(adapter);
  const metadata = new GgufMetadataBuilder()
    .string("general.architecture", architecture.ggufArchitecture)
    .string("general.type", "adapter");
  if (options.name !== undefined) metadata.string("general.name", options.name);
  metadata
    .string("adapter.type", "lora")
    .float32("adapter.lora.alpha", plan.alpha)
    .string(PEFTJS_ADAPTER_CONFIG_KEY, JSON.stringify(loraConfigToJson(adapter.config)))
    .string(PEFTJS_ADAPTER_METADATA_KEY, JSON.stringify(adapter.metadata));
  const tensors: GgufTensorSource[] = [];
  const folded = new Map<string, number>();
  for (const [module, { loraA, loraB }] of adapter.modules) {
    const name = names.get(module)!;
    const { fold } = plan.modules.get(module)!;
    let values = loraB.data;
    if (fold !== 1) {
      folded.set(module, fold);
      values = Float32Array.from(values, (value) => value * fold);
    }
    const permutation = architecture.outputRowPermutation(module, config);
    if (permutation !== undefined) values = permuteRows(values, loraB.columns, permutation);
    tensors.push({
      name: `${name}.lora_a`,
      type: "F32",
      shape: [loraA.rows, loraA.columns],
      data: float32Bytes(loraA.data),
    });
    tensors.push({
      name: `${name}.lora_b`,
      type: "F32",
      shape: [loraB.rows, loraB.columns],
      data: float32Bytes(values),
    });
  }
  return { contents: { metadata: metadata.build(), tensors }, alpha: plan.alpha, folded };
}
