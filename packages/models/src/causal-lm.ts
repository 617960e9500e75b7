import { Module } from "@peftjs/nn";
import type { WeightStore, WeightStoreOptions } from "@peftjs/state";
import { reshape, slice, type Tensor, tensor, tidy } from "@peftjs/tensor";
import type { CausalLMConfig } from "./config/parse.js";
import { ModelInputError } from "./errors.js";
import { KeyValueCache } from "./generation/kv-cache.js";
import type { CheckpointWeights } from "./loading/checkpoint-weights.js";

/** Token ids of a batch: `B` rows of equal length `T`, or an int32 tensor `[B, T]`. */
export type TokenBatch = readonly (readonly number[])[] | Tensor;

/** Options of {@link CausalLM.forward}. */
export interface ForwardOptions {
  /**
   * Past keys and values: the new tokens take the positions after the cached ones and the cache is
   * extended with them. Without a cache, positions start at 0 and nothing is kept.
   */
  cache?: KeyValueCache;
  /**
   * Computes the output head for the last position of each sequence only, so the logits are `[B, 1, vocabSize]`
   * (transformers' `logits[:, -1:]`, what choosing the next token needs). The hidden states, and the cache, are
   * those of every position as without it; only the `hidden × vocabSize` projection of the others is skipped
   * (for a long prompt and a large vocabulary, the largest product of the pass). Default false.
   */
  lastPositionOnly?: boolean;
}

/** What an architecture's decoder receives for one forward pass (validated by {@link CausalLM.forward}). */
export interface DecoderInput {
  /** The token ids, int32 `[B·T]`, row-major. */
  readonly ids: Tensor;
  /** B. */
  readonly batchSize: number;
  /** T, the number of new positions. */
  readonly length: number;
  /** Position of the first new token (the cache's length, 0 without one). */
  readonly start: number;
  /** The cache to read and extend, if any. */
  readonly cache: KeyValueCache | undefined;
  /** Only the last position's logits are wanted ({@link ForwardOptions.lastPositionOnly}). */
  readonly lastPositionOnly: boolean;
}

/**
 * A decoder-only language model: the interface `train()`, `generate()`, the adapters and the command line use,
 * whatever the architecture. An architecture (one file under `src/architectures/`) extends it, builds its
 * module tree from a {@link CheckpointWeights} in its constructor and implements {@link CausalLM.computeLogits};
 * token checks, positions, the cache and disposal live here.
 *
 * The module tree uses Hugging Face's paths (`model.layers.0.self_attn.q_proj`), so PEFT target names and
 * checkpoint keys address it directly. Its linear slots may be replaced (`replaceModule`) by adapters.
 */
export abstract class CausalLM<Config extends CausalLMConfig = CausalLMConfig> extends Module {
  /** The parsed configuration. */
  readonly config: Config;
  /** The module path of the output projection (never a target of PEFT's `"all-linear"`). */
  readonly outputModuleName: string = "lm_head";
  /** The checkpoint the store is built from; dropped once it is (the store then holds the bytes). */
  #checkpoint: CheckpointWeights | undefined;
  readonly #weightStoreOptions: WeightStoreOptions;
  #weights: WeightStore | undefined;
  #disposed = false;

  protected constructor(config: Config, checkpoint: CheckpointWeights, options: WeightStoreOptions = {}) {
    super();
    this.config = config;
    this.#checkpoint = checkpoint;
    this.#weightStoreOptions = options;
  }

  /**
   * The base model's identity (see {@link CheckpointWeights}): the tensors it was built from, by checkpoint
   * key, as stored, frozen in a `@peftjs/state` weight store. Adapters fingerprint it, PiSSA/OLoRA inits read
   * their base weights from it in the stored dtype, and residual mode and `mergeAndUnload` change it only
   * through its journaled `mutate`. Built on first use.
   */
  get weights(): WeightStore {
    if (this.#weights === undefined) {
      this.#weights = this.#checkpoint!.toWeightStore(this.#weightStoreOptions);
      // The store now holds the checkpoint's bytes (taken over when a loader read them, else copied): drop the
      // checkpoint, so the model never holds the weights twice.
      this.#checkpoint = undefined;
    }
    return this.#weights;
  }

  /** An empty key/value cache for incremental decoding of `batchSize` sequences. */
  createCache(batchSize = 1): KeyValueCache {
    return new KeyValueCache(this.config.numHiddenLayers, batchSize);
  }

  /**
   * Runs the model over a batch of token ids and returns the logits `[B, T, vocabSize]` (float32), as
   * transformers' `model(input_ids).logits`. With a cache, the tokens continue the cached sequences.
   *
   * @throws ModelInputError for ragged or empty batches, ids outside the vocabulary, a batch size that does
   *   not match the cache, or positions past `max_position_embeddings`.
   */
  forward(inputIds: TokenBatch, options: ForwardOptions = {}): Tensor {
    if (this.#disposed) throw new ModelInputError("the model was disposed");
    const { ids, batchSize, length } = this.#flattenIds(inputIds);
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
    const logits = tidy(() =>
      this.computeLogits({
        ids: tensor(ids, [ids.length], "int32"),
        batchSize,
        length,
        start,
        cache,
        lastPositionOnly: options.lastPositionOnly === true,
      }),
    );
    cache?.advance(length);
    return logits;
  }

  /**
   * The architecture's forward pass: logits `[B, T, vocabSize]` for validated input, `[B, 1, vocabSize]` with
   * `input.lastPositionOnly` (runs inside `tidy`; {@link CausalLM.projectOutput} does the last step).
   */
  protected abstract computeLogits(input: DecoderInput): Tensor;

  /**
   * Logits from the final hidden states `[B·T, hidden]` through the output `head`: of every position
   * (`[B, T, vocabSize]`), or with `input.lastPositionOnly` of each sequence's last position (`[B, 1, vocabSize]`),
   * whose hidden rows alone go through the head.
   */
  protected projectOutput(hidden: Tensor, input: DecoderInput, head: (rows: Tensor) => Tensor): Tensor {
    const { batchSize, length, lastPositionOnly } = input;
    const width = hidden.shape.at(-1)!;
    const rows =
      lastPositionOnly && length > 1
        ? reshape(
            slice(reshape(hidden, [batchSize, length, width]), [0, length - 1, 0], [batchSize, 1, width]),
            [batchSize, width],
          )
        : hidden;
    return reshape(head(rows), [batchSize, lastPositionOnly ? 1 : length, this.config.vocabSize]);
  }

  /** Releases every parameter. The model (and modules holding its weights) cannot be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.disposeParameters();
  }

  /** True after {@link CausalLM.dispose}. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  #flattenIds(inputIds: TokenBatch): { ids: Int32Array; batchSize: number; length: number } {
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
      ids = Int32Array.from(rows.flat());
    } else {
      const batch = inputIds as Tensor;
      if (batch.rank !== 2) {
        throw new ModelInputError(`input ids must be [B, T], got [${batch.shape.join(", ")}]`);
      }
      [batchSize, length] = batch.shape as [number, number];
      if (batch.dtype !== "int32") throw new ModelInputError(`input ids must be int32, got ${batch.dtype}`);
      ids = Int32Array.from(batch.dataSync());
    }
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < this.config.vocabSize)) {
        throw new ModelInputError(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`);
      }
    }
    if (batchSize === 0 || length === 0) {
      throw new ModelInputError(`input ids must hold at least one token, got [${batchSize}, ${length}]`);
    }
    return { ids, batchSize, length };
  }
}
