import {
  createLoraConfig,
  type LoraAdapter,
  type LoraConfig,
  type LoraFactors,
  parseLoraConfig,
  validateAdapter,
} from "@peftjs/adapters";
import { toFloat32 } from "@peftjs/io";
import { linearModuleNames } from "../architectures/linear-modules.js";
import { readDecoderConfig } from "../architectures/model-config.js";
import { invertPermutation, permuteRows } from "../architectures/query-key-permutation.js";
import { ggufArchitectureFor } from "../architectures/registry.js";
import { GgufAdapterMismatchError, GgufFormatError } from "../errors.js";
import { metadataNumber, metadataString } from "../format/metadata.js";
import type { GgufFile } from "../format/reader.js";
import { PEFTJS_ADAPTER_CONFIG_KEY, PEFTJS_ADAPTER_METADATA_KEY } from "./export-adapter.js";
import { planLoraScales } from "./scale-plan.js";

/** Options of {@link importAdapterFromGguf}. */
export interface AdapterImportOptions {
  /** The base model's `config.json` (the same model the LoRA was made for). */
  readonly config: Record<string, unknown>;
  /** `base_model_name_or_path` of the PEFT config written when the file carries none (e.g. the model folder). */
  readonly baseModelNameOrPath?: string;
}

/** The imported adapter and how it was recovered. */
export interface AdapterImport {
  /** The PEFT adapter. */
  readonly adapter: LoraAdapter;
  /**
   * True when the file carried the PEFT config peftjs writes (`peftjs.adapter_config`) and it matched the
   * tensors: config, record and factors are then the original ones. False for files from other tools: the config
   * is then derived (lora_alpha = the file's alpha, rank_pattern for odd ranks), giving the same s·B·A.
   */
  readonly restoredConfig: boolean;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A float32 `b` with `fl32(b · fold) === target` (the inverse of the export's fold), nearest to target / fold. */
function unfoldValue(target: number, fold: number, buffer: Float32Array, bits: Int32Array): number {
  buffer[0] = target / fold;
  const first = bits[0] as number;
  for (const step of [0, 1, -1, 2, -2]) {
    bits[0] = first + step;
    const candidate = buffer[0] as number;
    if (Math.fround(candidate * fold) === target) return candidate;
  }
  bits[0] = first;
  return buffer[0] as number;
}

function unfold(values: Float32Array, fold: number): Float32Array {
  if (fold === 1) return values;
  const buffer = new Float32Array(1);
  const bits = new Int32Array(buffer.buffer);
  return values.map((value) => unfoldValue(value, fold, buffer, bits));
}

function moduleSuffix(module: string): string {
  return module.replace(/^model\.layers\.\d+\./, "");
}

/** target_modules for exactly these modules: their suffixes when every layer has them, else a full-match regex. */
function targetModulesFor(modules: readonly string[], layerCount: number): string[] | string {
  const bySuffix = new Map<string, number>();
  for (const module of modules)
    bySuffix.set(moduleSuffix(module), (bySuffix.get(moduleSuffix(module)) ?? 0) + 1);
  const complete = [...bySuffix].every(([suffix, count]) => suffix === "lm_head" || count === layerCount);
  if (complete) return [...bySuffix.keys()].map((suffix) => suffix.split(".").at(-1)!);
  return `^(?:${modules.map(escapeRegex).join("|")})$`;
}

/** The most frequent value (first on ties). */
function mostCommon(values: readonly number[]): number {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  let best = values[0] ?? 0;
  for (const [value, count] of counts) if (count > (counts.get(best) ?? 0)) best = value;
  return best;
}

/** A plain LoRA config whose scaling is llama.cpp's per-tensor scale (α/r, or 1 when α is 0). */
function derivedConfig(
  alpha: number,
  ranks: ReadonlyMap<string, number>,
  layerCount: number,
  baseModelNameOrPath: string | undefined,
): LoraConfig {
  const r = mostCommon([...ranks.values()]);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const [module, rank] of ranks) {
    if (rank !== r) rankPattern[escapeRegex(module)] = rank;
    // α = 0 means scale 1 in llama.cpp: PEFT gets it from alpha = rank.
    if (alpha === 0 && rank !== r) alphaPattern[escapeRegex(module)] = rank;
  }
  return createLoraConfig({
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModelNameOrPath ?? null,
    inference_mode: true,
    r,
    lora_alpha: alpha === 0 ? r : alpha,
    target_modules: targetModulesFor([...ranks.keys()], layerCount),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
  });
}

function parseEmbedded(file: GgufFile): { config: LoraConfig; metadata: Record<string, string> } | undefined {
  const configText = metadataString(file.metadata, PEFTJS_ADAPTER_CONFIG_KEY);
  if (configText === undefined) return undefined;
  const metadataText = metadataString(file.metadata, PEFTJS_ADAPTER_METADATA_KEY) ?? "{}";
  try {
    const metadata = JSON.parse(metadataText) as unknown;
    if (
      typeof metadata !== "object" ||
      metadata === null ||
      Object.values(metadata).some((v) => typeof v !== "string")
    ) {
      throw new Error("not an object of strings");
    }
    return { config: parseLoraConfig(JSON.parse(configText)), metadata: metadata as Record<string, string> };
  } catch (error) {
    throw new GgufFormatError(
      `${PEFTJS_ADAPTER_CONFIG_KEY} / ${PEFTJS_ADAPTER_METADATA_KEY} cannot be read: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Reads a GGUF LoRA back into a PEFT adapter for the given base: undoes llama.cpp's lora_B row order and the
 * scale folding, so that s·B·A per module is what llama.cpp computes (and, for files written by peftjs, the
 * original adapter: config, record and factors; a folded lora_B is unfolded to the float32 value that folds back
 * to the file's bits, so import → export → import is exact).
 * @throws GgufFormatError when the file is not a GGUF LoRA, GgufAdapterMismatchError when it belongs to another
 *   architecture or has tensors the model does not
 */
export async function importAdapterFromGguf(
  file: GgufFile,
  options: AdapterImportOptions,
): Promise<AdapterImport> {
  const type = metadataString(file.metadata, "general.type");
  const adapterType = metadataString(file.metadata, "adapter.type");
  if (type !== "adapter" || adapterType !== "lora") {
    throw new GgufFormatError(
      `not a GGUF LoRA: general.type is ${JSON.stringify(type)}, adapter.type ${JSON.stringify(adapterType)}`,
    );
  }
  const config = readDecoderConfig(options.config);
  const architecture = ggufArchitectureFor(config.modelType);
  const fileArchitecture = metadataString(file.metadata, "general.architecture");
  if (fileArchitecture !== architecture.ggufArchitecture) {
    throw new GgufAdapterMismatchError(
      `the LoRA is for architecture ${JSON.stringify(fileArchitecture)}, the model (${config.modelType}) is ${architecture.ggufArchitecture}`,
    );
  }
  const alpha = metadataNumber(file.metadata, "adapter.lora.alpha") ?? 0;
  const moduleByGguf = new Map(
    [...linearModuleNames(architecture, config)].map(([module, name]) => [name, module]),
  );
  const pairs = new Map<string, { a?: string; b?: string }>();
  for (const tensor of file.tensors) {
    const match = /^(.*)\.lora_(a|b)$/.exec(tensor.name);
    if (match === null) {
      if (tensor.name.endsWith("_norm.weight")) continue; // llama.cpp skips these too
      throw new GgufFormatError(`tensor "${tensor.name}" is neither a .lora_a nor a .lora_b`);
    }
    const [, base, factor] = match as unknown as [string, string, "a" | "b"];
    const pair = pairs.get(base) ?? {};
    pair[factor] = tensor.name;
    pairs.set(base, pair);
  }
  const modules = new Map<string, LoraFactors>();
  const ranks = new Map<string, number>();
  for (const [base, pair] of pairs) {
    const module = moduleByGguf.get(base);
    if (module === undefined) {
      throw new GgufAdapterMismatchError(
        `the LoRA adapts "${base}", which this ${config.modelType} model does not have as a linear weight`,
      );
    }
    if (pair.a === undefined || pair.b === undefined) {
      throw new GgufFormatError(
        `"${base}" has ${pair.a === undefined ? "lora_b" : "lora_a"} but not its partner`,
      );
    }
    const a = await file.readTensor(pair.a);
    const b = await file.readTensor(pair.b);
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== b.shape[1]) {
      throw new GgufFormatError(
        `"${base}": lora_a [${a.shape.join(", ")}] and lora_b [${b.shape.join(", ")}] do not pair up`,
      );
    }
    const [rank, inFeatures] = a.shape as [number, number];
    const outFeatures = b.shape[0] as number;
    let bValues = toFloat32(b);
    const permutation = architecture.outputRowPermutation(module, config);
    if (permutation !== undefined) bValues = permuteRows(bValues, rank, invertPermutation(permutation));
    modules.set(module, {
      loraA: { rows: rank, columns: inFeatures, data: toFloat32(a) },
      loraB: { rows: outFeatures, columns: rank, data: bValues },
    });
    ranks.set(module, rank);
  }
  const embedded = parseEmbedded(file);
  if (embedded !== undefined) {
    const restored = restoreEmbedded(embedded, modules, alpha);
    if (restored !== undefined) return { adapter: restored, restoredConfig: true };
  }
  const adapter: LoraAdapter = {
    config: derivedConfig(alpha, ranks, config.layerCount, options.baseModelNameOrPath),
    modules,
    metadata: {},
  };
  validateAdapter(adapter);
  return { adapter, restoredConfig: false };
}

/**
 * The original adapter from the embedded PEFT config: valid when that config gives the file's tensors their ranks
 * and leads to the file's alpha; lora_B is then unfolded with the same plan the export used.
 */
function restoreEmbedded(
  embedded: { config: LoraConfig; metadata: Record<string, string> },
  modules: ReadonlyMap<string, LoraFactors>,
  alpha: number,
): LoraAdapter | undefined {
  const candidate: LoraAdapter = { config: embedded.config, modules, metadata: embedded.metadata };
  try {
    validateAdapter(candidate);
  } catch {
    return undefined; // the embedded config does not describe these tensors (an edited file)
  }
  const plan = planLoraScales(candidate);
  if (plan.alpha !== Math.fround(alpha)) return undefined;
  const restored = new Map<string, LoraFactors>();
  for (const [module, factors] of modules) {
    const { fold } = plan.modules.get(module)!;
    restored.set(module, {
      loraA: factors.loraA,
      loraB: { ...factors.loraB, data: unfold(factors.loraB.data, fold) },
    });
  }
  return { ...candidate, modules: restored };
}
