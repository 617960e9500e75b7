import type { LoraAdapter } from "@peftjs/adapters";
import { moduleLoraSettings } from "@peftjs/adapters";
import { type Dtype, fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { checkFactorShapes, ggufModuleNames } from "../adapter/export-adapter.js";
import { checkAdapterForOriginalBase } from "../adapter/runnable.js";
import { readDecoderConfig } from "../architectures/model-config.js";
import { permuteRows } from "../architectures/query-key-permutation.js";
import { ggufArchitectureFor } from "../architectures/registry.js";
import { GgufArchitectureError } from "../errors.js";
import { GgufMetadataBuilder } from "../format/metadata.js";
import { type GgufTensorType, llamaFileTypes } from "../format/tensor-types.js";
import type { GgufContents, GgufTensorSource } from "../format/writer.js";
import { type GgufVocabulary, vocabularyMetadata } from "../tokenizer/vocabulary.js";

/** Lazy access to a checkpoint's tensors: a `CheckpointReader` of `@peftjs/io`, or anything with these members. */
export interface TensorSource {
  /** Tensor names, in file order. */
  readonly names: readonly string[];
  /** A tensor's dtype and shape, or undefined. */
  info(name: string): { readonly dtype: Dtype; readonly shape: readonly number[] } | undefined;
  /** Reads one tensor. */
  read(name: string): Promise<RawTensor>;
}

/** A tensor source over tensors already in memory. */
export function tensorMapSource(tensors: ReadonlyMap<string, RawTensor>): TensorSource {
  return {
    names: [...tensors.keys()],
    info: (name) => tensors.get(name),
    read: async (name) => tensors.get(name)!,
  };
}

/** An adapter merged into the exported weights, scaled by `weight` (default 1). */
export interface MergedAdapter {
  /** The adapter. */
  readonly adapter: LoraAdapter;
  /** Multiplies its delta s·B·A. */
  readonly weight?: number;
}

/** Options of {@link exportModelToGguf}. */
export interface ModelExportOptions {
  /** The model's `config.json`. */
  readonly config: Record<string, unknown>;
  /** Its weights (e.g. `openCheckpoint(folder)` of `@peftjs/io/node`). */
  readonly checkpoint: TensorSource;
  /** Its tokenizer as llama.cpp's vocabulary (`llama2cVocabulary`, `huggingFaceVocabulary`). */
  readonly vocabulary: GgufVocabulary;
  /** Storage type of the matrices (vectors and norms are always F32). Default: the checkpoint's float type. */
  readonly dtype?: GgufTensorType;
  /** Adapters to merge into the weights (W + Σ weight·s·B·A, in float64). */
  readonly adapters?: readonly MergedAdapter[];
  /** `general.name` (default: the config's `_name_or_path`, else the model type). */
  readonly name?: string;
}

/** A model ready to write. */
export interface ModelExport {
  /** The file's contents; tensors are read, merged and converted when the writer reaches them. */
  readonly contents: GgufContents;
  /** The matrix storage type used. */
  readonly dtype: GgufTensorType;
  /** Modules whose weights include an adapter delta. */
  readonly mergedModules: readonly string[];
  /** Where llama.cpp's graph differs from the Hugging Face model (from the architecture and the tokenizer). */
  readonly warnings: readonly string[];
}

/** The float type of the checkpoint's matrices: BF16 or F16 when all of them are, else F32. */
function checkpointFloatType(checkpoint: TensorSource): GgufTensorType {
  const types = new Set<string>();
  for (const name of checkpoint.names) {
    const info = checkpoint.info(name);
    if (info !== undefined && info.shape.length === 2) types.add(info.dtype);
  }
  if (types.size === 1 && (types.has("BF16") || types.has("F16"))) return [...types][0] as GgufTensorType;
  return "F32";
}

interface Delta {
  readonly loraA: { rows: number; columns: number; data: Float32Array };
  readonly loraB: { rows: number; columns: number; data: Float32Array };
  readonly coefficient: number;
}

/** W + Σ coefficient·B·A, accumulated in float64 (W [out, in], B [out, r], A [r, in]). */
function addDeltas(weight: Float64Array, deltas: readonly Delta[]): void {
  for (const { loraA, loraB, coefficient } of deltas) {
    const columns = loraA.columns;
    for (let row = 0; row < loraB.rows; row++) {
      const offset = row * columns;
      for (let rank = 0; rank < loraB.columns; rank++) {
        const factor = coefficient * (loraB.data[row * loraB.columns + rank] as number);
        if (factor === 0) continue;
        const aOffset = rank * columns;
        for (let column = 0; column < columns; column++) {
          weight[offset + column] =
            (weight[offset + column] as number) + factor * (loraA.data[aOffset + column] as number);
        }
      }
    }
  }
}

/**
 * Writes a Hugging Face checkpoint (optionally with LoRA adapters merged) as a llama.cpp model: the architecture's
 * tensor names, q/k row order, value changes and hyper-parameters, the tokenizer's vocabulary, matrices in
 * `dtype` (rounded to nearest even) and vectors in F32, as llama.cpp's converter stores them. Nothing is read
 * until the writer asks for a tensor.
 * @throws GgufArchitectureError for an unsupported model or missing tensors, GgufTokenizerError for a vocabulary
 *   that does not fit, GgufUnsupportedAdapterError / GgufAdapterMismatchError for adapters that cannot be merged
 */
export function exportModelToGguf(options: ModelExportOptions): ModelExport {
  const config = readDecoderConfig(options.config);
  const architecture = ggufArchitectureFor(config.modelType);
  const description = architecture.describe(config);
  const dtype = options.dtype ?? checkpointFloatType(options.checkpoint);
  const { checkpoint } = options;

  const deltas = new Map<string, Delta[]>();
  for (const { adapter, weight = 1 } of options.adapters ?? []) {
    checkAdapterForOriginalBase(adapter);
    ggufModuleNamesForMerge(adapter, config);
    checkFactorShapes(adapter, (name) => checkpoint.info(name)?.shape, config);
    for (const [module, factors] of adapter.modules) {
      const coefficient = weight * moduleLoraSettings(adapter.config, module).scaling;
      deltas.set(module, [...(deltas.get(module) ?? []), { ...factors, coefficient }]);
    }
  }

  const embedding = checkpoint.info("model.embed_tokens.weight");
  if (embedding === undefined)
    throw new GgufArchitectureError("the checkpoint has no model.embed_tokens.weight");
  if (embedding.shape[0] !== config.vocabSize) {
    throw new GgufArchitectureError(
      `model.embed_tokens.weight has ${embedding.shape[0]} rows but config.json vocab_size is ${config.vocabSize}`,
    );
  }

  const tensors: GgufTensorSource[] = architecture.extraTensors(config).map((tensor) => ({
    name: tensor.name,
    type: "F32",
    shape: tensor.shape,
    data: new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength),
  }));
  const produce = (
    sourceName: string,
    ggufName: string,
    module: string | undefined,
    shape: readonly number[],
  ) => {
    const isMatrix = shape.length === 2;
    const type: GgufTensorType = isMatrix ? dtype : "F32";
    const data = async () => {
      let values: Float64Array = Float64Array.from(toFloat32(await checkpoint.read(sourceName)));
      const moduleDeltas = module === undefined ? undefined : deltas.get(module);
      if (moduleDeltas !== undefined && isMatrix) addDeltas(values, moduleDeltas);
      values = architecture.adjustValues(sourceName, values, config);
      const permutation =
        module === undefined ? undefined : architecture.outputRowPermutation(module, config);
      if (permutation !== undefined)
        values = permuteRows(values, isMatrix ? (shape[1] as number) : 1, permutation);
      return fromFloat32(Float32Array.from(values), type);
    };
    tensors.push({ name: ggufName, type, shape, data });
  };
  for (const name of checkpoint.names) {
    const ggufName = architecture.tensorName(name);
    if (ggufName === null) continue;
    if (ggufName === undefined) {
      throw new GgufArchitectureError(
        `tensor "${name}" has no place in llama.cpp's ${architecture.ggufArchitecture} layout`,
      );
    }
    const info = checkpoint.info(name)!;
    const module = /^(.*)\.(weight|bias)$/.exec(name)?.[1];
    produce(name, ggufName, module, info.shape);
  }
  // An adapter on a tied lm_head gives the output projection its own merged weight (the embedding stays as is).
  if (
    deltas.has("lm_head") &&
    config.tieWordEmbeddings &&
    !tensors.some((tensor) => tensor.name === "output.weight")
  ) {
    produce("model.embed_tokens.weight", "output.weight", "lm_head", embedding.shape);
  }
  const written = new Set(tensors.map((tensor) => tensor.name));
  const missing = architecture.requiredTensors(config).filter((name) => !written.has(name));
  if (missing.length > 0) {
    throw new GgufArchitectureError(
      `the checkpoint lacks tensors llama.cpp's ${architecture.ggufArchitecture} needs: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` and ${missing.length - 5} more` : ""}`,
    );
  }

  const name =
    options.name ??
    (typeof config.json._name_or_path === "string" ? config.json._name_or_path : config.modelType);
  const metadata = new GgufMetadataBuilder()
    .string("general.architecture", architecture.ggufArchitecture)
    .string("general.type", "model")
    .string("general.name", name)
    .uint32("general.file_type", llamaFileTypes[dtype])
    .uint32("general.quantization_version", 2)
    .merge(description.metadata.build())
    .merge(vocabularyMetadata(options.vocabulary, config.vocabSize));
  return {
    contents: { metadata: metadata.build(), tensors },
    dtype,
    mergedModules: [...deltas.keys()],
    warnings: [...description.warnings, ...options.vocabulary.warnings],
  };
}

/** Merging accepts every linear module, including a tied lm_head (it becomes its own output weight). */
function ggufModuleNamesForMerge(adapter: LoraAdapter, config: ReturnType<typeof readDecoderConfig>): void {
  const withoutTiedHead = {
    modules: new Map(
      [...adapter.modules].filter(([module]) => !(module === "lm_head" && config.tieWordEmbeddings)),
    ),
  };
  ggufModuleNames(withoutTiedHead, ggufArchitectureFor(config.modelType), config);
}
