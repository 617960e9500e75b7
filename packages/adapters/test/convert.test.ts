import { adapterRecordFromMetadata } from "@peftjs/state";
import { createGenerator } from "@peftjs/tensor";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AdapterConversionError,
  adapterDeltas,
  addScaled,
  checkInitialAdapter,
  convertToLora,
  createLoraConfig,
  type LoraAdapter,
  loraConfigToJson,
  type Matrix,
  matrix,
  moduleDelta,
  recompressAdapter,
  relativeError,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, mutatingCases } from "./helpers.js";

function sortedTargets(json: Record<string, unknown>): Record<string, unknown> {
  return { ...json, target_modules: [...(json.target_modules as string[])].sort() };
}

describe.each(mutatingCases)("%s conversion to LoRA", (name) => {
  it("reproduces PEFT's adapter_converted (tensors and config) and leaves its inputs untouched", async () => {
    const trained = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_trained`));
    const initial = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_init`));
    const expected = await loadPeftAdapter(fixturePath(`peft/${name}/adapter_converted`));
    const trainedConfig = structuredClone(trained.config);
    const converted = convertToLora(trained, initial);
    expect(trained.config).toEqual(trainedConfig);
    expect(sortedTargets(loraConfigToJson(converted.config))).toEqual(
      sortedTargets(loraConfigToJson(expected.config)),
    );
    expect([...converted.modules.keys()].sort()).toEqual([...expected.modules.keys()].sort());
    for (const [module, factors] of expected.modules) {
      // concatenation and negation are exact, so the factors agree bit for bit
      expect(converted.modules.get(module)?.loraA.data).toEqual(factors.loraA.data);
      expect(converted.modules.get(module)?.loraB.data).toEqual(factors.loraB.data);
    }
    for (const [module, delta] of adapterDeltas(converted)) {
      // s'B'A' = s(BA − B0A0): float32 products of the same factors, a few ulps of the larger term apart
      const difference = addScaled(moduleDelta(trained, module), moduleDelta(initial, module), -1);
      expect(relativeError(delta, difference)).toBeLessThan(1e-5);
    }
  });
});

function isTrainedFrom(trained: LoraAdapter, initial: LoraAdapter): boolean {
  try {
    checkInitialAdapter(trained, initial);
    return true;
  } catch {
    return false;
  }
}

describe("conversion rules", () => {
  const generator = createGenerator(3);
  const random = (rows: number, columns: number) =>
    matrix(rows, columns, generator.normalValues(rows * columns, 0, 1));
  const adapterWith = (fields: Parameters<typeof createLoraConfig>[0], r: number): LoraAdapter => ({
    config: createLoraConfig({ target_modules: ["q_proj"], ...fields }),
    modules: new Map([["model.layers.0.self_attn.q_proj", { loraA: random(r, 6), loraB: random(5, r) }]]),
    metadata: {},
  });
  /** `initial` after some training: every factor nudged by 10 % noise, its config saying the method. */
  const trainedFrom = (initial: LoraAdapter, method: "pissa" | "olora" = "pissa"): LoraAdapter => ({
    config: { ...initial.config, init_lora_weights: method },
    modules: new Map(
      [...initial.modules].map(([name, { loraA, loraB }]) => [
        name,
        {
          loraA: addScaled(loraA, random(loraA.rows, loraA.columns), 0.1),
          loraB: addScaled(loraB, random(loraB.rows, loraB.columns), 0.1),
        },
      ]),
    ),
    metadata: { ...initial.metadata },
  });

  it("multiplies lora_alpha by √2 under rsLoRA, keeping the scaling", () => {
    const initial = adapterWith({ r: 4, lora_alpha: 8, use_rslora: true }, 4);
    const converted = convertToLora(trainedFrom(initial), initial);
    expect(converted.config.r).toBe(8);
    expect(converted.config.lora_alpha).toBeCloseTo(8 * Math.SQRT2, 12);
    expect(converted.config.init_lora_weights).toBe(true);
    expect(adapterRecordFromMetadata(converted.metadata)).toMatchObject({
      convertedFrom: "pissa",
      needsMutatedBase: false,
      initMethod: true,
    });
  });

  it("refuses rsLoRA together with rank/alpha patterns, as PEFT", () => {
    const trained = adapterWith({ r: 4, use_rslora: true, alpha_pattern: { q_proj: 2 } }, 4);
    expect(() => convertToLora(trained, trained)).toThrow(AdapterConversionError);
    expect(() => convertToLora(trained, trained)).toThrow(/use_rslora/);
  });

  it("refuses an initial adapter that lacks a module or has another rank", () => {
    const trained = trainedFrom(adapterWith({ r: 4 }, 4));
    const empty: LoraAdapter = { ...trained, modules: new Map() };
    expect(() => convertToLora(trained, empty)).toThrow(/wrap different modules \(only the trained one: /);
    const otherRank = adapterWith({ r: 2 }, 2);
    expect(() => convertToLora(trained, otherRank)).toThrow(/initial adapter has r 2 but the trained one 4/);
  });

  it("satisfies W + s'B'A' = W_res + sBA with W_res = W − sB0A0 (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.double({ min: 0.5, max: 32, noNaN: true }),
        fc.boolean(),
        fc.nat(10_000),
        (outFeatures, inFeatures, r, alpha, rslora, seed) => {
          const source = createGenerator(seed);
          const draw = (rows: number, columns: number) =>
            matrix(rows, columns, source.normalValues(rows * columns, 0, 1));
          const name = "model.layers.0.self_attn.q_proj";
          const config = createLoraConfig({
            r,
            lora_alpha: alpha,
            use_rslora: rslora,
            target_modules: ["q_proj"],
            init_lora_weights: "pissa",
          });
          const start = { loraA: draw(r, inFeatures), loraB: draw(outFeatures, r) };
          const initial: LoraAdapter = { config, modules: new Map([[name, start]]), metadata: {} };
          // Training moves the factors (here by a random step of 30 % of their size) but not away from them.
          const trained: LoraAdapter = {
            config,
            modules: new Map([
              [
                name,
                {
                  loraA: addScaled(start.loraA, draw(r, inFeatures), 0.3),
                  loraB: addScaled(start.loraB, draw(outFeatures, r), 0.3),
                },
              ],
            ]),
            metadata: {},
          };
          // A step that turns some 1- or 2-element factor vector around is no training of this init.
          fc.pre(isTrainedFrom(trained, initial));
          const weight = draw(outFeatures, inFeatures);
          const residual = addScaled(weight, moduleDelta(initial, name), -1);
          const converted = convertToLora(trained, initial);
          const left = addScaled(weight, moduleDelta(converted, name));
          const right = addScaled(residual, moduleDelta(trained, name));
          // float32 sums of O(√(r·in)·s)-sized terms: 1e-5 relative to the larger side
          const scaleOfTerms = Math.max(1, ...left.data.map(Math.abs));
          let max = 0;
          for (let i = 0; i < left.data.length; i++)
            max = Math.max(max, Math.abs((left.data[i] as number) - (right.data[i] as number)));
          expect(max / scaleOfTerms).toBeLessThan(1e-5);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("recompression", () => {
  it("is exact at the full rank and reports the truncation error below it", async () => {
    const trained = await loadPeftAdapter(fixturePath("peft/pissa/adapter_trained"));
    const initial = await loadPeftAdapter(fixturePath("peft/pissa/adapter_init"));
    const converted = convertToLora(trained, initial);
    const full = recompressAdapter(converted, 16);
    // rank-16 deltas have an exact rank-16 SVD: only float32 round-off remains
    expect(full.report.maxRelativeError).toBeLessThan(1e-5);
    expect(full.adapter.config).toMatchObject({ r: 16, lora_alpha: 16, use_rslora: false });
    const half = recompressAdapter(converted, 8);
    expect(half.report.totalRelativeError).toBeGreaterThan(1e-3);
    expect(half.report.totalRelativeError).toBeLessThan(1);
    const exact = adapterDeltas(converted);
    for (const [module, delta] of adapterDeltas(half.adapter)) {
      const error = relativeError(delta, exact.get(module) as Matrix);
      expect(error).toBeCloseTo(half.report.relativeErrors.get(module) as number, 5);
      expect(half.adapter.modules.get(module)?.loraA.rows).toBe(8);
    }
    expect(() => recompressAdapter(converted, 0)).toThrow(AdapterConversionError);
  });
});
