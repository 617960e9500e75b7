import { describe, expect, it } from "vitest";
import { combineWithMaskSource } from "../src/combine/combine-adapters.js";
import type { DareMaskSource } from "../src/combine/dare-masks.js";
import {
  adapterToPeftTensors,
  type CombineOptions,
  combineAdapters,
  decodePeftAdapter,
  encodePeftAdapter,
  loraConfigToJson,
  type Matrix,
  maxAbsDifference,
  readCombinationRecord,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import {
  caseAdapters,
  deltaTolerance,
  logitTolerance,
  maxDeltaDifference,
  maxLogitDifference,
  productDeltas,
  recordedMasks,
} from "./combine-helpers.js";
import { fixturePath, readCase, readRaw } from "./helpers.js";

// peft/combine_more: ties, magnitude_prune, dare_linear, dare_ties, ties_svd (density 0.5) and dare_linear /
// dare_ties at density 1, weights [0.7, 0.3], majority_sign_method "total" (adapter a = lora_default, b =
// combine_more's b). Deterministic types must match PEFT's deltas to 1e-6 abs and its logits to 1e-3 abs; the
// density-0.5 DARE runs are reproduced by replaying PEFT's recorded masks.

const weights = [0.7, 0.3];

type Label =
  | "ties"
  | "magnitude_prune"
  | "ties_svd"
  | "dare_linear_density1"
  | "dare_ties_density1"
  | "dare_linear"
  | "dare_ties";

const deterministic: [Label, CombineOptions][] = [
  ["ties", { type: "ties", density: 0.5, majoritySignMethod: "total" }],
  ["magnitude_prune", { type: "magnitude_prune", density: 0.5 }],
  ["ties_svd", { type: "ties_svd", density: 0.5, majoritySignMethod: "total" }],
  ["dare_linear_density1", { type: "dare_linear", density: 1 }],
  ["dare_ties_density1", { type: "dare_ties", density: 1, majoritySignMethod: "total" }],
];

type Recorded = {
  max_rel_fro_delta_vs_exact_weighted_sum: number;
  mask_keep_fraction?: number;
};

async function recorded(label: Label): Promise<Recorded> {
  return ((await readCase("combine_more")).results as Record<string, Recorded>)[label] as Recorded;
}

/** PEFT's masks, keyed `<module>.lora_A.a` (adapter a = index 0, b = index 1). */
async function peftMaskSource(label: "dare_linear" | "dare_ties"): Promise<DareMaskSource> {
  const masks = await recordedMasks(label);
  return ({ module, tensor, adapterIndex, length }) => {
    const mask = masks.get(`${module}.${tensor}.${adapterIndex === 0 ? "a" : "b"}`);
    expect(mask?.length).toBe(length);
    return mask as Uint8Array;
  };
}

async function expectPeftConfig(label: Label, ours: ReturnType<typeof loraConfigToJson>): Promise<void> {
  const expected = loraConfigToJson(
    (await loadPeftAdapter(fixturePath(`peft/combine_more/combined/combined_${label}`))).config,
  );
  const sorted = (json: ReturnType<typeof loraConfigToJson>) => ({
    ...json,
    target_modules: [...(json.target_modules as string[])].sort(),
  });
  expect(sorted(ours)).toEqual(sorted(expected));
}

describe("deterministic combinations (peft/combine_more)", () => {
  it.each(deterministic)(
    "%s matches PEFT's deltas (1e-6 abs), logits (1e-3 abs), config and relative error",
    async (label, options) => {
      const { adapter, report, randomPruning } = combineAdapters(
        await caseAdapters("combine_more"),
        weights,
        options,
      );
      await expectPeftConfig(label, loraConfigToJson(adapter.config));
      expect(await maxDeltaDifference(adapter, `peft/combine_more/deltas_${label}.safetensors`)).toBeLessThan(
        deltaTolerance,
      );
      expect(await maxLogitDifference("combine_more", adapter, `combined_${label}`)).toBeLessThan(
        logitTolerance,
      );
      expect(report.maxRelativeError).toBeCloseTo(
        (await recorded(label)).max_rel_fro_delta_vs_exact_weighted_sum,
        4,
      );
      expect(randomPruning).toBeNull();
    },
  );

  it("dare_linear at density 1 is exactly linear (PEFT: 0.0 difference), with a no-pruning note", async () => {
    const adapters = await caseAdapters("combine_more");
    const dare = combineAdapters(adapters, weights, { type: "dare_linear", density: 1 });
    const linear = combineAdapters(adapters, weights, { type: "linear" });
    for (const [name, factors] of dare.adapter.modules) {
      expect(factors.loraA.data).toEqual(linear.adapter.modules.get(name)?.loraA.data);
      expect(factors.loraB.data).toEqual(linear.adapter.modules.get(name)?.loraB.data);
    }
    expect(dare.notes.map((note) => note.code)).toEqual(["no_pruning"]);
    // no random draws, so no seed is recorded
    expect(readCombinationRecord(dare.adapter.metadata)).toEqual({
      type: "dare_linear",
      applied_type: "dare_linear",
      weights,
      density: 1,
    });
  });

  it("ties and magnitude_prune act on the factors: far from Σ w·ΔW, as PEFT's own results", async () => {
    const adapters = await caseAdapters("combine_more");
    for (const [label, options] of deterministic) {
      const { report } = combineAdapters(adapters, weights, options);
      // PEFT: ties 0.879, magnitude_prune 0.867, ties_svd 0.460, dare_linear(1) 0.821, dare_ties(1) 0.868
      expect(report.maxRelativeError, label).toBeGreaterThan(0.4);
    }
  });

  it("majority_sign_method frequency differs from total on the same inputs", async () => {
    const adapters = await caseAdapters("combine_more");
    const total = combineAdapters(adapters, weights, { type: "ties", density: 0.5 });
    const frequency = combineAdapters(adapters, weights, {
      type: "ties",
      density: 0.5,
      majoritySignMethod: "frequency",
    });
    const name = "model.layers.0.self_attn.q_proj";
    expect(frequency.adapter.modules.get(name)?.loraA.data).not.toEqual(
      total.adapter.modules.get(name)?.loraA.data,
    );
    expect(readCombinationRecord(frequency.adapter.metadata)?.majority_sign_method).toBe("frequency");
  });
});

describe("DARE with PEFT's recorded masks (replay seam)", () => {
  it.each([
    ["dare_linear", { type: "dare_linear", density: 0.5 }],
    ["dare_ties", { type: "dare_ties", density: 0.5, majoritySignMethod: "total" }],
  ] as ["dare_linear" | "dare_ties", CombineOptions][])(
    "%s replayed on PEFT's masks matches its deltas (1e-6 abs) and logits (1e-3 abs)",
    async (label, options) => {
      const result = combineWithMaskSource(
        await caseAdapters("combine_more"),
        weights,
        options,
        await peftMaskSource(label),
      );
      await expectPeftConfig(label, loraConfigToJson(result.adapter.config));
      expect(
        await maxDeltaDifference(result.adapter, `peft/combine_more/deltas_${label}.safetensors`),
      ).toBeLessThan(deltaTolerance);
      expect(await maxLogitDifference("combine_more", result.adapter, `combined_${label}`)).toBeLessThan(
        logitTolerance,
      );
      const peft = await recorded(label);
      expect(result.report.maxRelativeError).toBeCloseTo(peft.max_rel_fro_delta_vs_exact_weighted_sum, 4);
      // 10 modules × 2 adapters × (A + B) masks; PEFT's keep fraction 0.4989
      expect(result.randomPruning?.totalElements).toBe(17920);
      expect(
        (result.randomPruning?.keptElements as number) / (result.randomPruning?.totalElements as number),
      ).toBeCloseTo(peft.mask_keep_fraction as number, 10);
      // injected masks are recorded as such, with no seed
      expect(result.randomPruning?.seed).toBeNull();
      expect(readCombinationRecord(result.adapter.metadata)?.masks).toBe("injected");
      expect(readCombinationRecord(result.adapter.metadata)?.seed).toBeUndefined();
    },
  );

  it("the replay is sensitive to the masks: our own Philox masks give another result", async () => {
    const adapters = await caseAdapters("combine_more");
    const ours = combineAdapters(adapters, weights, { type: "dare_linear", density: 0.5, seed: 1234 });
    const replayed = combineWithMaskSource(
      adapters,
      weights,
      { type: "dare_linear", density: 0.5 },
      await peftMaskSource("dare_linear"),
    );
    const name = "model.layers.0.self_attn.q_proj";
    const difference = maxAbsDifference(
      productDeltas(ours.adapter).get(name) as Matrix,
      productDeltas(replayed.adapter).get(name) as Matrix,
    );
    expect(difference).toBeGreaterThan(1e-3);
  });
});

describe("files", () => {
  it.each([
    ...deterministic,
    ["dare_linear", { type: "dare_linear", density: 0.5 }],
    ["dare_ties", { type: "dare_ties", density: 0.5 }],
  ] as [Label, CombineOptions][])(
    "%s is written with the keys, shapes and dtypes of PEFT's file, and reads back with its record",
    async (label, options) => {
      const { adapter } = combineAdapters(await caseAdapters("combine_more"), weights, options);
      const ours = adapterToPeftTensors(adapter).tensors;
      const peft = await readRaw(`peft/combine_more/combined/combined_${label}/adapter_model.safetensors`);
      const layout = (tensors: Map<string, { dtype: string; shape: number[] }>) =>
        [...tensors].map(([key, { dtype, shape }]) => `${key} ${dtype} [${shape}]`).sort();
      expect(layout(ours)).toEqual(layout(peft));
      const encoded = encodePeftAdapter(adapter);
      const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
      expect(decoded.modules).toEqual(adapter.modules);
      expect(readCombinationRecord(decoded.metadata)).toEqual(readCombinationRecord(adapter.metadata));
    },
  );
});
