import type { RawTensor } from "@peftjs/io";
import { Embedding, Linear, RMSNorm, type RMSNormOptions } from "@peftjs/nn";
import { WeightStore, type WeightStoreOptions } from "@peftjs/state";
import { fromRaw, type HalfDType, keep, type Tensor } from "@peftjs/tensor";
import { ModelWeightsError } from "../errors.js";

/** Weights by Hugging Face key, as read from a checkpoint (any float dtype). */
export type ModelWeights = ReadonlyMap<string, RawTensor> | Readonly<Record<string, RawTensor>>;

/** Weight dtypes a model accepts; each converts exactly to float32 (F64 rounds to nearest). */
const floatingPointDtypes = new Set<string>(["F32", "F16", "BF16", "F64"]);

/** The 16-bit checkpoint dtypes kept 16-bit in memory, and their `@peftjs/tensor` storage dtype. */
const halfDtypes: ReadonlyMap<string, HalfDType> = new Map([
  ["BF16", "bfloat16"],
  ["F16", "float16"],
]);

/**
 * The tensor of a checkpoint weight: 16-bit weights keep their bytes (2 per element; every op reads them as their
 * exact float32 values, matmul without a float32 copy), other float dtypes become float32. `fromRaw` converts
 * with one transient float32 array (the backend then copies it into its own storage), not two as `tensor()`
 * would, so loading does not leave the weights' size twice over in garbage.
 */
function weightTensor(raw: RawTensor): Tensor {
  const half = halfDtypes.get(raw.dtype);
  return fromRaw(raw, half === undefined ? {} : { dtype: half });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((extent, axis) => extent === b[axis]);
}

/**
 * The checkpoint an architecture builds its modules from, and the record of what it took: **the identity of
 * a base model**. A model's identity is the set of tensors its architecture reads from the checkpoint, under
 * their checkpoint keys (`model.layers.0.self_attn.q_proj.weight`), each in the dtype the checkpoint stores it
 * in (bf16 stays bf16). A tied output head reads nothing (it reuses `model.embed_tokens.weight`), and keys the
 * architecture does not read (a tied checkpoint's `lm_head.weight`, rotary buffers) are not part of it.
 * {@link CheckpointWeights.toWeightStore} freezes exactly these tensors into the `@peftjs/state` store whose
 * fingerprint every adapter records, so the library and the command line compute the same identity.
 */
export class CheckpointWeights {
  readonly #source: ModelWeights;
  readonly #ownsBytes: boolean;
  readonly #taken = new Map<string, RawTensor>();
  readonly #created: Tensor[] = [];

  /**
   * @param source - the checkpoint's tensors by key
   * @param options - `ownsBytes: true` when the tensors' bytes were just read into buffers no one else holds
   *   (a loader's own reads): {@link CheckpointWeights.toWeightStore} then hands them to the store instead of
   *   copying them, so the model's identity does not hold the weights a second time. Never set it for bytes a
   *   caller passed in (they could be written afterwards).
   */
  constructor(source: ModelWeights, options: { readonly ownsBytes?: boolean } = {}) {
    this.#source = source;
    this.#ownsBytes = options.ownsBytes === true;
  }

  /**
   * The tensor `key` as a parameter of shape `shape` (kept: it outlives any `tidy()`), recorded as part of the
   * model's identity: float32 for F32/F64 checkpoints, and bfloat16/float16 (half the bytes) for BF16/F16 ones,
   * which every op computes with in float32.
   *
   * @throws ModelWeightsError naming a missing key, a shape that does not fit the config, or a non-float dtype.
   */
  take(key: string, shape: readonly number[]): Tensor {
    const raw =
      this.#source instanceof Map ? this.#source.get(key) : (this.#source as Record<string, RawTensor>)[key];
    if (raw === undefined) throw new ModelWeightsError(`checkpoint lacks the weight "${key}"`);
    if (!sameShape(raw.shape, shape)) {
      throw new ModelWeightsError(
        `weight "${key}" has shape [${raw.shape.join(", ")}] but the config needs [${shape.join(", ")}]`,
      );
    }
    if (!floatingPointDtypes.has(raw.dtype)) {
      throw new ModelWeightsError(`weight "${key}" has dtype ${raw.dtype}; expected F32, F16, BF16 or F64`);
    }
    const value = keep(weightTensor(raw));
    this.#taken.set(key, raw);
    this.#created.push(value);
    return value;
  }

  /** A {@link Linear} from `<path>.weight [out, in]` and, when `bias` is true, `<path>.bias [out]`. */
  linear(path: string, inFeatures: number, outFeatures: number, bias = false): Linear {
    const weight = this.take(`${path}.weight`, [outFeatures, inFeatures]);
    return new Linear(weight, bias ? this.take(`${path}.bias`, [outFeatures]) : undefined);
  }

  /** An {@link Embedding} from `<path>.weight [count, dim]`. */
  embedding(path: string, count: number, dim: number): Embedding {
    return new Embedding(this.take(`${path}.weight`, [count, dim]));
  }

  /** An {@link RMSNorm} from `<path>.weight [hidden]`. */
  rmsNorm(path: string, hidden: number, options: RMSNormOptions): RMSNorm {
    return new RMSNorm(this.take(`${path}.weight`, [hidden]), options);
  }

  /** The tensors taken so far, by checkpoint key, as stored. */
  taken(): ReadonlyMap<string, RawTensor> {
    return this.#taken;
  }

  /**
   * The identity as a frozen `@peftjs/state` store, dtypes as stored: the checkpoint's own bytes taken over when
   * this object owns them (`ownsBytes`), copies of them otherwise. Call it once; the checkpoint is then dropped.
   */
  toWeightStore(options: WeightStoreOptions = {}): WeightStore {
    return this.#ownsBytes ? WeightStore.adopt(this.#taken, options) : WeightStore.from(this.#taken, options);
  }

  /** Releases every tensor taken so far (after a failed build). */
  disposeTaken(): void {
    for (const value of this.#created) value.dispose();
  }
}
