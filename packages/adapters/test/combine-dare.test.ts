import { describe, expect, it } from "vitest";
import { combineWithMaskSource } from "../src/combine/combine-adapters.js";
import { type DareMaskRequest, philoxDareMasks } from "../src/combine/dare-masks.js";
import {
  type CombineOptions,
  combineAdapters,
  type LoraAdapter,
  type Matrix,
  maxAbsDifference,
  multiply,
  readCombinationRecord,
  relativeError,
  truncatedSvd,
} from "../src/index.js";
import { caseAdapters, productDeltas } from "./combine-helpers.js";

// DARE with our seeded Philox masks. PEFT's torch masks cannot be reproduced, so: the keep fraction and the
// 1/density rescaling are checked statistically and exactly against the masks actually drawn, the seed is
// recorded and replays the result, and the *_svd types (absent from the fixtures) are checked against their
// definitions computed independently here.

const weights = [0.7, 0.3];

/** Runs a combination on Philox masks of `seed` and records every mask drawn, in order. */
function withRecordedMasks(adapters: LoraAdapter[], options: CombineOptions & { seed: number }) {
  const drawn: { request: DareMaskRequest; mask: Uint8Array }[] = [];
  const philox = philoxDareMasks(options.seed);
  const result = combineWithMaskSource(adapters, weights, options, (request) => {
    const mask = philox(request);
    drawn.push({ request, mask });
    return mask;
  });
  return { result, drawn };
}

/** |f − d| bound of a Bernoulli(d) keep fraction over n draws: 5 standard deviations. */
function keepFractionBound(density: number, count: number): number {
  return 5 * Math.sqrt((density * (1 - density)) / count);
}

describe("Philox masks: keep fraction", () => {
  it.each([0.1, 0.5, 0.9])("density %f: the keep fraction of 10⁶ draws is within 5σ", (density) => {
    const count = 1_000_000;
    const mask = philoxDareMasks(7)({
      module: "m",
      tensor: "lora_A",
      adapterIndex: 0,
      length: count,
      density,
    });
    const kept = mask.reduce((sum, value) => sum + value, 0);
    expect(Math.abs(kept / count - density)).toBeLessThan(keepFractionBound(density, count));
  });

  it.each([0.2, 0.5, 0.8])(
    "dare_ties at density %f on combine_more: keep fraction within 5σ",
    async (density) => {
      const { randomPruning } = combineAdapters(await caseAdapters("combine_more"), weights, {
        type: "dare_ties",
        density,
        seed: 42,
      });
      const { keptElements, totalElements } = randomPruning as {
        keptElements: number;
        totalElements: number;
      };
      expect(totalElements).toBe(17920);
      expect(Math.abs(keptElements / totalElements - density)).toBeLessThan(
        keepFractionBound(density, totalElements),
      );
    },
  );
});

describe("dare_linear: rescaling by 1/density", () => {
  it("A' and B' are exactly Σ wᵢ·(xᵢ·maskᵢ/density) for the masks drawn (lora_A's first, then lora_B's)", async () => {
    const adapters = await caseAdapters("combine_more");
    const density = 0.3;
    const { result, drawn } = withRecordedMasks(adapters, { type: "dare_linear", density, seed: 5 });
    const name = "model.layers.2.self_attn.v_proj";
    const masks = drawn.filter(({ request }) => request.module === name);
    expect(masks.map(({ request }) => `${request.tensor}.${request.adapterIndex}`)).toEqual([
      "lora_A.0",
      "lora_A.1",
      "lora_B.0",
      "lora_B.1",
    ]);
    const scalings = [2, 2]; // both adapters: r 8, alpha 16
    for (const [tensor, offset] of [
      ["loraA", 0],
      ["loraB", 2],
    ] as const) {
      const expected = new Float32Array(adapters[0]?.modules.get(name)?.[tensor].data.length as number);
      adapters.forEach((adapter, index) => {
        const product = (weights[index] as number) * (scalings[index] as number);
        const weight = Math.fround(Math.sqrt(product));
        const values = adapter.modules.get(name)?.[tensor].data as Float32Array;
        const mask = masks[offset + index]?.mask as Uint8Array;
        for (let element = 0; element < expected.length; element++) {
          const rescaled =
            mask[element] === 1 ? Math.fround((values[element] as number) / Math.fround(density)) : 0;
          expected[element] = (expected[element] as number) + Math.fround(rescaled * weight);
        }
      });
      expect(result.adapter.modules.get(name)?.[tensor].data).toEqual(expected);
    }
  });

  it("is unbiased: the mean of B'·A' over 64 seeds approaches linear's (without rescaling it would not)", async () => {
    const adapters = await caseAdapters("combine_more");
    const linear = productDeltas(combineAdapters(adapters, weights, { type: "linear" }).adapter);
    const density = 0.5;
    const seeds = 64;
    const sums = new Map<string, Float64Array>();
    let single = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const deltas = productDeltas(
        combineAdapters(adapters, weights, { type: "dare_linear", density, seed }).adapter,
      );
      for (const [name, delta] of deltas) {
        const sum = sums.get(name) ?? new Float64Array(delta.data.length);
        for (let index = 0; index < sum.length; index++)
          sum[index] = (sum[index] as number) + (delta.data[index] as number);
        sums.set(name, sum);
        if (seed === 0) single = Math.max(single, relativeError(delta, linear.get(name) as Matrix));
      }
    }
    let worst = 0;
    for (const [name, sum] of sums) {
      const reference = linear.get(name) as Matrix;
      const mean: Matrix = { ...reference, data: Float32Array.from(sum, (value) => value / seeds) };
      worst = Math.max(worst, relativeError(mean, reference));
    }
    // A and B masks are independent, so E[B'A'] = E[B']·E[A'] = linear's B'A'. One draw is ≥ 1.5 off; the mean
    // of 64 shrinks that ~8×. Forgetting the 1/density rescaling would leave the mean at density² = 0.25 × linear
    // (relative error 0.75).
    expect(single).toBeGreaterThan(1);
    expect(worst).toBeLessThan(0.35);
  });
});

describe("seed: recorded, reproducible", () => {
  it("the same seed gives the same adapter, another seed another; the seed is in the metadata", async () => {
    const adapters = await caseAdapters("combine_more");
    const options: CombineOptions = { type: "dare_ties", density: 0.5, seed: 1234 };
    const first = combineAdapters(adapters, weights, options);
    const again = combineAdapters(adapters, weights, options);
    const other = combineAdapters(adapters, weights, { ...options, seed: 1235 });
    const name = "model.layers.4.self_attn.q_proj";
    expect(again.adapter.modules.get(name)).toEqual(first.adapter.modules.get(name));
    expect(other.adapter.modules.get(name)?.loraA.data).not.toEqual(
      first.adapter.modules.get(name)?.loraA.data,
    );
    const record = readCombinationRecord(first.adapter.metadata);
    expect(record).toEqual({
      type: "dare_ties",
      applied_type: "dare_ties",
      weights,
      density: 0.5,
      majority_sign_method: "total",
      seed: 1234,
    });
    expect(first.randomPruning?.seed).toBe(1234);
    // replaying from the record alone
    const replay = combineAdapters(adapters, record?.weights as number[], {
      type: record?.type as "dare_ties",
      density: record?.density,
      seed: record?.seed,
    });
    expect(replay.adapter.modules).toEqual(first.adapter.modules);
  });

  it("defaults to seed 0", async () => {
    const adapters = await caseAdapters("combine_more");
    const { adapter } = combineAdapters(adapters, weights, { type: "dare_linear", density: 0.5 });
    expect(readCombinationRecord(adapter.metadata)?.seed).toBe(0);
    expect(adapter.modules).toEqual(
      combineAdapters(adapters, weights, { type: "dare_linear", density: 0.5, seed: 0 }).adapter.modules,
    );
  });
});

// --- the *_svd types against their definitions (PEFT: merge the deltas sᵢBᵢAᵢ with weights wᵢ, then SVD) ---

/** sᵢ·BᵢAᵢ of one module, as PEFT's get_delta_weight (float32). */
function delta(adapter: LoraAdapter, name: string): Float32Array {
  const { loraA, loraB } = adapter.modules.get(name) as { loraA: Matrix; loraB: Matrix };
  return multiply(loraB, loraA).data.map((value) => value * 2); // s = 16/8
}

/** Top-k |x| by a full sort (an independent formulation of torch.topk). */
function topK(values: Float32Array, density: number): Float32Array {
  const keep = Math.trunc(density * values.length);
  const order = [...values.keys()].sort(
    (left, right) => Math.abs(values[right] as number) - Math.abs(values[left] as number),
  );
  const result = new Float32Array(values.length);
  for (const index of order.slice(0, keep)) result[index] = values[index] as number;
  return result;
}

/** B'·A' of the rank-`rank` truncated SVD of `merged`. */
function truncatedProduct(merged: Matrix, rank: number): Matrix {
  const { left, singularValues, rightTransposed } = truncatedSvd(merged, rank);
  const scaled = {
    ...left,
    data: left.data.map((value, index) => value * (singularValues[index % left.columns] as number)),
  };
  return multiply(scaled, rightTransposed);
}

describe("*_svd types against their definitions", () => {
  const name = "model.layers.1.self_attn.q_proj";

  it("magnitude_prune_svd = truncSVD(Σ wᵢ·topk(ΔWᵢ))", async () => {
    const adapters = await caseAdapters("combine_more");
    const { adapter } = combineAdapters(adapters, weights, { type: "magnitude_prune_svd", density: 0.4 });
    const merged = new Float32Array(64 * 64);
    adapters.forEach((source, index) => {
      const pruned = topK(delta(source, name), 0.4);
      for (let element = 0; element < merged.length; element++) {
        merged[element] =
          (merged[element] as number) + (pruned[element] as number) * (weights[index] as number);
      }
    });
    const expected = truncatedProduct({ rows: 64, columns: 64, data: merged }, 8);
    expect(maxAbsDifference(productDeltas(adapter).get(name) as Matrix, expected)).toBeLessThan(1e-6);
  });

  it("dare_linear_svd = truncSVD(Σ wᵢ·ΔWᵢ·maskᵢ/density), one mask per delta", async () => {
    const adapters = await caseAdapters("combine_more");
    const { result, drawn } = withRecordedMasks(adapters, { type: "dare_linear_svd", density: 0.6, seed: 9 });
    const masks = drawn.filter(({ request }) => request.module === name);
    expect(masks.map(({ request }) => `${request.tensor}.${request.adapterIndex}`)).toEqual([
      "delta.0",
      "delta.1",
    ]);
    const merged = new Float32Array(64 * 64);
    adapters.forEach((source, index) => {
      const values = delta(source, name);
      const mask = masks[index]?.mask as Uint8Array;
      for (let element = 0; element < merged.length; element++) {
        merged[element] =
          (merged[element] as number) +
          (mask[element] ? (values[element] as number) / 0.6 : 0) * (weights[index] as number);
      }
    });
    const expected = truncatedProduct({ rows: 64, columns: 64, data: merged }, 8);
    expect(maxAbsDifference(productDeltas(result.adapter).get(name) as Matrix, expected)).toBeLessThan(1e-6);
  });

  it("dare_ties_svd at full rank is exactly the TIES merge of the rescaled masked deltas", async () => {
    const adapters = await caseAdapters("combine_more");
    const { result, drawn } = withRecordedMasks(adapters, {
      type: "dare_ties_svd",
      density: 0.5,
      seed: 3,
      svdRank: 64,
    });
    const masks = drawn.filter(({ request }) => request.module === name).map(({ mask }) => mask);
    expect(masks).toHaveLength(2);
    const deltas = adapters.map((source) => delta(source, name));
    const product = productDeltas(result.adapter).get(name) as Matrix;
    let checked = 0;
    for (let element = 0; element < 64 * 64; element++) {
      const pruned = deltas.map((values, index) =>
        (masks[index] as Uint8Array)[element] ? (values[element] as number) / 0.5 : 0,
      );
      const elected = pruned[0]! + pruned[1]! >= 0 ? 1 : -1;
      const agreeing = pruned.map((value, index) => ({
        value: value * (weights[index] as number),
        agree: Math.sign(value) === elected,
      }));
      const count = agreeing.filter(({ agree }) => agree).length;
      const expected =
        agreeing.reduce((sum, { value, agree }) => sum + (agree ? value : 0), 0) / Math.max(1, count);
      expect(Math.abs((product.data[element] as number) - expected)).toBeLessThan(1e-6);
      checked++;
    }
    expect(checked).toBe(4096);
  });
});
