import {
  type Activation,
  activationByName,
  type Embedding,
  Linear,
  type LinearLike,
  Module,
  ModuleList,
  type RMSNorm,
} from "@peftjs/nn";
import type { WeightStoreOptions } from "@peftjs/state";
import { add, applyRotaryEmbedding, mul, swiGlu, type Tensor } from "@peftjs/tensor";
import { CausalLM, type DecoderInput } from "../causal-lm.js";
import {
  booleanField,
  type CausalLMConfig,
  parseCausalLMConfig,
  positiveInteger,
  positiveNumber,
} from "../config/parse.js";
import { ModelConfigError } from "../errors.js";
import type { KeyValueCache } from "../generation/kv-cache.js";
import { type AttentionMask, attentionMask, groupedQueryAttention, splitHeads } from "../layers/attention.js";
import { parseRopeParameters, type RopeParameters } from "../layers/rope-parameters.js";
import { RotaryEmbedding } from "../layers/rope-scaling.js";
import type { CheckpointWeights } from "../loading/checkpoint-weights.js";
import type { Architecture } from "./architecture.js";

// Llama (transformers' `modeling_llama.py`, eager attention, float32): RMSNorm, rotate-half RoPE,
// grouped-query attention, a gated MLP, optional biases and tied embeddings.

/** A Llama configuration, parsed from a Hugging Face `config.json` (`LlamaConfig`). */
export interface LlamaConfig extends CausalLMConfig {
  /** Model width (`hidden_size`). */
  readonly hiddenSize: number;
  /** Width of the gated MLP (`intermediate_size`). */
  readonly intermediateSize: number;
  /** Number of query heads (`num_attention_heads`). */
  readonly numAttentionHeads: number;
  /** Number of key/value heads (`num_key_value_heads`, default `num_attention_heads`). */
  readonly numKeyValueHeads: number;
  /** Width of one head (`head_dim`, default `hidden_size / num_attention_heads`). */
  readonly headDim: number;
  /** Epsilon of every RMSNorm (`rms_norm_eps`, default 1e-6 as transformers). */
  readonly rmsNormEps: number;
  /** RoPE base (`rope_parameters.rope_theta` or top-level `rope_theta`, default 10000). */
  readonly ropeTheta: number;
  /** The rotary embedding's type and scaling (`rope_parameters`, or the older `rope_theta`/`rope_scaling`). */
  readonly rope: RopeParameters;
  /** The MLP activation's name (`hidden_act`, default `"silu"`). */
  readonly hiddenAct: string;
  /** Whether q/k/v/o projections have biases (`attention_bias`, default false). */
  readonly attentionBias: boolean;
  /** Whether the MLP projections have biases (`mlp_bias`, default false). */
  readonly mlpBias: boolean;
}

/**
 * Parses a Llama-family `config.json` object; `modelType` lets a derived architecture (Mistral) reuse it.
 *
 * @throws ModelConfigError for a missing or invalid field or another `model_type`; UnsupportedRopeTypeError
 *   for a RoPE type other than default/linear/dynamic/llama3/yarn; UnsupportedModelOptionError for a RoPE
 *   option that type does not read; UnsupportedActivationError for a `hidden_act` that `@peftjs/nn` does not implement.
 */
export function parseLlamaConfig(json: unknown, modelType = "llama"): LlamaConfig {
  const base = parseCausalLMConfig(json, modelType);
  const raw = base.raw;
  const hiddenSize = positiveInteger(raw, "hidden_size");
  const numAttentionHeads = positiveInteger(raw, "num_attention_heads");
  const numKeyValueHeads = positiveInteger(raw, "num_key_value_heads", numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new ModelConfigError(
      `num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`,
    );
  }
  if (raw.head_dim === undefined && hiddenSize % numAttentionHeads !== 0) {
    throw new ModelConfigError(
      `hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numAttentionHeads} and head_dim is not given`,
    );
  }
  const headDim = positiveInteger(raw, "head_dim", hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) throw new ModelConfigError(`head_dim ${headDim} must be even for rotary embeddings`);
  const hiddenAct = raw.hidden_act ?? "silu";
  if (typeof hiddenAct !== "string") {
    throw new ModelConfigError(`config.json "hidden_act" must be a string, got ${JSON.stringify(hiddenAct)}`);
  }
  activationByName(hiddenAct);
  const rope = parseRopeParameters(raw);
  return {
    ...base,
    hiddenSize,
    intermediateSize: positiveInteger(raw, "intermediate_size"),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: raw.rms_norm_eps === undefined ? 1e-6 : positiveNumber(raw.rms_norm_eps, "rms_norm_eps"),
    ropeTheta: rope.ropeTheta,
    rope,
    hiddenAct,
    attentionBias: booleanField(raw, "attention_bias", false),
    mlpBias: booleanField(raw, "mlp_bias", false),
  };
}

/** What one decoder layer needs besides its input: positions, mask, cache. */
export interface LayerContext {
  /** RoPE cosine table of the new positions, `[T, headDim]`. */
  readonly cos: Tensor;
  /** RoPE sine table of the new positions, `[T, headDim]`. */
  readonly sin: Tensor;
  /** This layer's attention mask: `"causal"`, or an additive `[T, start + T]` one for a sliding window. */
  readonly mask: AttentionMask;
  /** The cache, if decoding incrementally. */
  readonly cache: KeyValueCache | undefined;
  /** Index of the layer (its slot in the cache). */
  readonly layerIndex: number;
  /** B. */
  readonly batchSize: number;
  /** T, the number of new positions. */
  readonly length: number;
}

/** Which attention projections have biases (Llama: all four or none, by `attention_bias`). */
export interface AttentionBiases {
  /** q_proj, k_proj, v_proj. */
  readonly queryKeyValue: boolean;
  /** o_proj. */
  readonly output: boolean;
}

/** `self_attn`: grouped-query attention with RoPE on queries and keys. */
export class LlamaAttention extends Module {
  q_proj: LinearLike;
  k_proj: LinearLike;
  v_proj: LinearLike;
  o_proj: LinearLike;
  readonly #config: LlamaConfig;

  constructor(
    config: LlamaConfig,
    weights: CheckpointWeights,
    path: string,
    biases: AttentionBiases = { queryKeyValue: config.attentionBias, output: config.attentionBias },
  ) {
    super();
    const { hiddenSize, numAttentionHeads, numKeyValueHeads, headDim } = config;
    const { queryKeyValue, output } = biases;
    this.q_proj = weights.linear(`${path}.q_proj`, hiddenSize, numAttentionHeads * headDim, queryKeyValue);
    this.k_proj = weights.linear(`${path}.k_proj`, hiddenSize, numKeyValueHeads * headDim, queryKeyValue);
    this.v_proj = weights.linear(`${path}.v_proj`, hiddenSize, numKeyValueHeads * headDim, queryKeyValue);
    this.o_proj = weights.linear(`${path}.o_proj`, numAttentionHeads * headDim, hiddenSize, output);
    this.#config = config;
  }

  /**
   * Hook between the head split and RoPE, `[B·heads, T, d]` → same shape; identity here. Qwen3 normalises
   * each query and key head (q_norm/k_norm).
   */
  protected normalizeQueries(queries: Tensor): Tensor {
    return queries;
  }

  /** Like {@link LlamaAttention.normalizeQueries}, for the keys. */
  protected normalizeKeys(keys: Tensor): Tensor {
    return keys;
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(input: Tensor, context: LayerContext): Tensor {
    const { numAttentionHeads, numKeyValueHeads, headDim } = this.#config;
    const { batchSize, length, cos, sin, cache } = context;
    const heads = (projected: Tensor, count: number) =>
      splitHeads(projected, batchSize, length, count, headDim);
    const queries = applyRotaryEmbedding(
      this.normalizeQueries(heads(this.q_proj.forward(input), numAttentionHeads)),
      cos,
      sin,
    );
    let keys = applyRotaryEmbedding(
      this.normalizeKeys(heads(this.k_proj.forward(input), numKeyValueHeads)),
      cos,
      sin,
    );
    let values = heads(this.v_proj.forward(input), numKeyValueHeads);
    if (cache !== undefined) ({ keys, values } = cache.append(context.layerIndex, keys, values));
    const attended = groupedQueryAttention(queries, keys, values, context.mask, 1 / Math.sqrt(headDim), {
      batchSize,
      length,
      numHeads: numAttentionHeads,
      numKeyValueHeads,
      headDim,
    });
    return this.o_proj.forward(attended);
  }
}

/** The `hidden_act` names whose gated MLP is SwiGLU, run as one fused kernel. */
const swiGluActivations = new Set(["silu", "swish"]);

/** `mlp`: `down(act(gate(x)) · up(x))` (SwiGLU for `hidden_act: "silu"`). */
export class LlamaMLP extends Module {
  gate_proj: LinearLike;
  up_proj: LinearLike;
  down_proj: LinearLike;
  readonly #activation: Activation;
  readonly #swiGlu: boolean;

  constructor(config: LlamaConfig, weights: CheckpointWeights, path: string) {
    super();
    const { hiddenSize, intermediateSize, mlpBias } = config;
    this.#swiGlu = swiGluActivations.has(config.hiddenAct);
    this.gate_proj = weights.linear(`${path}.gate_proj`, hiddenSize, intermediateSize, mlpBias);
    this.up_proj = weights.linear(`${path}.up_proj`, hiddenSize, intermediateSize, mlpBias);
    this.down_proj = weights.linear(`${path}.down_proj`, intermediateSize, hiddenSize, mlpBias);
    this.#activation = activationByName(config.hiddenAct);
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(input: Tensor): Tensor {
    const gate = this.gate_proj.forward(input);
    const up = this.up_proj.forward(input);
    const gated = this.#swiGlu ? swiGlu(gate, up) : mul(this.#activation(gate), up);
    return this.down_proj.forward(gated);
  }
}

/** One decoder layer: `x += attn(norm(x)); x += mlp(norm(x))`. */
export class LlamaDecoderLayer extends Module {
  self_attn: LlamaAttention;
  mlp: LlamaMLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;

  /** @param attention the layer's `self_attn`, when an architecture builds its own (default Llama's). */
  constructor(config: LlamaConfig, weights: CheckpointWeights, path: string, attention?: LlamaAttention) {
    super();
    const norm = { eps: config.rmsNormEps };
    this.self_attn = attention ?? new LlamaAttention(config, weights, `${path}.self_attn`);
    this.mlp = new LlamaMLP(config, weights, `${path}.mlp`);
    this.input_layernorm = weights.rmsNorm(`${path}.input_layernorm`, config.hiddenSize, norm);
    this.post_attention_layernorm = weights.rmsNorm(
      `${path}.post_attention_layernorm`,
      config.hiddenSize,
      norm,
    );
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(hidden: Tensor, context: LayerContext): Tensor {
    const attended = add(hidden, this.self_attn.forward(this.input_layernorm.forward(hidden), context));
    return add(attended, this.mlp.forward(this.post_attention_layernorm.forward(attended)));
  }
}

/** `model`: embedding, decoder layers, final norm. */
export class LlamaModel extends Module {
  embed_tokens: Embedding;
  layers: ModuleList<LlamaDecoderLayer>;
  norm: RMSNorm;
  /** The rotary embedding (its `frequencies` are transformers' `rotary_emb.inv_freq`). */
  readonly rotaryEmbedding: RotaryEmbedding;

  /**
   * @param createAttention builds layer `path`'s `self_attn` (default {@link LlamaAttention}); Qwen2 and Qwen3
   *   pass their own.
   */
  constructor(
    config: LlamaConfig,
    weights: CheckpointWeights,
    createAttention?: (path: string) => LlamaAttention,
  ) {
    super();
    this.embed_tokens = weights.embedding("model.embed_tokens", config.vocabSize, config.hiddenSize);
    this.layers = new ModuleList(
      Array.from({ length: config.numHiddenLayers }, (_, layer) => {
        const path = `model.layers.${layer}`;
        return new LlamaDecoderLayer(config, weights, path, createAttention?.(`${path}.self_attn`));
      }),
    );
    this.norm = weights.rmsNorm("model.norm", config.hiddenSize, { eps: config.rmsNormEps });
    this.rotaryEmbedding = new RotaryEmbedding(config.rope, config.headDim);
  }

  /**
   * The final hidden states `[B·T, hidden]`. `slidingWindow(layer)` gives each layer's attention window
   * (undefined: full causal attention).
   */
  forward(input: DecoderInput, slidingWindow: (layer: number) => number | undefined): Tensor {
    const { batchSize, length, start, cache } = input;
    const { cos, sin } = this.rotaryEmbedding.tables(start, length);
    const masks = new Map<number | undefined, AttentionMask>();
    let hidden = this.embed_tokens.forward(input.ids);
    for (const [layerIndex, layer] of [...this.layers].entries()) {
      const window = slidingWindow(layerIndex);
      let mask = masks.get(window);
      if (mask === undefined) {
        mask = attentionMask(start, length, window);
        masks.set(window, mask);
      }
      hidden = layer.forward(hidden, { cos, sin, mask, cache, layerIndex, batchSize, length });
    }
    return this.norm.forward(hidden);
  }
}

/**
 * `LlamaForCausalLM`: the decoder and the output projection `lm_head` (the token embedding itself when
 * `tie_word_embeddings`; a checkpoint's `lm_head.weight` is then ignored, as transformers does).
 */
export class LlamaForCausalLM<Config extends LlamaConfig = LlamaConfig> extends CausalLM<Config> {
  model: LlamaModel;
  lm_head: LinearLike;

  constructor(config: Config, weights: CheckpointWeights, options?: WeightStoreOptions) {
    super(config, weights, options);
    this.model = new LlamaModel(config, weights, (path) => this.createAttention(config, weights, path));
    this.lm_head = config.tieWordEmbeddings
      ? new Linear(this.model.embed_tokens.weight)
      : weights.linear("lm_head", config.hiddenSize, config.vocabSize);
  }

  /**
   * Builds one layer's `self_attn` (called during construction, before subclass fields exist): Llama's
   * attention with `attention_bias` on all four projections. Qwen2/Qwen3 override it.
   */
  protected createAttention(config: Config, weights: CheckpointWeights, path: string): LlamaAttention {
    return new LlamaAttention(config, weights, path);
  }

  /**
   * The sliding attention window of decoder layer `layer`: query `i` sees keys `i − W < j ≤ i`. Llama
   * attends to every earlier position (undefined); Mistral overrides this.
   */
  protected slidingWindow(_layer: number): number | undefined {
    return undefined;
  }

  protected computeLogits(input: DecoderInput): Tensor {
    const hidden = this.model.forward(input, (layer) => this.slidingWindow(layer));
    return this.projectOutput(hidden, input, (rows) => this.lm_head.forward(rows));
  }
}

/** The Llama architecture: `model_type: "llama"`. */
export const llama: Architecture<LlamaConfig> = {
  modelType: "llama",
  parseConfig: (json) => parseLlamaConfig(json),
  create: (config, weights, options) => new LlamaForCausalLM(config, weights, options),
};
