/**
 * Facts about the element types of tensors: how many bytes an element takes in storage, which typed array holds
 * it. The engine's byte accounting (`memory().bytes`) and the backends' allocations come from here, so that no
 * place assumes four bytes per element.
 */
import type { DType } from "../backend/backend.js";

/** Bytes one element of `dtype` occupies in a backend's storage (`memory().bytes` counts these). */
export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case "float32":
    case "int32":
      return 4;
  }
}

/** Bytes of `size` elements of `dtype`. */
export function storageBytes(dtype: DType, size: number): number {
  return bytesPerElement(dtype) * size;
}
