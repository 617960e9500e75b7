import type { Dtype } from "./dtype.js";

/**
 * A tensor as stored in a safetensors file: its dtype, its shape and its bytes, little-endian and row-major,
 * exactly as in the file. `data` is often a view into a larger buffer; treat it as read-only.
 */
export interface RawTensor {
  /** The element type. */
  dtype: Dtype;
  /** The dimensions; `[]` is a scalar (one element). */
  shape: number[];
  /** The raw bytes (for F4 two elements per byte). */
  data: Uint8Array;
}

/** The entries of a header: one per tensor, in file (offset) order. */
export interface TensorInfo {
  /** The tensor's name (any string, including `""`). */
  name: string;
  /** The element type. */
  dtype: Dtype;
  /** The dimensions. */
  shape: number[];
  /** Start and end of the tensor's bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** Tensors to write, by name: a plain record or a `Map` (whose insertion order does not matter). */
export type TensorMap = Record<string, RawTensor> | Map<string, RawTensor>;

/** Lists the entries of a {@link TensorMap}. */
export function tensorEntries<T>(tensors: Record<string, T> | Map<string, T>): Array<[string, T]> {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}
