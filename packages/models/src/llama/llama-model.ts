import { type RawTensor, toFloat32 } from "@peftjs/io";
import {
  add,
  applyRotaryEmbedding,
  gather,
  keep,
  matmul,
  mul,
  reshape,
  rmsNorm,
  rotaryTables,
  scale,
  silu,
  softmax,
  type Tensor,
  tensor,
  tidy,
  transpose,
} from "@peftjs/tensor";
import { type LlamaConfig, parseLlamaConfig } from "../config.js";
import { ModelInputError, ModelWeightsError, ModuleNotFoundError, ModuleShapeError } from "../errors.js";
import { Linear, type LinearModule, type LinearModuleHost } from "../modules/linear.js";
import { KeyValueCache } from "./kv-cache.js";

/** Weights by Hugging Face key, as read from a checkpoint (any float dtype; converted to float32). */
export type LlamaWeights = Map<string, RawTensor> | Readonly<Record<string, RawTensor>>;

/** Token ids of a batch: `B` rows of equal length `T`, or an int32 tensor `[B, T]`. */
export type TokenBatch = readonly (readonly number[])[] | Tensor;

/** Options of {@link LlamaForCausalLM.forward}. */
export interface LlamaForwardOptions {
  /**
   * Past keys and values: the new tokens take the positions after the cached ones and the cache is
   * extended with them. Without a cache, positions start at 0 and nothing is kept.
   */
  cache?: KeyValueCache;
}

/** Weight dtypes the model accepts; each converts exactly to float32 (F64 rounds to nearest). */
const floatingPointDtypes = new Set<string>(["F32", "F16", "BF16", "F64"]);

const projectionNames = {
  attention: ["q_proj", "k_proj", "v_proj", "o_proj"],
  mlp: ["gate_proj", "up_proj", "down_proj"],
} as const;

/** The module path of layer `layer`'s projection `projection` (`q_proj`, ..., `down_proj`). */
function projectionPath(layer: number, projection: string): string {
  const block = (projectionNames.attention as readonly string[]).includes(projection) ? "self_attn" : "mlp";
  return `model.layers.${layer}.${block}.${projection}`;
}

/** Value at `key` of a Map or record. */
function lookupWeight(weights: LlamaWeights, key: string): RawTensor | undefined {
  return weights instanceof Map ? weights.get(key) : weights[key];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((extent, axis) => extent === b[axis]);
}

/**
 * A Llama decoder with a language-model head, numerically following Hugging Face transformers'
 * `LlamaForCausalLM` in float32 (eager attention): RMSNorm, rotate-half RoPE, grouped-query attention,
 * SwiGLU MLP, optional tied embeddings, causal mask.
 *
 * Every projection (`q/k/v/o_proj`, `gate/up/down_proj`, `lm_head`) is a {@link LinearModule} slot that an
 * adapter can wrap via {@link replaceLinear}; the model never reads a projection's weight directly.
 */
export class LlamaForCausalLM implements LinearModuleHost {
  /** The parsed configuration. */
  readonly config: LlamaConfig;
  private readonly parameters: Map<string, Tensor>;
  private readonly slots: Map<string, LinearModule>;
  private disposed = false;

  private constructor(
    config: LlamaConfig,
    parameters: Map<string, Tensor>,
    slots: Map<string, LinearModule>,
  ) {
    this.config = config;
    this.parameters = parameters;
    this.slots = slots;
  }

  /**
   * Builds the model from a configuration (a parsed {@link LlamaConfig} or the raw `config.json` object) and
   * its weights keyed as in Hugging Face checkpoints (`model.embed_tokens.weight`, ...). F16/BF16/F64 weights
   * are converted to float32. With `tie_word_embeddings` the output projection is the token embedding
   * (`lm_head.weight`, if present, is ignored as transformers does); otherwise `lm_head.weight` is required.
   * Keys the model does not use are ignored.
   *
   * @throws ModelWeightsError naming the missing key or the shape that does not fit the config.
   */
  static fromWeights(config: LlamaConfig | unknown, weights: LlamaWeights): LlamaForCausalLM {
    const parsed = isLlamaConfig(config) ? config : parseLlamaConfig(config);
    const parameters = new Map<string, Tensor>();
    const load = (key: string, shape: readonly number[]): Tensor => {
      const raw = lookupWeight(weights, key);
      if (raw === undefined) throw new ModelWeightsError(`checkpoint lacks the weight "${key}"`);
      if (!sameShape(raw.shape, shape)) {
        throw new ModelWeightsError(
          `weight "${key}" has shape [${raw.shape.join(", ")}] but the config needs [${shape.join(", ")}]`,
        );
      }
      if (!floatingPointDtypes.has(raw.dtype)) {
        throw new ModelWeightsError(`weight "${key}" has dtype ${raw.dtype}; expected F32, F16, BF16 or F64`);
      }
      // keep(): weights outlive any tidy() the caller may be in.
      const value = keep(tensor(toFloat32(raw), shape));
      parameters.set(key, value);
      return value;
    };
    const {
      hiddenSize,
      intermediateSize,
      numAttentionHeads,
      numKeyValueHeads,
      headDim,
      vocabSize,
      numHiddenLayers,
    } = parsed;
    const slots = new Map<string, LinearModule>();
    try {
      const embedding = load("model.embed_tokens.weight", [vocabSize, hiddenSize]);
      const projectionShapes: Record<string, [number, number]> = {
        q_proj: [numAttentionHeads * headDim, hiddenSize],
        k_proj: [numKeyValueHeads * headDim, hiddenSize],
        v_proj: [numKeyValueHeads * headDim, hiddenSize],
        o_proj: [hiddenSize, numAttentionHeads * headDim],
        gate_proj: [intermediateSize, hiddenSize],
        up_proj: [intermediateSize, hiddenSize],
        down_proj: [hiddenSize, intermediateSize],
      };
      for (let layer = 0; layer < numHiddenLayers; layer++) {
        load(`model.layers.${layer}.input_layernorm.weight`, [hiddenSize]);
        load(`model.layers.${layer}.post_attention_layernorm.weight`, [hiddenSize]);
        for (const projection of [...projectionNames.attention, ...projectionNames.mlp]) {
          const path = projectionPath(layer, projection);
          slots.set(path, new Linear(path, load(`${path}.weight`, projectionShapes[projection]!)));
        }
      }
      load("model.norm.weight", [hiddenSize]);
      const head = parsed.tieWordEmbeddings ? embedding : load("lm_head.weight", [vocabSize, hiddenSize]);
      slots.set("lm_head", new Linear("lm_head", head));
    } catch (error) {
      for (const value of parameters.values()) value.dispose();
      throw error;
    }
    return new LlamaForCausalLM(parsed, parameters, slots);
  }

  /**
   * The base weights by Hugging Face key (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`,
   * ..., `lm_head.weight` only when untied). These are the original tensors, not copies: do not dispose them.
   */
  namedParameters(): Map<string, Tensor> {
    return new Map(this.parameters);
  }

  linearModules(): Map<string, LinearModule> {
    return new Map(this.slots);
  }

  getLinear(name: string): LinearModule {
    const module = this.slots.get(name);
    if (module === undefined) {
      throw new ModuleNotFoundError(
        `no linear module "${name}"; modules look like "model.layers.0.self_attn.q_proj" or "lm_head"`,
      );
    }
    return module;
  }

  replaceLinear(
    name: string,
    replacement: LinearModule | ((current: LinearModule) => LinearModule),
  ): LinearModule {
    const current = this.getLinear(name);
    const next = typeof replacement === "function" ? replacement(current) : replacement;
    if (
      next.name !== name ||
      next.inFeatures !== current.inFeatures ||
      next.outFeatures !== current.outFeatures
    ) {
      throw new ModuleShapeError(
        `replacement for "${name}" is "${next.name}" with ${next.inFeatures} -> ${next.outFeatures} features; ` +
          `the slot needs "${name}" with ${current.inFeatures} -> ${current.outFeatures}`,
      );
    }
    this.slots.set(name, next);
    return current;
  }

  /** An empty key/value cache for incremental decoding of `batchSize` sequences. */
  createCache(batchSize = 1): KeyValueCache {
    return new KeyValueCache(this.config.numHiddenLayers, batchSize);
  }

  /**
   * Runs the model over a batch of token ids and returns the logits `[B, T, vocabSize]` (float32), as
   * `LlamaForCausalLM(input_ids).logits`. With a cache, the tokens continue the cached sequences.
   *
   * @throws ModelInputError for ragged or empty batches, ids outside the vocabulary, a batch size that does
   *   not match the cache, or positions past `max_position_embeddings`.
   */
  forward(inputIds: TokenBatch, options: LlamaForwardOptions = {}): Tensor {
    this.assertLive();
    const { ids, batchSize, length } = this.flattenIds(inputIds);
    const cache = options.cache;
    const start = cache?.length ?? 0;
    if (cache !== undefined && cache.batchSize !== batchSize) {
      throw new ModelInputError(
        `batch of ${batchSize} sequences does not match the cache's ${cache.batchSize}`,
      );
    }
    if (start + length > this.config.maxPositionEmbeddings) {
      throw new ModelInputError(
        `positions ${start}..${start + length - 1} exceed max_position_embeddings ${this.config.maxPositionEmbeddings}`,
      );
    }
    const logits = tidy(() => {
      const positions = Array.from({ length }, (_, index) => start + index);
      const { cos, sin } = rotaryTables(positions, this.config.headDim, this.config.ropeTheta);
      const mask = this.causalMask(start, length);
      let hidden = gather(this.parameter("model.embed_tokens.weight"), tensor(ids, [ids.length], "int32"));
      for (let layer = 0; layer < this.config.numHiddenLayers; layer++) {
        const prefix = `model.layers.${layer}`;
        const attentionInput = rmsNorm(
          hidden,
          this.parameter(`${prefix}.input_layernorm.weight`),
          this.config.rmsNormEps,
        );
        const attended = this.attention(layer, attentionInput, batchSize, length, cos, sin, mask, cache);
        hidden = add(hidden, attended);
        const mlpInput = rmsNorm(
          hidden,
          this.parameter(`${prefix}.post_attention_layernorm.weight`),
          this.config.rmsNormEps,
        );
        hidden = add(hidden, this.mlp(layer, mlpInput));
      }
      const normed = rmsNorm(hidden, this.parameter("model.norm.weight"), this.config.rmsNormEps);
      const flatLogits = this.getLinear("lm_head").forward(normed);
      return reshape(flatLogits, [batchSize, length, this.config.vocabSize]);
    });
    cache?.advance(length);
    return logits;
  }

  /** Releases every weight. The model (and modules holding its weights) cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const value of this.parameters.values()) value.dispose();
  }

  /** True after {@link dispose}. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Grouped-query self-attention of one layer. `input` is `[B*T, hidden]`. Query head `h` uses key/value head
   * `floor(h / groupSize)` (transformers' `repeat_kv`); instead of repeating keys, the `groupSize` query heads
   * of one key/value head are stacked along the sequence axis, which gives the same products.
   */
  private attention(
    layer: number,
    input: Tensor,
    batchSize: number,
    length: number,
    cos: Tensor,
    sin: Tensor,
    mask: Tensor,
    cache: KeyValueCache | undefined,
  ): Tensor {
    const { numAttentionHeads, numKeyValueHeads, headDim } = this.config;
    const groupSize = numAttentionHeads / numKeyValueHeads;
    const toHeads = (projected: Tensor, heads: number): Tensor =>
      reshape(transpose(reshape(projected, [batchSize, length, heads, headDim]), [0, 2, 1, 3]), [
        batchSize * heads,
        length,
        headDim,
      ]);
    const queries = applyRotaryEmbedding(
      toHeads(this.getLinear(projectionPath(layer, "q_proj")).forward(input), numAttentionHeads),
      cos,
      sin,
    );
    let keys = applyRotaryEmbedding(
      toHeads(this.getLinear(projectionPath(layer, "k_proj")).forward(input), numKeyValueHeads),
      cos,
      sin,
    );
    let values = toHeads(this.getLinear(projectionPath(layer, "v_proj")).forward(input), numKeyValueHeads);
    if (cache !== undefined) ({ keys, values } = cache.append(layer, keys, values));
    const keyLength = keys.shape[1]!;
    // [B*KV, group*T, d]: the group's query heads are contiguous, so this reshape needs no copy of keys.
    const groupedQueries = reshape(queries, [batchSize * numKeyValueHeads, groupSize * length, headDim]);
    // scores = (Q Kᵀ) / sqrt(d) + causal mask, then softmax over keys (transformers' eager attention).
    const scores = scale(matmul(groupedQueries, keys, { transposeB: true }), 1 / Math.sqrt(headDim));
    const masked = add(reshape(scores, [batchSize * numKeyValueHeads, groupSize, length, keyLength]), mask);
    const probabilities = reshape(softmax(masked), [
      batchSize * numKeyValueHeads,
      groupSize * length,
      keyLength,
    ]);
    const context = matmul(probabilities, values);
    const merged = reshape(
      transpose(reshape(context, [batchSize, numAttentionHeads, length, headDim]), [0, 2, 1, 3]),
      [batchSize * length, numAttentionHeads * headDim],
    );
    return this.getLinear(projectionPath(layer, "o_proj")).forward(merged);
  }

  /** SwiGLU MLP: `down(silu(gate(x)) * up(x))`. */
  private mlp(layer: number, input: Tensor): Tensor {
    const gate = this.getLinear(projectionPath(layer, "gate_proj")).forward(input);
    const up = this.getLinear(projectionPath(layer, "up_proj")).forward(input);
    return this.getLinear(projectionPath(layer, "down_proj")).forward(mul(silu(gate), up));
  }

  /** Additive causal mask `[T, start + T]`: 0 where key position ≤ query position, −∞ elsewhere. */
  private causalMask(start: number, length: number): Tensor {
    const keyLength = start + length;
    const values = new Float32Array(length * keyLength);
    for (let query = 0; query < length; query++) {
      for (let key = start + query + 1; key < keyLength; key++) values[query * keyLength + key] = -Infinity;
    }
    return tensor(values, [length, keyLength]);
  }

  private parameter(key: string): Tensor {
    return this.parameters.get(key)!;
  }

  private flattenIds(inputIds: TokenBatch): { ids: Int32Array; batchSize: number; length: number } {
    let ids: Int32Array;
    let batchSize: number;
    let length: number;
    if (Array.isArray(inputIds)) {
      const rows = inputIds as readonly (readonly number[])[];
      batchSize = rows.length;
      length = rows[0]?.length ?? 0;
      for (const [index, row] of rows.entries()) {
        if (row.length !== length) {
          throw new ModelInputError(
            `ragged batch: row 0 has ${length} tokens but row ${index} has ${row.length}`,
          );
        }
      }
      const flat = rows.flat();
      for (const id of flat) this.checkTokenId(id);
      ids = Int32Array.from(flat);
    } else {
      const batch = inputIds as Tensor;
      if (batch.rank !== 2)
        throw new ModelInputError(`input ids must be [B, T], got [${batch.shape.join(", ")}]`);
      [batchSize, length] = batch.shape as [number, number];
      if (batch.dtype !== "int32") throw new ModelInputError(`input ids must be int32, got ${batch.dtype}`);
      ids = Int32Array.from(batch.dataSync());
      for (const id of ids) this.checkTokenId(id);
    }
    if (batchSize === 0 || length === 0) {
      throw new ModelInputError(`input ids must hold at least one token, got [${batchSize}, ${length}]`);
    }
    return { ids, batchSize, length };
  }

  private checkTokenId(id: number): void {
    if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize)) {
      throw new ModelInputError(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`);
    }
  }

  private assertLive(): void {
    if (this.disposed) throw new ModelInputError("the model was disposed");
  }
}

function isLlamaConfig(value: unknown): value is LlamaConfig {
  return typeof value === "object" && value !== null && "hiddenSize" in value && "raw" in value;
}
