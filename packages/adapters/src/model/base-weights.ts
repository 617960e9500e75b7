import { fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import type { WeightStore } from "@peftjs/state";
import { fromRaw, keep, type Tensor, tensor } from "@peftjs/tensor";
import type { BaseWeight, BaseWeightDtype } from "../inits/registry.js";
import { type Matrix, matrix } from "../math/matrix.js";

// The bridge between the adapters and @peftjs/state: the model's weight store (its identity, weights as
// stored) is the source of truth for W. Inits and guards read W from it on the host, in the stored dtype's
// values; residual mode and mergeAndUnload change it only through its journaled `mutate`, and the layer then
// computes with exactly the values stored.

/** Who changes base weights, in the store's journal. */
const actor = "@peftjs/adapters";

/** The store key of a module's weight (`model.layers.0.self_attn.q_proj` → `….q_proj.weight`). */
export function weightKey(modulePath: string): string {
  return `${modulePath}.weight`;
}

function storageDtype(dtype: string): BaseWeightDtype {
  return dtype === "BF16" || dtype === "F16" ? dtype : "F32";
}

/**
 * The base weight of a module as an init or guard reads it: the store's tensor (float32 values, its dtype),
 * or, for a module without its own tensor there (an output head tied to the embedding), the layer's weight.
 */
export function readBaseWeight(store: WeightStore, modulePath: string, layerWeight: Tensor): BaseWeight {
  const key = weightKey(modulePath);
  if (!store.has(key)) {
    const [rows, columns] = layerWeight.shape as [number, number];
    return lazyBaseWeight(() => matrix(rows, columns, layerWeight.toFloat32Array()), "F32", layerWeight);
  }
  const stored = store.get(key);
  // The layer computes with exactly the stored values (see rewriteBaseWeight), so its tensor is W on the
  // backend; the host values are read from the store only if an init asks for them.
  return lazyBaseWeight(
    () => {
      const raw = stored.toRaw();
      return matrix(raw.shape[0] as number, raw.shape[1] as number, toFloat32(raw));
    },
    storageDtype(stored.dtype),
    layerWeight,
  );
}

/** A {@link BaseWeight} whose host values are read on first access (once). */
function lazyBaseWeight(read: () => Matrix, dtype: BaseWeightDtype, tensor: Tensor): BaseWeight {
  let values: Matrix | undefined;
  return {
    get values() {
      values ??= read();
      return values;
    },
    dtype,
    tensor,
  };
}

/**
 * Replaces a module's base weight by `values` through the store's `mutate` (journaled, warned by the store's
 * policy; a module without its own tensor there is left out of the store) and returns the float32 tensor the
 * layer computes with: the values rounded through the stored dtype, so what runs is what is stored (a BF16/F16
 * weight stays 16-bit on the device, as the model loads it).
 */
export function rewriteBaseWeight(
  store: WeightStore,
  modulePath: string,
  values: Matrix,
  reason: string,
): Tensor {
  const key = weightKey(modulePath);
  const dtype = store.has(key) ? storageDtype(store.get(key).dtype) : "F32";
  const stored: RawTensor = {
    dtype,
    shape: [values.rows, values.columns],
    data: fromFloat32(values.data, dtype),
  };
  if (store.has(key)) store.mutate(key, stored, { reason, by: actor });
  const deviceDtype = dtype === "BF16" ? "bfloat16" : dtype === "F16" ? "float16" : "float32";
  return keep(fromRaw(stored, { dtype: deviceDtype }));
}

/**
 * Replaces the stored tensor `key` (any shape, e.g. a norm's `[hidden]` weight) by `values` through the store's
 * `mutate`, rounded to its stored dtype; returns the float32 tensor the model computes with. A key the store does
 * not hold (a tied head's weight) is left out of the store.
 */
export function rewriteBaseTensor(
  store: WeightStore,
  key: string,
  values: Float32Array,
  shape: readonly number[],
  reason: string,
): Tensor {
  const dtype = store.has(key) ? storageDtype(store.get(key).dtype) : "F32";
  const stored: RawTensor = { dtype, shape: [...shape], data: fromFloat32(values, dtype) };
  if (store.has(key)) store.mutate(key, stored, { reason, by: actor });
  return keep(tensor(toFloat32(stored), stored.shape));
}

/** The store key of a module's bias (`….q_proj` → `….q_proj.bias`). */
export function biasKey(modulePath: string): string {
  return `${modulePath}.bias`;
}

/**
 * Replaces a module's base bias by `values` through the store's `mutate` (journaled, warned), as
 * {@link rewriteBaseWeight} does for weights: `mergeAndUnload` of an adapter that trained biases. Returns the
 * float32 tensor the new layer computes with (rounded through the stored dtype).
 */
export function rewriteBaseBias(
  store: WeightStore,
  modulePath: string,
  values: Float32Array,
  reason: string,
): Tensor {
  const key = biasKey(modulePath);
  const dtype = store.has(key) ? storageDtype(store.get(key).dtype) : "F32";
  const stored: RawTensor = { dtype, shape: [values.length], data: fromFloat32(values, dtype) };
  if (store.has(key)) store.mutate(key, stored, { reason, by: actor });
  return keep(fromRaw(stored, { dtype: "float32" }));
}
