// Minimal fixture reader for the benchmark: float32 tensors of a safetensors file (via @peftjs/io).
import { readFileSync } from "node:fs";
import { deserialize, toFloat32 } from "@peftjs/io";

/** name → { shape, values: Float32Array } */
export function readRaw(path) {
  const { tensors } = deserialize(new Uint8Array(readFileSync(path)));
  const result = new Map();
  for (const [name, raw] of tensors) result.set(name, { shape: raw.shape, values: toFloat32(raw) });
  return result;
}
