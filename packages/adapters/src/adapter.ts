import type { LoraConfig } from "./config/lora-config.js";
import { moduleLoraSettings } from "./config/scaling.js";
import { AdapterFileError } from "./errors.js";
import { type Matrix, multiply, scale } from "./math/matrix.js";

/** A host tensor of any rank (float32 values, row-major): what a variant's extra parameter is in a file. */
export interface HostTensor {
  /** The dimensions, e.g. `[out]` for DoRA's magnitude vector. */
  readonly shape: readonly number[];
  /** The values, row-major. */
  readonly data: Float32Array;
}

/**
 * One wrapped module's parameters: the two factors lora_A [r, in] and lora_B [out, r] (float32), and the
 * extra parameters a LoRA variant adds (e.g. DoRA's `lora_magnitude_vector` [out]), by PEFT name.
 */
export interface LoraFactors {
  /** lora_A, r × in_features. */
  readonly loraA: Matrix;
  /** lora_B, out_features × r. */
  readonly loraB: Matrix;
  /** The variant's extra parameters by PEFT name (absent for plain LoRA). */
  readonly extras?: ReadonlyMap<string, HostTensor>;
  /**
   * `"embedding"` for LoRA on an `nn.Embedding` (PEFT's `lora_embedding_A` [r, vocab] = loraA and
   * `lora_embedding_B` [dim, r] = loraB; s·B·A is then ΔEᵀ, `[dim, vocab]`); absent for a Linear.
   */
  readonly kind?: "embedding";
}

/**
 * The rows `trainable_token_indices` trains in one embedding: PEFT's `trainable_tokens_delta`, which holds the new
 * rows themselves (they replace rows `indices` of the embedding, in list order), not a difference.
 */
export interface TrainableTokenRows {
  /** The token ids, in the config's order. */
  readonly indices: readonly number[];
  /** The new rows, `[indices.length, dim]`. */
  readonly rows: Matrix;
}

/**
 * A LoRA adapter in memory, the file-level data type: its PEFT config and, per wrapped module (keyed by the
 * Hugging Face module name such as `model.layers.0.self_attn.q_proj`), its factors on the host. Plain immutable
 * data: functions return new adapters. On a model the adapter's parameters live as tensors on the active
 * backend (`LoraModel`); `LoraModel.getAdapter` reads them back into this form for saving.
 */
export interface LoraAdapter {
  /** The adapter's config (PEFT field names). */
  readonly config: LoraConfig;
  /** Factors per module name, in the order PEFT writes them. */
  readonly modules: ReadonlyMap<string, LoraFactors>;
  /**
   * `modules_to_save`: the full trained copy of each such module, by module name, then by local parameter name
   * (`weight`, `bias`); absent when the config has none.
   */
  readonly modulesToSave?: ReadonlyMap<string, ReadonlyMap<string, HostTensor>>;
  /**
   * Full base embeddings PEFT stored beside an embedding's LoRA (`save_embedding_layers`, its default when an
   * embedding is targeted: `<module>.base_layer.weight`), by module name. Never applied: a load checks that they
   * equal the model's (peftjs does not rewrite base weights from an adapter file). Not written back.
   */
  readonly savedEmbeddings?: ReadonlyMap<string, HostTensor>;
  /** `trainable_token_indices`: the trained rows per embedding module name (absent when the config has none). */
  readonly trainableTokens?: ReadonlyMap<string, TrainableTokenRows>;
  /** Extra safetensors metadata read from or to be written to the file (e.g. the `peftjs.*` record). */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The layer biases the adapter trains under `bias: "lora_only" | "all"` (`[out]` each), keyed by module name.
   * PEFT saves them in the adapter file (`….q_proj.base_layer.bias`) and loading overwrites the base model's
   * biases; peftjs applies them as the adapter's own biases instead, so disabling or unloading the adapter
   * gives the base model back. Absent for `bias: "none"`.
   */
  readonly biases?: ReadonlyMap<string, HostTensor>;
}

/** Checks that every module's factors agree with each other and with the rank the config gives that module. */
export function validateAdapter(adapter: LoraAdapter): void {
  for (const [name, { loraA, loraB }] of adapter.modules) {
    const { r } = moduleLoraSettings(adapter.config, name);
    if (loraA.rows !== r || loraB.columns !== r) {
      throw new AdapterFileError(
        `module "${name}": lora_A is [${loraA.rows}, ${loraA.columns}] and lora_B [${loraB.rows}, ${loraB.columns}], but the config gives it rank ${r}`,
      );
    }
  }
  for (const [name, { indices, rows }] of adapter.trainableTokens ?? []) {
    if (rows.rows !== indices.length) {
      throw new AdapterFileError(
        `module "${name}": trainable_tokens_delta has ${rows.rows} rows for ${indices.length} token indices ${JSON.stringify(indices)}`,
      );
    }
  }
}

/** The scaling s of module `name` in this adapter (α/r or α/√r, patterns applied). */
export function adapterScaling(adapter: LoraAdapter, name: string): number {
  return moduleLoraSettings(adapter.config, name).scaling;
}

/**
 * The weight delta s·B·A of one module ([out, in], float64 accumulation; for an embedding module `[dim, vocab]`,
 * the transpose of ΔE).
 */
export function moduleDelta(adapter: LoraAdapter, name: string): Matrix {
  const factors = adapter.modules.get(name);
  if (factors === undefined) throw new AdapterFileError(`the adapter has no module "${name}"`);
  return scale(multiply(factors.loraB, factors.loraA), adapterScaling(adapter, name));
}

/** s·B·A of every module of the adapter, keyed by module name. */
export function adapterDeltas(adapter: LoraAdapter): Map<string, Matrix> {
  const deltas = new Map<string, Matrix>();
  for (const name of adapter.modules.keys()) deltas.set(name, moduleDelta(adapter, name));
  return deltas;
}

/**
 * A module of the adapter that holds variant parameters (e.g. DoRA's `lora_magnitude_vector`), with their names,
 * or undefined for plain LoRA: for operations defined on s·B·A alone (conversion, combination,
 * recompression), which refuse such adapters rather than drop the parameters.
 */
export function variantParameterModule(
  adapter: LoraAdapter,
): { module: string; parameters: string[] } | undefined {
  for (const [module, factors] of adapter.modules) {
    if (factors.extras !== undefined && factors.extras.size > 0) {
      return { module, parameters: [...factors.extras.keys()] };
    }
  }
  return undefined;
}
