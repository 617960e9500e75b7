import { GgufArchitectureError } from "../errors.js";
import { GgufMetadataBuilder } from "../format/metadata.js";
import type { DecoderConfig, RopeParameters } from "./model-config.js";
import { queryKeyRowPermutation } from "./query-key-permutation.js";

/** A tensor llama.cpp needs that a Hugging Face checkpoint does not store (e.g. Llama 3's `rope_freqs`). */
export interface GeneratedTensor {
  /** The GGUF tensor name. */
  readonly name: string;
  /** Its shape, outermost first. */
  readonly shape: readonly number[];
  /** Its values (always stored as F32). */
  readonly values: Float32Array;
}

/** What an architecture's hyper-parameters become in GGUF. */
export interface ArchitectureDescription {
  /** The `<arch>.*` metadata (block count, head counts, RoPE, sliding window, …). */
  readonly metadata: GgufMetadataBuilder;
  /**
   * Behaviours of the Hugging Face model that llama.cpp's graph for this architecture leaves out; the file is
   * still written (as llama.cpp's own converter writes it) and these sentences say where it differs.
   */
  readonly warnings: readonly string[];
}

/**
 * One entry of the architecture table: how a Hugging Face `model_type` is laid out for llama.cpp. Everything
 * that differs between architectures (names, permutations, value changes, hyper-parameters) is here, so the
 * model and adapter exporters are architecture-agnostic.
 */
export interface GgufArchitecture {
  /** The Hugging Face `model_type`, e.g. `"qwen2"`. */
  readonly modelType: string;
  /** llama.cpp's `general.architecture`, e.g. `"llama"` (Mistral is written as llama, as llama.cpp does). */
  readonly ggufArchitecture: string;
  /** Checks that llama.cpp can run this config and gives its metadata. @throws GgufArchitectureError */
  describe(config: DecoderConfig): ArchitectureDescription;
  /**
   * The GGUF name of a checkpoint tensor (`model.layers.0.self_attn.q_proj.weight` → `blk.0.attn_q.weight`);
   * null for tensors llama.cpp does not use and that are safe to leave out (`rotary_emb.inv_freq`); undefined
   * for a tensor this architecture does not know.
   */
  tensorName(name: string): string | null | undefined;
  /**
   * The GGUF output-row order of a module (`model.layers.0.self_attn.q_proj`): applied to its weight, its
   * bias and a LoRA's lora_B alike. Undefined when the rows keep their order.
   */
  outputRowPermutation(moduleName: string, config: DecoderConfig): Int32Array | undefined;
  /**
   * Changes the values of a (non-LoRA) tensor beyond row order: Gemma's `1 + w` norm weights, folded
   * attention scales. Returns the values unchanged when there is nothing to do.
   */
  adjustValues(name: string, values: Float64Array, config: DecoderConfig): Float64Array;
  /** Tensors to add (e.g. `rope_freqs.weight`). */
  extraTensors(config: DecoderConfig): GeneratedTensor[];
  /** The GGUF names every model of this config must have (a missing one is an error before writing). */
  requiredTensors(config: DecoderConfig): string[];
}

/** Names shared by the decoder layouts: checkpoint suffix of a layer tensor → GGUF suffix. */
export const commonLayerTensors: Readonly<Record<string, string>> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_proj.bias": "attn_q.bias",
  "self_attn.k_proj.bias": "attn_k.bias",
  "self_attn.v_proj.bias": "attn_v.bias",
  "self_attn.o_proj.bias": "attn_output.bias",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
  "mlp.gate_proj.bias": "ffn_gate.bias",
  "mlp.up_proj.bias": "ffn_up.bias",
  "mlp.down_proj.bias": "ffn_down.bias",
};

const layerPattern = /^model\.layers\.(\d+)\.(.+)$/;
const ignoredSuffixes = ["rotary_emb.inv_freq"];

/**
 * A tensor-name mapper over `commonLayerTensors` plus an architecture's own layer tensors: embedding, final
 * norm, output projection and `model.layers.N.<suffix>` → `blk.N.<gguf suffix>`.
 */
export function decoderTensorNames(
  layerTensors: Readonly<Record<string, string>>,
): (name: string) => string | null | undefined {
  return (name) => {
    if (name === "model.embed_tokens.weight") return "token_embd.weight";
    if (name === "model.norm.weight") return "output_norm.weight";
    if (name === "lm_head.weight") return "output.weight";
    if (ignoredSuffixes.some((suffix) => name.endsWith(suffix))) return null;
    const match = layerPattern.exec(name);
    if (match === null) return undefined;
    const [, layer, suffix] = match as unknown as [string, string, string];
    const mapped = layerTensors[suffix] ?? commonLayerTensors[suffix];
    return mapped === undefined ? undefined : `blk.${layer}.${mapped}`;
  };
}

/** The GGUF names of the tensors a layer always has, for the given layer suffixes. */
export function requiredLayerTensors(config: DecoderConfig, suffixes: readonly string[]): string[] {
  const names = ["token_embd.weight", "output_norm.weight"];
  if (!config.tieWordEmbeddings) names.push("output.weight");
  for (let layer = 0; layer < config.layerCount; layer++) {
    for (const suffix of suffixes) names.push(`blk.${layer}.${suffix}`);
  }
  return names;
}

const queryKeyModule = /^model\.layers\.\d+\.self_attn\.(q|k)_proj$/;

/**
 * The output-row permutation of Llama-family ("normal" RoPE) architectures: q_proj rows per attention head,
 * k_proj rows per key/value head, nothing else.
 */
export function llamaQueryKeyPermutation(moduleName: string, config: DecoderConfig): Int32Array | undefined {
  const match = queryKeyModule.exec(moduleName);
  if (match === null) return undefined;
  const heads = match[1] === "q" ? config.headCount : config.keyValueHeadCount;
  return queryKeyRowPermutation(heads, config.headDimension);
}

/**
 * The hyper-parameters every decoder writes (llama.cpp's `TextModel.set_gguf_parameters`): context length,
 * embedding and feed-forward sizes, block and head counts, RMS epsilon, RoPE θ and dimension, key/value
 * lengths, vocabulary size; and the RoPE scaling types llama.cpp has keys for (`linear`, `yarn`). Other RoPE
 * types are refused unless the architecture handles them (`handledRopeTypes`).
 */
export function decoderHyperParameters(
  architecture: string,
  config: DecoderConfig,
  handledRopeTypes: readonly string[] = [],
): GgufMetadataBuilder {
  if (config.headDimension % 2 !== 0) {
    throw new GgufArchitectureError(`head dimension ${config.headDimension} is odd; RoPE rotates pairs`);
  }
  const metadata = new GgufMetadataBuilder()
    .uint32(`${architecture}.context_length`, config.contextLength)
    .uint32(`${architecture}.embedding_length`, config.hiddenSize)
    .uint32(`${architecture}.feed_forward_length`, config.intermediateSize)
    .uint32(`${architecture}.block_count`, config.layerCount)
    .uint32(`${architecture}.attention.head_count`, config.headCount)
    .uint32(`${architecture}.attention.head_count_kv`, config.keyValueHeadCount)
    .float32(`${architecture}.attention.layer_norm_rms_epsilon`, config.rmsNormEpsilon)
    .float32(`${architecture}.rope.freq_base`, config.rope.theta)
    .uint32(`${architecture}.rope.dimension_count`, config.headDimension)
    .uint32(`${architecture}.attention.key_length`, config.headDimension)
    .uint32(`${architecture}.attention.value_length`, config.headDimension)
    .uint32(`${architecture}.vocab_size`, config.vocabSize);
  addRopeScaling(metadata, architecture, config.rope, handledRopeTypes);
  return metadata;
}

function ropeNumber(rope: RopeParameters, field: string): number {
  const value = rope.fields[field];
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new GgufArchitectureError(
      `config.json rope_parameters.${field} must be a positive number for rope_type "${rope.type}", got ${String(value)}`,
    );
  }
  return value;
}

function addRopeScaling(
  metadata: GgufMetadataBuilder,
  architecture: string,
  rope: RopeParameters,
  handledRopeTypes: readonly string[],
): void {
  if (rope.type === "default" || handledRopeTypes.includes(rope.type)) return;
  if (rope.type === "linear") {
    metadata
      .string(`${architecture}.rope.scaling.type`, "linear")
      .float32(`${architecture}.rope.scaling.factor`, ropeNumber(rope, "factor"));
    return;
  }
  if (rope.type === "yarn") {
    metadata
      .string(`${architecture}.rope.scaling.type`, "yarn")
      .float32(`${architecture}.rope.scaling.factor`, ropeNumber(rope, "factor"))
      .uint32(
        `${architecture}.rope.scaling.original_context_length`,
        ropeNumber(rope, "original_max_position_embeddings"),
      );
    const optional: Record<string, string> = {
      extrapolation_factor: "yarn_ext_factor",
      attention_factor: "yarn_attn_factor",
      beta_fast: "yarn_beta_fast",
      beta_slow: "yarn_beta_slow",
    };
    for (const [field, key] of Object.entries(optional)) {
      if (rope.fields[field] !== undefined && rope.fields[field] !== null) {
        metadata.float32(`${architecture}.rope.scaling.${key}`, ropeNumber(rope, field));
      }
    }
    return;
  }
  throw new GgufArchitectureError(
    `RoPE type "${rope.type}" has no llama.cpp equivalent for ${architecture}; supported: default, linear, yarn${handledRopeTypes.map((type) => `, ${type}`).join("")}`,
  );
}
