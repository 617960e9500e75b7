/**
 * Facts about the element types of tensors: how many bytes an element takes in storage, which typed array holds
 * it, which dtypes are floating point. The engine's byte accounting (`memory().bytes`) and the backends'
 * allocations come from here, so that no place assumes four bytes per element.
 */
import type { DType, HalfDType, StorageValues } from "../backend/backend.js";

/** Every dtype a tensor may have. */
export const dtypes: readonly DType[] = ["float32", "int32", "float16", "bfloat16"];

/** True for a name of {@link dtypes}. */
export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (dtypes as readonly string[]).includes(value);
}

/** True for `float16` and `bfloat16`, the 16-bit storage types. */
export function isHalfDType(dtype: DType): dtype is HalfDType {
  return dtype === "float16" || dtype === "bfloat16";
}

/** True for every floating-point dtype (float32 and the 16-bit storage types). */
export function isFloatDType(dtype: DType): boolean {
  return dtype !== "int32";
}

/** Bytes one element of `dtype` occupies in a backend's storage (`memory().bytes` counts these). */
export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case "float32":
    case "int32":
      return 4;
    case "float16":
    case "bfloat16":
      return 2;
  }
}

/** Bytes of `size` elements of `dtype`. */
export function storageBytes(dtype: DType, size: number): number {
  return bytesPerElement(dtype) * size;
}

/** A zero-filled typed array for `size` elements of `dtype` in storage form (bit patterns for 16-bit types). */
export function allocateStorage(dtype: DType, size: number): StorageValues {
  switch (dtype) {
    case "float32":
      return new Float32Array(size);
    case "int32":
      return new Int32Array(size);
    case "float16":
    case "bfloat16":
      return new Uint16Array(size);
  }
}
