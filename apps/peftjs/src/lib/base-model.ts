import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  firstNonFiniteIndex,
  fromFloat32Finite,
  PeftjsError,
  type RawTensor,
  toFloat32,
  toTypedArray,
} from "@peftjs/io";
import { readCheckpoint, readJsonFile, writeCheckpoint, writeJsonFileAtomic } from "@peftjs/io/node";
import { type CausalLM, createModel, openSourceCheckpoint, readSourceJson } from "@peftjs/models";
import { type Fingerprint, fingerprintModel, fingerprintTensor, type WeightStore } from "@peftjs/state";
import { openModelLocation } from "./model-location.js";

/**
 * A base model in memory: its config, the model over its weights and its identity. The weights the model reads
 * are held once, by `store` (which took over the bytes read from the files); only the checkpoint's other
 * tensors (a tied checkpoint's `lm_head.weight`, rotary buffers) are kept beside it, for the folders written
 * from this base.
 */
export interface BaseModel {
  /** Where it was read from: a folder, or a Hub id `org/name[@revision]`. */
  readonly location: string;
  /** `config.json`, every field kept. */
  readonly configJson: Record<string, unknown>;
  /** The name of every tensor of the checkpoint, in file order. */
  readonly tensorNames: readonly string[];
  /**
   * The checkpoint's tensors the model does not read, with the file's dtypes (those it reads are in `store`
   * alone, so that the weights are not held twice).
   */
  readonly otherTensors: ReadonlyMap<string, RawTensor>;
  /** The model (computed in float32). */
  readonly model: CausalLM;
  /**
   * The model's identity, `model.weights`: the tensors it read, as stored (the source of truth for
   * fingerprints and PiSSA inits; the same store the library's `LoraModel.create(model)` uses). It owns the
   * bytes read from the files (`WeightStore.adopt`, as the library's `loadModel`). Changes are journaled
   * silently: this store is the command's private copy, never written back to the folder.
   */
  readonly store: WeightStore;
}

async function readModelFiles(
  location: string,
): Promise<{ configJson: Record<string, unknown>; tensors: Map<string, RawTensor> }> {
  if (existsSync(location)) {
    const configJson = await readJsonFile<Record<string, unknown>>(join(location, "config.json"));
    return { configJson, tensors: (await readCheckpoint(location)).tensors };
  }
  // A Hub id: config.json and the checkpoint (single file or shards) through the Hugging Face cache.
  const source = await openModelLocation(location);
  const configJson = (await readSourceJson(source, "config.json")) as Record<string, unknown>;
  const checkpoint = await openSourceCheckpoint(source);
  try {
    return { configJson, tensors: await checkpoint.readAll() };
  } finally {
    await checkpoint.close();
  }
}

/**
 * Reads a Hugging Face model (`config.json` + `model.safetensors` or shards) from a folder or a Hub id (see
 * `model-location.ts`). The weights are held once: every tensor was just read into a buffer nothing else
 * holds, so the model's weight store takes over the bytes of those the model reads (`createModel`'s
 * `takeOverBytes`, as the library's `loadModel` does) instead of copying them, and only the tensors it does
 * not read stay in `otherTensors`.
 */
export async function loadBaseModel(location: string): Promise<BaseModel> {
  const { configJson, tensors } = await readModelFiles(location);
  const model = createModel(configJson, tensors, { weightStore: { policy: "silent" }, takeOverBytes: true });
  const store = model.weights;
  const otherTensors = new Map([...tensors].filter(([name]) => !store.has(name)));
  return { location, configJson, tensorNames: [...tensors.keys()], otherTensors, model, store };
}

/**
 * Every tensor of the base folder, in file order, with the store's current values for the ones it holds (the
 * weights a residual or merged model folder is written with). The store's tensors are copies (writing them
 * cannot reach the store).
 */
export function checkpointWithStore(base: BaseModel): Map<string, RawTensor> {
  return new Map(
    base.tensorNames.map((name) => {
      const other = base.otherTensors.get(name);
      return [name, other ?? base.store.get(name).toRaw()];
    }),
  );
}

/** A tensor of a model to write holds a value that its storage dtype cannot hold (or a NaN / infinity). */
export class ModelCastError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("model_cast", message, options);
  }
}

/** Storage dtypes a written model folder may use. */
export type ModelStorageDtype = "F32" | "F16" | "BF16";

/** `config.json`'s name for a storage dtype (transformers 5 writes `dtype`, older versions `torch_dtype`). */
const configDtypeNames: Record<ModelStorageDtype, string> = {
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
};

/**
 * Writes a model folder in transformers' layout: `config.json` (the base's, every field kept; `dtype` /
 * `torch_dtype` updated when `dtype` is given) and `model.safetensors` (metadata `{"format": "pt"}`, sharded
 * above 5 GB as `save_pretrained` does). Float tensors are cast to `dtype` when given (round to nearest even);
 * a value the dtype cannot hold (70000 in F16) or a non-finite one is refused, never written as infinity.
 * @returns the model fingerprint of the tensors as written
 * @throws ModelCastError naming the tensor and the value
 */
export async function writeModelFolder(
  folder: string,
  configJson: Record<string, unknown>,
  tensors: ReadonlyMap<string, RawTensor>,
  dtype?: ModelStorageDtype,
): Promise<Fingerprint> {
  const config = { ...configJson };
  if (dtype !== undefined) {
    if ("torch_dtype" in config) config.torch_dtype = configDtypeNames[dtype];
    if ("dtype" in config || !("torch_dtype" in config)) config.dtype = configDtypeNames[dtype];
  }
  const cast = new Map<string, RawTensor>();
  for (const [name, tensor] of tensors) {
    const isFloat =
      tensor.dtype === "F32" || tensor.dtype === "F16" || tensor.dtype === "BF16" || tensor.dtype === "F64";
    const target = dtype === undefined || !isFloat ? tensor.dtype : dtype;
    try {
      // Every float tensor is checked, cast or not: a merge can produce non-finite weights in any dtype.
      if (!isFloat) cast.set(name, tensor);
      else if (target === tensor.dtype) {
        const nonFinite = firstNonFiniteIndex(
          tensor.dtype === "F64" ? toTypedArray(tensor as RawTensor & { dtype: "F64" }) : toFloat32(tensor),
        );
        if (nonFinite >= 0) throw new Error(`index ${nonFinite} is not finite`);
        cast.set(name, tensor);
      } else
        cast.set(name, {
          dtype: target,
          shape: tensor.shape,
          data: fromFloat32Finite(toFloat32(tensor), target),
        });
    } catch (error) {
      throw new ModelCastError(
        `tensor "${name}" cannot be stored as ${target}: ${(error as Error).message}${target === "F16" ? "; float16 holds at most ±65504: use --dtype bf16 or f32" : ""}`,
        { cause: error },
      );
    }
  }
  await writeJsonFileAtomic(join(folder, "config.json"), config);
  await writeCheckpoint(folder, cast);
  return fingerprintModel([...cast].map(([name, tensor]) => [name, fingerprintTensor(tensor)]));
}
