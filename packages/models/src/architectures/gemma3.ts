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
import { add, applyRotaryEmbedding, mul, reshape, rotaryTables, scale, type Tensor } from "@peftjs/tensor";
import { CausalLM, type DecoderInput } from "../causal-lm.js";
import type { KeyValueCache } from "../generation/kv-cache.js";
import { type AttentionMask, attentionMask, groupedQueryAttention, splitHeads } from "../layers/attention.js";
import type { CheckpointWeights } from "../loading/checkpoint-weights.js";
import type { Architecture } from "./architecture.js";
import { type Gemma3LayerType, type Gemma3TextConfig, parseGemma3TextConfig } from "./gemma3-config.js";

// Gemma 3 text (transformers' `modeling_gemma3.py`, `Gemma3ForCausalLM`, eager attention, float32). Unlike
// Llama: every RMSNorm scales by (1 + w); embeddings are multiplied by √hidden; each layer normalises the
// attention and MLP outputs too (four norms); queries and keys are RMS-normalised per head before RoPE;
// scores are scaled by query_pre_attn_scalar^−½; layers are sliding-window or full attention by
// `layer_types`, each kind with its own RoPE base; the MLP is gated GELU-tanh.

/** What one Gemma 3 decoder layer needs besides its input: its kind's RoPE tables and mask, the cache. */
export interface Gemma3LayerContext {
  /** RoPE cosine table of the new positions for this layer's kind, `[T, headDim]`. */
  readonly cos: Tensor;
  /** RoPE sine table of the new positions for this layer's kind, `[T, headDim]`. */
  readonly sin: Tensor;
  /** This layer kind's attention mask: `"causal"`, or an additive `[T, start + T]` one for a sliding window. */
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

/** `self_attn`: grouped-query attention with per-head (1 + w) RMSNorm on queries and keys, then RoPE. */
export class Gemma3Attention extends Module {
  q_proj: LinearLike;
  k_proj: LinearLike;
  v_proj: LinearLike;
  o_proj: LinearLike;
  q_norm: RMSNorm;
  k_norm: RMSNorm;
  readonly #config: Gemma3TextConfig;

  constructor(config: Gemma3TextConfig, weights: CheckpointWeights, path: string) {
    super();
    const { hiddenSize, numAttentionHeads, numKeyValueHeads, headDim, attentionBias } = config;
    this.q_proj = weights.linear(`${path}.q_proj`, hiddenSize, numAttentionHeads * headDim, attentionBias);
    this.k_proj = weights.linear(`${path}.k_proj`, hiddenSize, numKeyValueHeads * headDim, attentionBias);
    this.v_proj = weights.linear(`${path}.v_proj`, hiddenSize, numKeyValueHeads * headDim, attentionBias);
    this.o_proj = weights.linear(`${path}.o_proj`, numAttentionHeads * headDim, hiddenSize, attentionBias);
    const norm = { eps: config.rmsNormEps, unitOffset: true };
    this.q_norm = weights.rmsNorm(`${path}.q_norm`, headDim, norm);
    this.k_norm = weights.rmsNorm(`${path}.k_norm`, headDim, norm);
    this.#config = config;
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(input: Tensor, context: Gemma3LayerContext): Tensor {
    const { numAttentionHeads, numKeyValueHeads, headDim, queryPreAttnScalar } = this.#config;
    const { batchSize, length, cos, sin, cache } = context;
    const rows = batchSize * length;
    // Normalise each head's d values ([B·T, heads, d]), then lay the heads out as [B·heads, T, d].
    const heads = (projected: Tensor, count: number, norm?: RMSNorm) => {
      const perHead = reshape(projected, [rows, count, headDim]);
      return splitHeads(
        norm === undefined ? perHead : norm.forward(perHead),
        batchSize,
        length,
        count,
        headDim,
      );
    };
    const queries = applyRotaryEmbedding(
      heads(this.q_proj.forward(input), numAttentionHeads, this.q_norm),
      cos,
      sin,
    );
    let keys = applyRotaryEmbedding(
      heads(this.k_proj.forward(input), numKeyValueHeads, this.k_norm),
      cos,
      sin,
    );
    let values = heads(this.v_proj.forward(input), numKeyValueHeads);
    if (cache !== undefined) ({ keys, values } = cache.append(context.layerIndex, keys, values));
    const attended = groupedQueryAttention(
      queries,
      keys,
      values,
      context.mask,
      1 / Math.sqrt(queryPreAttnScalar),
      { batchSize, length, numHeads: numAttentionHeads, numKeyValueHeads, headDim },
    );
    return this.o_proj.forward(attended);
  }
}

/** `mlp`: `down(act(gate(x)) · up(x))`, `act` = GELU with the tanh approximation in every Gemma 3. */
export class Gemma3MLP extends Module {
  gate_proj: LinearLike;
  up_proj: LinearLike;
  down_proj: LinearLike;
  readonly #activation: Activation;

  constructor(config: Gemma3TextConfig, weights: CheckpointWeights, path: string) {
    super();
    const { hiddenSize, intermediateSize } = config;
    this.gate_proj = weights.linear(`${path}.gate_proj`, hiddenSize, intermediateSize);
    this.up_proj = weights.linear(`${path}.up_proj`, hiddenSize, intermediateSize);
    this.down_proj = weights.linear(`${path}.down_proj`, intermediateSize, hiddenSize);
    this.#activation = activationByName(config.hiddenActivation);
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(input: Tensor): Tensor {
    const gated = mul(this.#activation(this.gate_proj.forward(input)), this.up_proj.forward(input));
    return this.down_proj.forward(gated);
  }
}

/**
 * One decoder layer with Gemma's sandwich norms:
 * `x += post_attention_norm(attn(input_norm(x)))`, then `x += post_feedforward_norm(mlp(pre_feedforward_norm(x)))`.
 */
export class Gemma3DecoderLayer extends Module {
  self_attn: Gemma3Attention;
  mlp: Gemma3MLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;
  pre_feedforward_layernorm: RMSNorm;
  post_feedforward_layernorm: RMSNorm;

  constructor(config: Gemma3TextConfig, weights: CheckpointWeights, path: string) {
    super();
    const norm = (name: string) =>
      weights.rmsNorm(`${path}.${name}`, config.hiddenSize, { eps: config.rmsNormEps, unitOffset: true });
    this.self_attn = new Gemma3Attention(config, weights, `${path}.self_attn`);
    this.mlp = new Gemma3MLP(config, weights, `${path}.mlp`);
    this.input_layernorm = norm("input_layernorm");
    this.post_attention_layernorm = norm("post_attention_layernorm");
    this.pre_feedforward_layernorm = norm("pre_feedforward_layernorm");
    this.post_feedforward_layernorm = norm("post_feedforward_layernorm");
  }

  /** `[B·T, hidden]` → `[B·T, hidden]`. */
  forward(hidden: Tensor, context: Gemma3LayerContext): Tensor {
    const attended = this.self_attn.forward(this.input_layernorm.forward(hidden), context);
    const afterAttention = add(hidden, this.post_attention_layernorm.forward(attended));
    const fed = this.mlp.forward(this.pre_feedforward_layernorm.forward(afterAttention));
    return add(afterAttention, this.post_feedforward_layernorm.forward(fed));
  }
}

/** `model`: scaled token embedding, decoder layers, final (1 + w) norm. */
export class Gemma3TextModel extends Module {
  embed_tokens: Embedding;
  layers: ModuleList<Gemma3DecoderLayer>;
  norm: RMSNorm;
  readonly #config: Gemma3TextConfig;

  constructor(config: Gemma3TextConfig, weights: CheckpointWeights) {
    super();
    this.embed_tokens = weights.embedding("model.embed_tokens", config.vocabSize, config.hiddenSize);
    this.layers = new ModuleList(
      Array.from(
        { length: config.numHiddenLayers },
        (_, layer) => new Gemma3DecoderLayer(config, weights, `model.layers.${layer}`),
      ),
    );
    this.norm = weights.rmsNorm("model.norm", config.hiddenSize, {
      eps: config.rmsNormEps,
      unitOffset: true,
    });
    this.#config = config;
  }

  /**
   * The embedding scale: transformers multiplies by its `embed_scale` buffer `√hidden` cast to the dtype the
   * embedding computes in, float32 here (so √640 is 25.298…, not bf16's 25.25, as a float32 load in torch).
   */
  get embedScale(): number {
    return Math.fround(Math.sqrt(this.#config.hiddenSize));
  }

  /** The final hidden states `[B·T, hidden]`. */
  forward(input: DecoderInput): Tensor {
    const { batchSize, length, start, cache } = input;
    const { headDim, ropeTheta, slidingWindow, layerTypes } = this.#config;
    const positions = Array.from({ length }, (_, index) => start + index);
    // One set of RoPE tables and one mask per layer kind, built when a layer of that kind first needs it.
    const kinds = new Map<Gemma3LayerType, { cos: Tensor; sin: Tensor; mask: AttentionMask }>();
    const kindTables = (type: Gemma3LayerType) => {
      let tables = kinds.get(type);
      if (tables === undefined) {
        const window = type === "sliding_attention" ? slidingWindow : undefined;
        tables = {
          ...rotaryTables(positions, headDim, ropeTheta[type]),
          mask: attentionMask(start, length, window),
        };
        kinds.set(type, tables);
      }
      return tables;
    };
    let hidden = scale(this.embed_tokens.forward(input.ids), this.embedScale);
    for (const [layerIndex, layer] of [...this.layers].entries()) {
      const tables = kindTables(layerTypes[layerIndex]!);
      hidden = layer.forward(hidden, { ...tables, cache, layerIndex, batchSize, length });
    }
    return this.norm.forward(hidden);
  }
}

/**
 * `Gemma3ForCausalLM` (`model_type: "gemma3_text"`): the decoder and the output projection `lm_head`, the
 * token embedding itself when `tie_word_embeddings` (every released Gemma 3; a checkpoint's `lm_head.weight`
 * is then ignored). Logit soft-capping is refused at parse time, so the logits are `lm_head(norm(h))`.
 */
export class Gemma3ForCausalLM extends CausalLM<Gemma3TextConfig> {
  model: Gemma3TextModel;
  lm_head: LinearLike;

  constructor(config: Gemma3TextConfig, weights: CheckpointWeights, options?: WeightStoreOptions) {
    super(config, weights, options);
    this.model = new Gemma3TextModel(config, weights);
    this.lm_head = config.tieWordEmbeddings
      ? new Linear(this.model.embed_tokens.weight)
      : weights.linear("lm_head", config.hiddenSize, config.vocabSize);
  }

  protected computeLogits(input: DecoderInput): Tensor {
    const hidden = this.model.forward(input);
    return this.projectOutput(hidden, input, (rows) => this.lm_head.forward(rows));
  }
}

/** The Gemma 3 text architecture: `model_type: "gemma3_text"`. */
export const gemma3Text: Architecture<Gemma3TextConfig> = {
  modelType: "gemma3_text",
  parseConfig: parseGemma3TextConfig,
  create: (config, weights, options) => new Gemma3ForCausalLM(config, weights, options),
};
