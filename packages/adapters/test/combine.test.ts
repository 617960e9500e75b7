import { describe, expect, it } from "vitest";
import {
  AdapterCombinationError,
  adapterDeltas,
  type CombinationType,
  type CombineOptions,
  combineAdapters,
  type LoraAdapter,
  loraConfigToJson,
  type Matrix,
  readCombinationRecord,
  relativeError,
  scale,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import {
  caseAdapters,
  deltaTolerance,
  logitTolerance,
  maxDeltaDifference,
  maxLogitDifference,
} from "./combine-helpers.js";
import { fixturePath, readCase, readMatrices } from "./helpers.js";

// peft/weighted: cat, linear, svd with weights [0.6, 0.4] (adapter a = lora_default, b = weighted's b).
const weights = [0.6, 0.4];

type Recorded = { max_rel_fro_delta_vs_exact_weighted_sum: number };

async function expectPeftConfig(ours: ReturnType<typeof loraConfigToJson>, folder: string): Promise<void> {
  const expected = loraConfigToJson((await loadPeftAdapter(fixturePath(folder))).config);
  const sorted = (json: ReturnType<typeof loraConfigToJson>) => ({
    ...json,
    target_modules: [...(json.target_modules as string[])].sort(),
  });
  expect(sorted(ours)).toEqual(sorted(expected));
}

describe("cat, linear, svd (peft/weighted)", () => {
  it.each([
    ["cat", 16, {}],
    ["linear", 8, {}],
    ["svd", 8, { svdRank: 8 }],
  ] as [CombinationType, number, Partial<CombineOptions>][])(
    "%s reproduces PEFT's combined adapter: config, deltas (1e-6 abs), logits (1e-3 abs), error report",
    async (type, rank, extra) => {
      const fixture = await readCase("weighted");
      const recorded = (fixture.results as Record<string, Recorded>)[type] as Recorded;
      const { adapter, report } = combineAdapters(await caseAdapters("weighted"), weights, {
        type,
        ...extra,
      });
      await expectPeftConfig(loraConfigToJson(adapter.config), `peft/weighted/combined/combined_${type}`);
      expect(adapter.config.r).toBe(rank);
      expect(await maxDeltaDifference(adapter, `peft/weighted/deltas_${type}.safetensors`)).toBeLessThan(
        deltaTolerance,
      );
      expect(await maxLogitDifference("weighted", adapter, `combined_${type}`)).toBeLessThan(logitTolerance);
      // PEFT's recorded max per-module relative error vs the exact weighted sum (cat 6e-8, linear 0.93, svd 0.26)
      expect(report.maxRelativeError).toBeCloseTo(recorded.max_rel_fro_delta_vs_exact_weighted_sum, 4);
    },
  );

  it("cat is exact: its deltas equal the exact weighted sum", async () => {
    const { adapter } = combineAdapters(await caseAdapters("weighted"), weights, { type: "cat" });
    const exact = await readMatrices("peft/weighted/deltas_exact_weighted_sum.safetensors");
    for (const [module, delta] of adapterDeltas(adapter)) {
      expect(relativeError(delta, exact.get(module) as Matrix)).toBeLessThan(1e-6);
    }
  });

  it("does not reproduce PEFT's rsLoRA-first bug (issue #3761): the combined scaling stays 1", async () => {
    const rslora = await loadPeftAdapter(fixturePath("peft/lora_gaussian_rslora/adapter_trained"));
    const [a] = await caseAdapters("weighted");
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
    const { report } = combineAdapters(await caseAdapters("weighted"), [1, -1], { type: "cat" });
    expect(report.maxRelativeError).toBeLessThan(1e-6);
    const linear = combineAdapters(await caseAdapters("weighted"), [0.5, -0.5], { type: "linear" });
    expect(Number.isFinite(linear.report.totalRelativeError)).toBe(true);
  });

  it("records the combination in the adapter's metadata", async () => {
    const { adapter, notes, appliedType, randomPruning } = combineAdapters(
      await caseAdapters("weighted"),
      weights,
      { type: "svd" },
    );
    expect(readCombinationRecord(adapter.metadata)).toEqual({
      type: "svd",
      applied_type: "svd",
      weights,
      svd_rank: 8,
    });
    expect(notes).toEqual([]);
    expect(appliedType).toBe("svd");
    expect(randomPruning).toBeNull();
  });
});

describe("svd rank clamp (issue 13: --rank 100000 wrote a 2.3 GB zero-padded adapter)", () => {
  it("clamps svd to min(Σrᵢ, out, in) and says so; the clamped result is the exact weighted sum", async () => {
    const adapters = await caseAdapters("weighted");
    const { adapter, notes, report } = combineAdapters(adapters, weights, { type: "svd", svdRank: 100000 });
    // two rank-8 adapters: the weighted sum of their deltas has rank ≤ 16 (q_proj 64×64, v_proj 32×64)
    expect(adapter.config.r).toBe(16);
    expect(notes.map((note) => note.code)).toEqual(["svd_rank_clamped"]);
    expect(notes[0]?.message).toMatch(/svd_rank 100000 exceeds .* \(16\)/);
    expect(readCombinationRecord(adapter.metadata)?.svd_rank).toBe(16);
    // rank 16 carries the whole sum: as exact as cat
    expect(report.maxRelativeError).toBeLessThan(1e-5);
    // a rank at the bound is not a clamp
    expect(combineAdapters(adapters, weights, { type: "svd", svdRank: 16 }).notes).toEqual([]);
  });

  it("clamps the pruning svd types to the largest min(out, in), pruned deltas being full rank", async () => {
    const adapters = await caseAdapters("combine_more");
    const { adapter, notes } = combineAdapters(adapters, [0.7, 0.3], {
      type: "ties_svd",
      density: 0.5,
      svdRank: 100000,
    });
    expect(adapter.config.r).toBe(64);
    expect(notes.map((note) => note.code)).toEqual(["svd_rank_clamped"]);
    // v_proj (32×64) carries at most 32 components; the rest of its 64 are zero padding
    const vProj = adapter.modules.get("model.layers.0.self_attn.v_proj");
    expect(vProj?.loraA.rows).toBe(64);
    expect(vProj?.loraA.data.subarray(32 * 64).every((value) => value === 0)).toBe(true);
  });
});

describe("validation", () => {
  it("refuses bad requests with typed errors naming the value", async () => {
    const adapters = await caseAdapters("weighted");
    expect(() => combineAdapters([], [], { type: "cat" })).toThrow(AdapterCombinationError);
    expect(() => combineAdapters(adapters, [1], { type: "cat" })).toThrow(/2 adapters but 1 weights/);
    expect(() => combineAdapters(adapters, [1, Number.NaN], { type: "cat" })).toThrow(
      /weight NaN of adapter 1 is not finite/,
    );
    const rslora = await loadPeftAdapter(fixturePath("peft/lora_gaussian_rslora/adapter_trained"));
    for (const type of ["linear", "ties", "dare_linear"] as CombinationType[]) {
      const density = type === "linear" ? {} : { density: 0.5 };
      expect(() => combineAdapters([rslora, adapters[0] as never], weights, { type, ...density })).toThrow(
        /same rank/,
      );
    }
  });

  it.each([
    [
      { type: "bogus" as CombinationType },
      "type",
      /unknown combination type "bogus"; use one of cat, linear/,
    ],
    [{ type: "ties" }, "density", /ties needs a density in \(0, 1\]/],
    [{ type: "dare_linear", density: 0 }, "density", /density 0 is outside \(0, 1\]/],
    [{ type: "magnitude_prune", density: 1.5 }, "density", /density 1.5 is outside/],
    [{ type: "dare_ties_svd", density: Number.NaN }, "density", /density NaN is outside/],
    [{ type: "linear", density: 0.5 }, "density", /density applies to ties, .* not to linear/],
    [
      { type: "dare_linear", density: 0.5, majoritySignMethod: "total" },
      "majoritySignMethod",
      /majority_sign_method applies to ties, ties_svd, dare_ties, dare_ties_svd only/,
    ],
    [
      { type: "ties", density: 0.5, majoritySignMethod: "median" as never },
      "majoritySignMethod",
      /"median" is not one of total, frequency/,
    ],
    [{ type: "ties", density: 0.5, seed: 1 }, "seed", /seed applies to the random \(DARE\) types/],
    [{ type: "dare_ties", density: 0.5, seed: -1 }, "seed", /seed -1 is not a non-negative safe integer/],
    [{ type: "ties", density: 0.5, svdRank: 4 }, "svdRank", /svd_rank applies to svd, ties_svd/],
    [{ type: "svd", svdRank: 0 }, "svdRank", /svd_rank 0 is not a positive integer/],
    [{ type: "ties_svd", density: 0.5, svdRank: 2.5 }, "svdRank", /svd_rank 2.5 is not a positive/],
  ] as [CombineOptions, string, RegExp][])("refuses %o (option %s)", async (options, option, message) => {
    const adapters = await caseAdapters("weighted");
    let thrown: unknown;
    try {
      combineAdapters(adapters, weights, options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ name: "CombinationOptionError", code: "combination_option", option });
    expect((thrown as Error).message).toMatch(message);
  });

  it("refuses non-finite factors", async () => {
    const [a, b] = (await caseAdapters("weighted")) as [LoraAdapter, LoraAdapter];
    const broken = new Map(a.modules);
    const [name, factors] = [...broken][0] as [string, { loraA: Matrix; loraB: Matrix }];
    const data = factors.loraB.data.slice();
    data[3] = Number.POSITIVE_INFINITY;
    broken.set(name, { loraA: factors.loraA, loraB: { ...factors.loraB, data } });
    expect(() => combineAdapters([{ ...a, modules: broken }, b], weights, { type: "cat" })).toThrow(
      new RegExp(`adapter 0 has non-finite values in module "${name.replaceAll(".", "\\.")}"`),
    );
  });

  it("combines a single adapter with linear, as PEFT, and says so", async () => {
    const [a] = await caseAdapters("weighted");
    for (const options of [
      { type: "ties", density: 0.2 },
      { type: "svd", svdRank: 2 },
      { type: "cat" },
    ] as CombineOptions[]) {
      const { adapter, appliedType, notes, report } = combineAdapters([a as never], [0.5], options);
      expect(appliedType).toBe("linear");
      expect(notes.map((note) => note.code)).toEqual(["single_adapter_linear"]);
      expect(adapter.config.r).toBe(8);
      // linear of one adapter is exact: √|ws|·B · sign·√|ws|·A = w·s·B·A
      expect(report.maxRelativeError).toBeLessThan(1e-6);
    }
  });
});
