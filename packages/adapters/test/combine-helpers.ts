import type { RawTensor } from "@peftjs/io";
import { expect } from "vitest";
import {
  adapterDeltas,
  type LoraAdapter,
  LoraModel,
  type Matrix,
  maxAbsDifference,
  multiply,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, readMatrices, readRaw } from "./helpers.js";
import { logitsOf, maxAbs, referenceLogits, storiesModel } from "./model-helpers.js";

// Shared by the add_weighted_adapter tests. Tolerances (fixture README, "Tolerances observed"): combinations
// of deterministic inputs match PEFT's deltas to 1e-6 abs (PEFT vs a float64 re-implementation: ≤ 8.6e-8);
// logits of an adapter on the fp32 base to 1e-3 abs (|logit| ≤ 20; merged vs unmerged in PEFT: 3.1e-5).

/** Max abs difference allowed between our combined deltas and PEFT's. */
export const deltaTolerance = 1e-6;
/** Max abs difference allowed between our logits and PEFT's. */
export const logitTolerance = 1e-3;

/** Adapter a of both cases (`lora_default/adapter_trained`) and adapter b of `case` (`weighted` or `combine_more`). */
export async function caseAdapters(caseName: "weighted" | "combine_more"): Promise<LoraAdapter[]> {
  return [
    await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")),
    await loadPeftAdapter(fixturePath(`peft/${caseName}/adapter_b_trained`)),
  ];
}

/** B'·A' per module (the combined adapters have scaling 1, so this is their delta). */
export function productDeltas(adapter: LoraAdapter): Map<string, Matrix> {
  const result = new Map<string, Matrix>();
  for (const [name, { loraA, loraB }] of adapter.modules) result.set(name, multiply(loraB, loraA));
  return result;
}

/** max over modules of max |ours − PEFT's deltas file|, with the same module set on both sides. */
export async function maxDeltaDifference(adapter: LoraAdapter, deltasFile: string): Promise<number> {
  const expected = await readMatrices(deltasFile);
  const ours = adapterDeltas(adapter);
  expect([...ours.keys()].sort()).toEqual([...expected.keys()].sort());
  let max = 0;
  for (const [module, delta] of ours) {
    max = Math.max(max, maxAbsDifference(delta, expected.get(module) as Matrix));
  }
  return max;
}

/**
 * max |logits − PEFT's io.<key>| of `adapter` on a fresh stories260K base over the case's eval batch. The only
 * place these tests use the model API (so the model-layer refactor touches one function).
 */
export async function maxLogitDifference(
  caseName: "weighted" | "combine_more",
  adapter: LoraAdapter,
  key: string,
): Promise<number> {
  const { inputIds, logits } = await referenceLogits(caseName);
  const model = await storiesModel();
  const lora = LoraModel.create(model);
  lora.loadAdapter("combined", adapter);
  return maxAbs(logitsOf(model, inputIds), logits.get(key) as Float32Array);
}

/** PEFT's recorded DARE masks of a combine_more run: `<module>.lora_A.a` → uint8 (1 = kept). */
export async function recordedMasks(label: "dare_linear" | "dare_ties"): Promise<Map<string, Uint8Array>> {
  const raw = await readRaw(`peft/combine_more/dare_masks_${label}.safetensors`);
  const masks = new Map<string, Uint8Array>();
  for (const [key, tensor] of raw as Map<string, RawTensor>) {
    expect(tensor.dtype).toBe("U8");
    masks.set(key, new Uint8Array(tensor.data));
  }
  return masks;
}
