import { describe, expect, it } from "vitest";
import {
  AdapterCombinationError,
  adapterDeltas,
  type CombinationType,
  combineAdapters,
  loraConfigToJson,
  type Matrix,
  relativeError,
  scale,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, readCase, readMatrices } from "./helpers.js";

const weights = [0.6, 0.4];

async function sources() {
  return [
    await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained")),
    await loadPeftAdapter(fixturePath("peft/weighted/adapter_b_trained")),
  ];
}

describe("weighted combination (PEFT add_weighted_adapter)", () => {
  it.each([
    ["cat", 16],
    ["linear", 8],
    ["svd", 8],
  ] as [CombinationType, number][])(
    "%s reproduces PEFT's combined adapter and reports its error",
    async (type, rank) => {
      const fixture = await readCase("weighted");
      const recorded = (
        fixture.results as Record<string, { max_rel_fro_delta_vs_exact_weighted_sum: number }>
      )[type];
      const { adapter, report } = combineAdapters(await sources(), weights, { type, svdRank: 8 });
      const expected = await loadPeftAdapter(fixturePath(`peft/weighted/combined/combined_${type}`));
      const expectedJson = loraConfigToJson(expected.config);
      const ourJson = loraConfigToJson(adapter.config);
      expect({ ...ourJson, target_modules: [...(ourJson.target_modules as string[])].sort() }).toEqual({
        ...expectedJson,
        target_modules: [...(expectedJson.target_modules as string[])].sort(),
      });
      expect(adapter.config.r).toBe(rank);
      const expectedDeltas = await readMatrices(`peft/weighted/deltas_${type}.safetensors`);
      for (const [module, delta] of adapterDeltas(adapter)) {
        // same arithmetic in float32 storage (SVD: another implementation, products agree to ~1e-6)
        expect(relativeError(delta, expectedDeltas.get(module) as Matrix)).toBeLessThan(1e-5);
      }
      // PEFT's recorded max per-module relative error vs the exact weighted sum (cat 6e-8, linear 0.93, svd 0.26)
      expect(report.maxRelativeError).toBeCloseTo(
        recorded?.max_rel_fro_delta_vs_exact_weighted_sum as number,
        4,
      );
    },
  );

  it("cat is exact: its deltas equal the exact weighted sum", async () => {
    const { adapter } = combineAdapters(await sources(), weights, { type: "cat" });
    const exact = await readMatrices("peft/weighted/deltas_exact_weighted_sum.safetensors");
    for (const [module, delta] of adapterDeltas(adapter)) {
      expect(relativeError(delta, exact.get(module) as Matrix)).toBeLessThan(1e-6);
    }
  });

  it("does not reproduce PEFT's rsLoRA-first bug (issue #3761): the combined scaling stays 1", async () => {
    const rslora = await loadPeftAdapter(fixturePath("peft/lora_gaussian_rslora/adapter_trained"));
    const [a] = await sources();
    const { adapter, report } = combineAdapters([rslora, a as never], weights, { type: "cat" });
    expect(adapter.config.use_rslora).toBe(false);
    expect(adapter.config.r).toBe(12);
    expect(report.maxRelativeError).toBeLessThan(1e-6);
    const peftBuggy = await loadPeftAdapter(fixturePath("peft/weighted/combined/combined_cat_rslora_first"));
    expect(peftBuggy.config.use_rslora).toBe(true);
    const ours = adapterDeltas(adapter);
    for (const [module, delta] of adapterDeltas(peftBuggy)) {
      // PEFT's delta is √12 = 3.4641 × the intended one
      expect(relativeError(delta, scale(ours.get(module) as Matrix, Math.sqrt(12)))).toBeLessThan(1e-5);
    }
  });

  it("allows negative weights (task negation) and stays exact with cat", async () => {
    const { report } = combineAdapters(await sources(), [1, -1], { type: "cat" });
    expect(report.maxRelativeError).toBeLessThan(1e-6);
    const linear = combineAdapters(await sources(), [0.5, -0.5], { type: "linear" });
    expect(Number.isFinite(linear.report.totalRelativeError)).toBe(true);
  });

  it("refuses bad requests", async () => {
    const adapters = await sources();
    expect(() => combineAdapters([], [], { type: "cat" })).toThrow(AdapterCombinationError);
    expect(() => combineAdapters(adapters, [1], { type: "cat" })).toThrow(/2 adapters but 1 weights/);
    const rslora = await loadPeftAdapter(fixturePath("peft/lora_gaussian_rslora/adapter_trained"));
    expect(() => combineAdapters([rslora, adapters[0] as never], weights, { type: "linear" })).toThrow(
      /same rank/,
    );
    expect(() => combineAdapters(adapters, weights, { type: "ties" as CombinationType })).toThrow(
      /unknown combination/,
    );
  });
});
