import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { deserialize, type RawTensor, toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { expect } from "vitest";
import { type CausalLM, createModel } from "../src/index.js";

const stories260k = new URL("./fixtures/stories260k/", import.meta.url);

/** A fresh stories260K model (llama2.c's, `fixtures/stories260k/`: its config.json and fp32 weights). */
export function stories260kModel(): CausalLM {
  return createModel(
    JSON.parse(readFileSync(new URL("config.json", stories260k), "utf8")),
    deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", stories260k)))).tensors,
  );
}

/** stories260K's reference.json: llama2.c's greedy continuation of BOS. */
export function stories260kReference(): { greedy_token_ids: number[] } {
  return JSON.parse(readFileSync(new URL("reference.json", stories260k), "utf8")) as {
    greedy_token_ids: number[];
  };
}

/** One transformers reference case, `fixtures/hf/<name>/` (see fixtures/hf/README.md). */
export interface HfReference<Reference> {
  /** The case's folder (a model folder `loadModel` reads), with a trailing slash. */
  readonly directory: string;
  /** Its reference.json. */
  readonly reference: Reference;
  /** The tensors of its reference.safetensors (`input_ids`, `logits`, `greedy_input_ids`, …). */
  readonly tensors: ReadonlyMap<string, RawTensor>;
  /** A 2-D reference tensor (token ids) as rows of numbers, as `CausalLM.forward` takes a batch. */
  rows(key: string): number[][];
}

/** Reads the transformers reference case `fixtures/hf/<name>/`. */
export async function readHfReference<Reference>(name: string): Promise<HfReference<Reference>> {
  const directory = fileURLToPath(new URL(`./fixtures/hf/${name}/`, import.meta.url));
  const reference = await readJsonFile<Reference>(`${directory}reference.json`);
  const tensors = (await readSafetensorsFile(`${directory}reference.safetensors`)).tensors;
  const rows = (key: string): number[][] => {
    const raw = tensors.get(key)!;
    const [count, length] = raw.shape as [number, number];
    const values = Array.from(toFloat32(raw));
    return Array.from({ length: count }, (_, row) => values.slice(row * length, (row + 1) * length));
  };
  return { directory, reference, tensors, rows };
}

/** The logits of a batch as one flat float32 array. */
export function logitsOf(model: CausalLM, batch: readonly (readonly number[])[]): Float32Array {
  const logits = model.forward(batch);
  const values = logits.toFloat32Array();
  logits.dispose();
  return values;
}

/** max |a − b| over two arrays of the same length (a test expectation checks the lengths). */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let index = 0; index < a.length; index++) worst = Math.max(worst, Math.abs(a[index]! - b[index]!));
  return worst;
}
