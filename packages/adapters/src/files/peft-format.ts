import {
  deserialize,
  firstNonFiniteIndex,
  fromFloat32,
  type RawTensor,
  serialize,
  toFloat32,
} from "@peftjs/io";
import type { LoraAdapter, LoraFactors } from "../adapter.js";
import { validateAdapter } from "../adapter.js";
import { parseLoraConfig, serializeLoraConfig } from "../config/lora-config.js";
import { AdapterFileError, AdapterNonFiniteError } from "../errors.js";
import { type Matrix, matrix } from "../math/matrix.js";

/** The file names of a PEFT adapter folder. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** The weights file of a PEFT adapter folder. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** PEFT's prefix of every saved LoRA key (`PeftModel.base_model.model`). */
export const PEFT_KEY_PREFIX = "base_model.model.";

/** The storage dtypes an adapter file may use. */
export type AdapterStorageDtype = "F32" | "F16" | "BF16";

/** The safetensors key PEFT uses for a module's factor, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function peftKey(moduleName: string, factor: "lora_A" | "lora_B"): string {
  return `${PEFT_KEY_PREFIX}${moduleName}.${factor}.weight`;
}

const keyPattern = /^base_model\.model\.(.+)\.(lora_A|lora_B)\.weight$/;

function toMatrix(key: string, raw: RawTensor): Matrix {
  if (raw.shape.length !== 2) {
    throw new AdapterFileError(
      `"${key}" has shape [${raw.shape.join(", ")}], expected a 2-D [rows, columns] tensor`,
    );
  }
  if (raw.dtype !== "F32" && raw.dtype !== "F16" && raw.dtype !== "BF16" && raw.dtype !== "F64") {
    throw new AdapterFileError(`"${key}" has dtype ${raw.dtype}; LoRA factors must be floating point`);
  }
  const values = toFloat32(raw);
  const nonFinite = firstNonFiniteIndex(values);
  if (nonFinite >= 0) {
    throw new AdapterNonFiniteError(
      key,
      `"${key}" holds ${values[nonFinite]} at index ${nonFinite}: an adapter with NaN or infinite factors would make every output of its module NaN`,
    );
  }
  return matrix(raw.shape[0] as number, raw.shape[1] as number, values);
}

/**
 * Builds an adapter from the parsed `adapter_config.json` object and the bytes of `adapter_model.safetensors`.
 * Every key must be a PEFT LoRA key (`base_model.model.<module>.lora_A|lora_B.weight`); anything else (DoRA
 * magnitudes, embeddings, modules_to_save copies) is refused with {@link AdapterFileError}, and a factor
 * holding NaN or ±Infinity with {@link AdapterNonFiniteError}.
 */
export function decodePeftAdapter(configJson: unknown, weights: Uint8Array): LoraAdapter {
  const { tensors, metadata } = deserialize(weights);
  return adapterFromPeftTensors(configJson, tensors, metadata);
}

/** {@link decodePeftAdapter} for tensors already read (e.g. by `readSafetensorsFile`). */
export function adapterFromPeftTensors(
  configJson: unknown,
  tensors: ReadonlyMap<string, RawTensor>,
  metadata: Readonly<Record<string, string>> | null,
): LoraAdapter {
  const config = parseLoraConfig(configJson);
  const partial = new Map<string, { loraA?: Matrix; loraB?: Matrix }>();
  for (const [key, raw] of tensors) {
    const match = keyPattern.exec(key);
    if (match === null) {
      throw new AdapterFileError(
        `"${key}" is not a PEFT LoRA key (expected base_model.model.<module>.lora_A.weight or .lora_B.weight)`,
      );
    }
    const [, moduleName, factor] = match as unknown as [string, string, "lora_A" | "lora_B"];
    const entry = partial.get(moduleName) ?? {};
    if (factor === "lora_A") entry.loraA = toMatrix(key, raw);
    else entry.loraB = toMatrix(key, raw);
    partial.set(moduleName, entry);
  }
  const modules = new Map<string, LoraFactors>();
  for (const [name, { loraA, loraB }] of partial) {
    if (loraA === undefined || loraB === undefined) {
      throw new AdapterFileError(
        `module "${name}" has ${loraA ? "lora_A" : "lora_B"} but no ${loraA ? "lora_B" : "lora_A"}`,
      );
    }
    modules.set(name, { loraA, loraB });
  }
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) if (key !== "format") kept[key] = value;
  const adapter: LoraAdapter = { config, modules, metadata: kept };
  validateAdapter(adapter);
  return adapter;
}

/** Options for {@link encodePeftAdapter}. */
export interface EncodePeftAdapterOptions {
  /** Storage dtype of the factors (default F32, as PEFT saves its float32 adapters). */
  dtype?: AdapterStorageDtype;
}

/** The two files of a PEFT adapter folder. */
export interface EncodedPeftAdapter {
  /** `adapter_config.json` text. */
  configText: string;
  /** `adapter_model.safetensors` bytes, metadata `{"format": "pt"}` plus the adapter's own entries. */
  weights: Uint8Array;
}

/** Writes an adapter as PEFT does: keys `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`, metadata format "pt". */
export function encodePeftAdapter(
  adapter: LoraAdapter,
  options: EncodePeftAdapterOptions = {},
): EncodedPeftAdapter {
  const { tensors, metadata } = adapterToPeftTensors(adapter, options);
  return { configText: serializeLoraConfig(adapter.config), weights: serialize(tensors, metadata) };
}

/** The safetensors entries and metadata PEFT would write for this adapter. */
export function adapterToPeftTensors(
  adapter: LoraAdapter,
  options: EncodePeftAdapterOptions = {},
): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  validateAdapter(adapter);
  const dtype = options.dtype ?? "F32";
  const tensors = new Map<string, RawTensor>();
  for (const [name, { loraA, loraB }] of adapter.modules) {
    tensors.set(peftKey(name, "lora_A"), {
      dtype,
      shape: [loraA.rows, loraA.columns],
      data: fromFloat32(loraA.data, dtype),
    });
    tensors.set(peftKey(name, "lora_B"), {
      dtype,
      shape: [loraB.rows, loraB.columns],
      data: fromFloat32(loraB.data, dtype),
    });
  }
  return { tensors, metadata: { ...adapter.metadata, format: "pt" } };
}
