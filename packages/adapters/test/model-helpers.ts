import { fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { type CausalLM, type CreateModelOptions, createModel } from "@peftjs/models";
import type { Tensor } from "@peftjs/tensor";
import { fixturePath, readRaw } from "./helpers.js";

/** stories260K's config.json. */
export async function storiesConfig(): Promise<unknown> {
  return readJsonFile(fixturePath("stories260k/config.json"));
}

/** The base stories260K tensors (fp32), optionally with some replaced (e.g. by a PiSSA residual). */
export async function storiesWeights(
  overrides?: ReadonlyMap<string, RawTensor>,
): Promise<Map<string, RawTensor>> {
  const weights = new Map(await readRaw("stories260k/model.safetensors"));
  for (const [key, value] of overrides ?? []) weights.set(key, value);
  return weights;
}

/** A fresh stories260K model (optionally with some tensors replaced, e.g. by a PiSSA residual). */
export async function storiesModel(
  overrides?: ReadonlyMap<string, RawTensor>,
  options?: CreateModelOptions,
): Promise<CausalLM> {
  return createModel(await storiesConfig(), await storiesWeights(overrides), options);
}

/** Logits of a batch as a flat float32 array. */
export function logitsOf(model: CausalLM, inputIds: readonly (readonly number[])[]): Float32Array {
  const logits: Tensor = model.forward(inputIds);
  const values = logits.toFloat32Array();
  logits.dispose();
  return values;
}

/** ‖actual − expected‖_F / ‖expected‖_F. */
export function relativeFrobenius(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let difference = 0;
  let norm = 0;
  for (let index = 0; index < expected.length; index++) {
    difference += (actual[index]! - expected[index]!) ** 2;
    norm += expected[index]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

/** max |a − b|. */
export function maxAbs(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/** The eval batch and reference logits of a case's (or mixing_hazard's) io.safetensors. */
export async function referenceLogits(
  caseName: string,
): Promise<{ inputIds: number[][]; logits: Map<string, Float32Array> }> {
  const raw = await readRaw(`peft/${caseName}/io.safetensors`);
  const ids = raw.get("input_ids") as RawTensor;
  const values = new BigInt64Array(
    ids.data.buffer.slice(ids.data.byteOffset, ids.data.byteOffset + ids.data.byteLength),
  );
  const [batch, length] = ids.shape as [number, number];
  const inputIds = Array.from({ length: batch }, (_, row) =>
    Array.from(values.slice(row * length, (row + 1) * length), Number),
  );
  const logits = new Map<string, Float32Array>();
  for (const [key, value] of raw) if (key !== "input_ids") logits.set(key, toFloat32(value));
  return { inputIds, logits };
}

/** Every tensor as float32, as PEFT's runs loaded the base (`from_pretrained(dtype=float32)` upcasts a bf16 file). */
export function upcastToFloat32(tensors: ReadonlyMap<string, RawTensor>): Map<string, RawTensor> {
  const upcast = new Map<string, RawTensor>();
  for (const [key, raw] of tensors) {
    upcast.set(key, { dtype: "F32", shape: raw.shape, data: fromFloat32(toFloat32(raw), "F32") });
  }
  return upcast;
}

/** What every `peft_lora/case.json` of a transformers model records of PEFT's training run. */
export interface PeftLoraTraining {
  /** The training batch. */
  input_ids: number[][];
  /** PEFT's loss at each AdamW step. */
  losses: number[];
}

/**
 * PEFT's LoRA run on a transformers model (fixtures/README.md, "hf/"): the model folder
 * `fixtures/hf/<architecture>/` (trailing slash), the `training` record of its `peft_lora/case.json`, and PEFT's
 * `trained` and `merged` logits from `peft_lora/logits.safetensors`.
 */
export async function readPeftLoraCase<Training extends PeftLoraTraining = PeftLoraTraining>(
  architecture: string,
): Promise<{ directory: string; training: Training; logits: ReadonlyMap<string, RawTensor> }> {
  const directory = fixturePath(`hf/${architecture}/`);
  const caseJson = await readJsonFile<{ training: Training }>(`${directory}peft_lora/case.json`);
  const logits = (await readSafetensorsFile(`${directory}peft_lora/logits.safetensors`)).tensors;
  return { directory, training: caseJson.training, logits };
}
