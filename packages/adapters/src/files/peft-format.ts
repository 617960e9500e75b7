import {
  deserialize,
  firstNonFiniteIndex,
  fromFloat32,
  type RawTensor,
  serialize,
  toFloat32,
} from "@peftjs/io";
import type { HostTensor, LoraAdapter, LoraFactors } from "../adapter.js";
import { validateAdapter } from "../adapter.js";
import { parseLoraConfig, serializeLoraConfig } from "../config/lora-config.js";
import { AdapterFileError, AdapterNonFiniteError } from "../errors.js";
import { LORA_A, LORA_B, parsePeftKey, peftKey } from "../layer/parameter-keys.js";
import { type Matrix, matrix } from "../math/matrix.js";
import { knownParameterNames } from "../variants/registry.js";

/** The file names of a PEFT adapter folder. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** The weights file of a PEFT adapter folder. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** The storage dtypes an adapter file may use. */
export type AdapterStorageDtype = "F32" | "F16" | "BF16";

function toHostTensor(key: string, raw: RawTensor): HostTensor {
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
  return { shape: raw.shape, data: values };
}

function toMatrix(key: string, raw: RawTensor): Matrix {
  if (raw.shape.length !== 2) {
    throw new AdapterFileError(
      `"${key}" has shape [${raw.shape.join(", ")}], expected a 2-D [rows, columns] tensor`,
    );
  }
  return matrix(raw.shape[0] as number, raw.shape[1] as number, toHostTensor(key, raw).data);
}

/**
 * Builds an adapter from the parsed `adapter_config.json` object and the bytes of `adapter_model.safetensors`.
 * Every key must be a PEFT adapter key `base_model.model.<module>.<parameter>.weight` whose parameter is
 * `lora_A`, `lora_B` or an extra parameter of a registered LoRA variant; anything else (embeddings,
 * modules_to_save copies, parameters of unregistered variants) is refused with {@link AdapterFileError}, and a
 * tensor holding NaN or ±Infinity with {@link AdapterNonFiniteError}.
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
  const parameterNames = knownParameterNames();
  type Collected = { loraA?: Matrix; loraB?: Matrix; extras: Map<string, HostTensor> };
  const partial = new Map<string, Collected>();
  for (const [key, raw] of tensors) {
    const parsed = parsePeftKey(key, parameterNames);
    if (parsed === undefined) {
      throw new AdapterFileError(
        `"${key}" is not a PEFT LoRA key (expected base_model.model.<module>.<parameter>.weight with parameter ${parameterNames.join(", ")})`,
      );
    }
    const entry: Collected = partial.get(parsed.modulePath) ?? { extras: new Map() };
    if (parsed.parameter === LORA_A) entry.loraA = toMatrix(key, raw);
    else if (parsed.parameter === LORA_B) entry.loraB = toMatrix(key, raw);
    else entry.extras.set(parsed.parameter, toHostTensor(key, raw));
    partial.set(parsed.modulePath, entry);
  }
  const modules = new Map<string, LoraFactors>();
  for (const [name, { loraA, loraB, extras }] of partial) {
    if (loraA === undefined || loraB === undefined) {
      throw new AdapterFileError(
        `module "${name}" has ${loraA ? "lora_A" : "lora_B"} but no ${loraA ? "lora_B" : "lora_A"}`,
      );
    }
    modules.set(name, extras.size === 0 ? { loraA, loraB } : { loraA, loraB, extras });
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

/** Writes an adapter as PEFT does: keys `base_model.model.<module>.<parameter>.weight`, metadata format "pt". */
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
  for (const [name, { loraA, loraB, extras }] of adapter.modules) {
    tensors.set(peftKey(name, LORA_A), {
      dtype,
      shape: [loraA.rows, loraA.columns],
      data: fromFloat32(loraA.data, dtype),
    });
    tensors.set(peftKey(name, LORA_B), {
      dtype,
      shape: [loraB.rows, loraB.columns],
      data: fromFloat32(loraB.data, dtype),
    });
    for (const [parameter, value] of extras ?? []) {
      tensors.set(peftKey(name, parameter), {
        dtype,
        shape: [...value.shape],
        data: fromFloat32(value.data, dtype),
      });
    }
  }
  return { tensors, metadata: { ...adapter.metadata, format: "pt" } };
}
