import {
  deserialize,
  firstNonFiniteIndex,
  fromFloat32,
  type RawTensor,
  serialize,
  toFloat32,
} from "@peftjs/io";
import type { HostTensor, LoraAdapter, LoraFactors, TrainableTokenRows } from "../adapter.js";
import { validateAdapter } from "../adapter.js";
import { type LoraConfig, parseLoraConfig, serializeLoraConfig } from "../config/lora-config.js";
import { AdapterFileError, AdapterNonFiniteError } from "../errors.js";
import {
  copiedParameter,
  copiedParameterName,
  LORA_A,
  LORA_B,
  LORA_EMBEDDING_A,
  LORA_EMBEDDING_B,
  PEFT_KEY_PREFIX,
  parsePeftBiasKey,
  parsePeftKey,
  peftBiasKey,
  peftKey,
  TRAINABLE_TOKENS_DELTA,
} from "../layer/parameter-keys.js";
import { type Matrix, matrix } from "../math/matrix.js";
import { knownParameterNames, listLoraVariants, loraVariantFor } from "../variants/registry.js";

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
 * Whether `modules_to_save` names the module `modulePath`: as PEFT's `_set_trainable`, an entry matches every
 * module whose name ends with it (a plain string suffix: `"norm"` matches `model.norm` and every
 * `…input_layernorm`).
 */
export function isModuleToSave(config: LoraConfig, modulePath: string): boolean {
  return (config.modules_to_save ?? []).some((entry) => modulePath.endsWith(entry));
}

/**
 * The token ids `trainable_token_indices` gives the embedding `modulePath`: the list itself, or the entry of the
 * object whose key is the module's name or a `.`-suffix of it; undefined when the config names none.
 */
export function tokenIndicesFor(config: LoraConfig, modulePath: string): readonly number[] | undefined {
  const indices = config.trainable_token_indices;
  if (indices === null) return undefined;
  if (Array.isArray(indices)) return indices;
  const key = Object.keys(indices).find((entry) => modulePath === entry || modulePath.endsWith(`.${entry}`));
  return key === undefined ? undefined : indices[key];
}

/**
 * Builds an adapter from the parsed `adapter_config.json` object and the bytes of `adapter_model.safetensors`.
 * Every key must be a PEFT adapter key: `base_model.model.<module>.<parameter>.weight` whose parameter is
 * `lora_A`, `lora_B` or an extra parameter of a registered LoRA variant, `….lora_embedding_A` /
 * `….lora_embedding_B` (LoRA on an embedding), or `….token_adapter.trainable_tokens_delta`
 * (`trainable_token_indices`), or `<module>.weight` / `<module>.bias` of a module `modules_to_save` names (its
 * trained copy); anything else (full embeddings, modules_to_save copies, parameters of
 * unregistered variants) is refused with {@link AdapterFileError}, and a tensor holding NaN or ±Infinity with
 * {@link AdapterNonFiniteError}.
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
  const parameterNames = [
    ...knownParameterNames(),
    LORA_EMBEDDING_A,
    LORA_EMBEDDING_B,
    TRAINABLE_TOKENS_DELTA,
  ];
  type Collected = { loraA?: Matrix; loraB?: Matrix; embedding: boolean; extras: Map<string, HostTensor> };
  const partial = new Map<string, Collected>();
  const trainableTokens = new Map<string, TrainableTokenRows>();
  const modulesToSave = new Map<string, Map<string, HostTensor>>();
  const copied = [copiedParameterName("weight"), copiedParameterName("bias")];
  const savedEmbeddings = new Map<string, HostTensor>();
  const embeddingModules = new Set(
    [...tensors.keys()].flatMap((key) => {
      const parsed = parsePeftKey(key, [LORA_EMBEDDING_A]);
      return parsed === undefined ? [] : [parsed.modulePath];
    }),
  );
  const biases = new Map<string, HostTensor>();
  for (const [key, raw] of tensors) {
    // PEFT's save_embedding_layers: the full base embedding of a LoRA-targeted embedding, `<module>.base_layer.weight`
    const savedModule = key.endsWith(".base_layer.weight")
      ? key.slice(PEFT_KEY_PREFIX.length, -".base_layer.weight".length)
      : undefined;
    if (key.startsWith(PEFT_KEY_PREFIX) && savedModule !== undefined && embeddingModules.has(savedModule)) {
      savedEmbeddings.set(savedModule, toHostTensor(key, raw));
      continue;
    }
    const copy = parsePeftKey(key, parameterNames) === undefined ? parsePeftKey(key, copied) : undefined;
    if (copy !== undefined && isModuleToSave(config, copy.modulePath)) {
      const entry = modulesToSave.get(copy.modulePath) ?? new Map<string, HostTensor>();
      entry.set(copiedParameter(copy.parameter), toHostTensor(key, raw));
      modulesToSave.set(copy.modulePath, entry);
      continue;
    }
    const parsed = parsePeftKey(key, parameterNames);
    const bias = parsed === undefined ? parsePeftBiasKey(key) : undefined;
    if (bias !== undefined) {
      if (config.bias === "none") {
        throw new AdapterFileError(
          `"${key}" is a layer bias, but the config says bias "none" (PEFT saves biases only for "lora_only" and "all")`,
        );
      }
      if (raw.shape.length !== 1) {
        throw new AdapterFileError(`"${key}" has shape [${raw.shape.join(", ")}], a bias must be 1-D`);
      }
      biases.set(bias.modulePath, toHostTensor(key, raw));
      continue;
    }
    if (parsed === undefined) {
      throw new AdapterFileError(
        `"${key}" is not a PEFT LoRA key (expected base_model.model.<module>.<parameter>.weight with parameter ${knownParameterNames().join(", ")}, or …${LORA_EMBEDDING_A}, …${LORA_EMBEDDING_B}, …${TRAINABLE_TOKENS_DELTA})`,
      );
    }
    if (parsed.parameter === TRAINABLE_TOKENS_DELTA) {
      const indices = tokenIndicesFor(config, parsed.modulePath);
      if (indices === undefined) {
        throw new AdapterFileError(
          `"${key}" holds trainable token rows, but the config's trainable_token_indices ${JSON.stringify(config.trainable_token_indices)} names no ids for "${parsed.modulePath}"`,
        );
      }
      trainableTokens.set(parsed.modulePath, { indices, rows: toMatrix(key, raw) });
      continue;
    }
    const entry: Collected = partial.get(parsed.modulePath) ?? { embedding: false, extras: new Map() };
    const embeddingKey = parsed.parameter === LORA_EMBEDDING_A || parsed.parameter === LORA_EMBEDDING_B;
    if (partial.has(parsed.modulePath) && entry.embedding !== embeddingKey) {
      throw new AdapterFileError(
        `module "${parsed.modulePath}" mixes Linear LoRA keys (lora_A/lora_B) with embedding keys (lora_embedding_A/B)`,
      );
    }
    entry.embedding = embeddingKey;
    if (parsed.parameter === LORA_A || parsed.parameter === LORA_EMBEDDING_A)
      entry.loraA = toMatrix(key, raw);
    else if (parsed.parameter === LORA_B || parsed.parameter === LORA_EMBEDDING_B)
      entry.loraB = toMatrix(key, raw);
    else entry.extras.set(parsed.parameter, toHostTensor(key, raw));
    partial.set(parsed.modulePath, entry);
  }
  const variant = loraVariantFor(config);
  const modules = new Map<string, LoraFactors>();
  for (const [name, { loraA, loraB, embedding, extras }] of partial) {
    const [nameA, nameB] = embedding ? [LORA_EMBEDDING_A, LORA_EMBEDDING_B] : [LORA_A, LORA_B];
    const unused = [...extras.keys()].filter((parameter) => !variant.extraParameters.includes(parameter));
    if (unused.length > 0) {
      const selecting = listLoraVariants().find((candidate) =>
        candidate.extraParameters.includes(unused[0]!),
      );
      throw new AdapterFileError(
        `module "${name}" has ${unused.join(", ")}, a parameter of the ${selecting?.name} variant, but the config selects ${variant.name}${selecting?.configField ? ` (${selecting.configField} is not set)` : ""}`,
      );
    }
    if (loraA === undefined || loraB === undefined) {
      throw new AdapterFileError(
        `module "${name}" has ${loraA ? nameA : nameB} but no ${loraA ? nameB : nameA}`,
      );
    }
    const factors: LoraFactors = embedding ? { loraA, loraB, kind: "embedding" } : { loraA, loraB };
    modules.set(name, extras.size === 0 ? factors : { ...factors, extras });
  }
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) if (key !== "format") kept[key] = value;
  const adapter: LoraAdapter = {
    config,
    modules,
    ...(trainableTokens.size === 0 ? {} : { trainableTokens }),
    ...(modulesToSave.size === 0 ? {} : { modulesToSave }),
    ...(savedEmbeddings.size === 0 ? {} : { savedEmbeddings }),
    ...(biases.size === 0 ? {} : { biases }),
    metadata: kept,
  };
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

/**
 * Writes an adapter as PEFT does: keys `base_model.model.<module>.<parameter>.weight` (DoRA's magnitude without
 * `.weight`), trained biases under `….base_layer.bias` / `….bias`, metadata format "pt".
 */
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
  for (const [name, { loraA, loraB, extras, kind }] of adapter.modules) {
    const embedding = kind === "embedding";
    tensors.set(peftKey(name, embedding ? LORA_EMBEDDING_A : LORA_A), {
      dtype,
      shape: [loraA.rows, loraA.columns],
      data: fromFloat32(loraA.data, dtype),
    });
    tensors.set(peftKey(name, embedding ? LORA_EMBEDDING_B : LORA_B), {
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
  for (const [name, parameters] of adapter.modulesToSave ?? []) {
    for (const [local, value] of parameters) {
      tensors.set(peftKey(name, copiedParameterName(local)), {
        dtype,
        shape: [...value.shape],
        data: fromFloat32(value.data, dtype),
      });
    }
  }
  for (const [name, { rows }] of adapter.trainableTokens ?? []) {
    tensors.set(peftKey(name, TRAINABLE_TOKENS_DELTA), {
      dtype,
      shape: [rows.rows, rows.columns],
      data: fromFloat32(rows.data, dtype),
    });
  }
  for (const [module, bias] of adapter.biases ?? []) {
    tensors.set(peftBiasKey(module, adapter.modules.has(module)), {
      dtype,
      shape: [...bias.shape],
      data: fromFloat32(bias.data, dtype),
    });
  }
  return { tensors, metadata: { ...adapter.metadata, format: "pt" } };
}
