import { fileURLToPath } from "node:url";
import { type RawTensor, toFloat32 } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { type Matrix, matrix } from "../src/index.js";

/** Root of this package's copy of the PEFT reference fixtures (see test/fixtures/README.md). */
export const fixturesDirectory = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** Absolute path of a fixture file, e.g. `fixturePath("peft/pissa/case.json")`. */
export function fixturePath(relative: string): string {
  return `${fixturesDirectory}${relative}`;
}

/** A 2-D raw tensor as a float32 matrix. */
export function rawToMatrix(raw: RawTensor): Matrix {
  return matrix(raw.shape[0] as number, raw.shape[1] as number, toFloat32(raw));
}

/** Every 2-D tensor of a safetensors fixture as a matrix, keyed by tensor name. */
export async function readMatrices(relative: string): Promise<Map<string, Matrix>> {
  const { tensors } = await readSafetensorsFile(fixturePath(relative));
  const result = new Map<string, Matrix>();
  for (const [name, raw] of tensors) if (raw.shape.length === 2) result.set(name, rawToMatrix(raw));
  return result;
}

/** The raw tensors of a safetensors fixture. */
export async function readRaw(relative: string): Promise<Map<string, RawTensor>> {
  return (await readSafetensorsFile(fixturePath(relative))).tensors as Map<string, RawTensor>;
}

/** A fixture case's case.json. */
export async function readCase(name: string): Promise<Record<string, unknown>> {
  return readJsonFile<Record<string, unknown>>(fixturePath(`peft/${name}/case.json`));
}

/** Cases with a PiSSA/OLoRA init (adapter_converted, residual, deltas_init). */
export const mutatingCases = ["pissa", "pissa_patterns", "pissa_niter_4", "pissa_bf16", "olora"] as const;

/** All training cases. */
export const trainingCases = ["lora_default", "lora_gaussian_rslora", ...mutatingCases] as const;

/** Base weight key of a module (`model.layers.0.self_attn.q_proj` → `….q_proj.weight`). */
export function weightKey(moduleName: string): string {
  return `${moduleName}.weight`;
}
