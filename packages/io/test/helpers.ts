import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Dtype } from "../src/index.js";

/** The copied reference fixtures (see fixtures/safetensors/README.md). */
export const fixturesFolder = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "safetensors");

/** Names (without extension) of the valid single-file fixtures. */
export const validFixtureNames = readdirSync(fixturesFolder)
  .filter((file) => file.endsWith(".safetensors"))
  .map((file) => file.slice(0, -".safetensors".length))
  .sort();

/** Names (without extension) of the files under invalid/. */
export const invalidFixtureNames = readdirSync(join(fixturesFolder, "invalid"))
  .filter((file) => file.endsWith(".safetensors"))
  .map((file) => file.slice(0, -".safetensors".length))
  .sort();

/** The bytes of a fixture file, in a buffer of their own. */
export function fixtureBytes(relativePath: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(readFileSync(join(fixturesFolder, relativePath)));
}

/** A parsed fixture JSON. */
export function fixtureJson<T = Record<string, unknown>>(relativePath: string): T {
  return JSON.parse(readFileSync(join(fixturesFolder, relativePath), "utf8")) as T;
}

/** One tensor entry of a valid fixture's JSON. */
export interface ExpectedTensor {
  dtype: Dtype;
  shape: number[];
  data_offsets: [number, number];
  bits?: Array<number | string>;
  values?: unknown[];
  packed_bytes?: number[];
}

/**
 * The exact little-endian bytes a fixture tensor must have, rebuilt from its JSON: raw bit patterns for
 * floats (`bits`, 64-bit ones as decimal strings), values for integers and BOOL, packed bytes for F4.
 */
export function expectedBytes(tensor: ExpectedTensor): Uint8Array {
  if (tensor.packed_bytes !== undefined) return Uint8Array.from(tensor.packed_bytes);
  if (tensor.dtype === "C64" && tensor.bits === undefined) {
    // numpy's fixture gives complex values as [re, im] pairs, exactly representable in float32.
    return new Uint8Array(Float32Array.from((tensor.values as number[][]).flat()).buffer);
  }
  const source = tensor.bits ?? (tensor.values as unknown[]);
  switch (tensor.dtype) {
    case "F64":
    case "U64":
      return new Uint8Array(BigUint64Array.from(source, (item) => BigInt(item as string)).buffer);
    case "I64":
      return new Uint8Array(BigInt64Array.from(source, (item) => BigInt(item as string)).buffer);
    case "F32":
    case "C64":
    case "U32":
      return new Uint8Array(Uint32Array.from(source as number[]).buffer);
    case "I32":
      return new Uint8Array(Int32Array.from(source as number[]).buffer);
    case "F16":
    case "BF16":
    case "U16":
      return new Uint8Array(Uint16Array.from(source as number[]).buffer);
    case "I16":
      return new Uint8Array(Int16Array.from(source as number[]).buffer);
    case "I8":
      return new Uint8Array(Int8Array.from(source as number[]).buffer);
    case "BOOL":
      return Uint8Array.from(source, (item) => (item === true ? 1 : 0));
    default:
      return Uint8Array.from(source as number[]);
  }
}

/** A fixture `values` entry as a number (the strings NaN, Infinity, -Infinity, -0 included). */
export function fixtureNumber(value: unknown): number {
  if (value === "NaN") return Number.NaN;
  if (value === "Infinity") return Number.POSITIVE_INFINITY;
  if (value === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (value === "-0") return -0;
  return Number(value);
}
