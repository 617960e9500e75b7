import { adapterRecordToMetadata, deriveAdapterRecord } from "@peftjs/state";
import { describe, expect, it } from "vitest";
import {
  AdapterConversionError,
  checkInitialAdapter,
  convertToLora,
  type LoraAdapter,
  loraConfigToJson,
  MIN_INITIAL_COSINE,
  withLoraConfig,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath, mutatingCases } from "./helpers.js";

const load = (name: string, folder: string) => loadPeftAdapter(fixturePath(`peft/${name}/${folder}`));
const pairs = await Promise.all(
  mutatingCases.map(async (name) => ({
    name,
    initial: await load(name, "adapter_init"),
    trained: await load(name, "adapter_trained"),
  })),
);
const byName = (name: string) => pairs.find((pair) => pair.name === name)!;

/** The smallest cosine between a trained lora_A row / lora_B column and the initial one (the check's statistic). */
function smallestCosine(trained: LoraAdapter, initial: LoraAdapter): number {
  let smallest = Number.POSITIVE_INFINITY;
  for (const [name, { loraA, loraB }] of trained.modules) {
    const start = initial.modules.get(name)!;
    for (const [matrix, reference, byColumn] of [
      [loraA, start.loraA, false],
      [loraB, start.loraB, true],
    ] as const) {
      const count = byColumn ? matrix.columns : matrix.rows;
      const length = byColumn ? matrix.rows : matrix.columns;
      for (let vector = 0; vector < count; vector++) {
        let dot = 0;
        let left = 0;
        let right = 0;
        for (let step = 0; step < length; step++) {
          const at = byColumn ? step * matrix.columns + vector : vector * matrix.columns + step;
          dot += matrix.data[at]! * reference.data[at]!;
          left += matrix.data[at]! ** 2;
          right += reference.data[at]! ** 2;
        }
        smallest = Math.min(smallest, dot / Math.sqrt(left * right));
      }
    }
  }
  return smallest;
}

/** The adapter with a peftjs record (as `peftjs init` / `train` write it) and an init seed. */
function withRecord(
  adapter: LoraAdapter,
  fingerprint: `fp1:${string}`,
  method: string,
  seed: number,
): LoraAdapter {
  const record = {
    ...deriveAdapterRecord(loraConfigToJson(adapter.config), { name: "default" }),
    initMethod: method,
    baseFingerprint: fingerprint,
  };
  return {
    ...adapter,
    metadata: { ...adapterRecordToMetadata(record), "peftjs.init_seed": String(seed) },
  };
}

describe("initial/trained pairs (PEFT's fixtures, files without metadata)", () => {
  it.each(mutatingCases)("accepts %s's own adapter_init (the measured cosines of the threshold)", (name) => {
    const { initial, trained } = byName(name);
    // The threshold's evidence (see MIN_INITIAL_COSINE): every matching pair stays at 0.77 or above.
    expect(smallestCosine(trained, initial)).toBeGreaterThan(0.77);
    expect(() => checkInitialAdapter(trained, initial)).not.toThrow();
  });

  it("refuses every mismatched pair of the fixtures, by targets, rank or direction", () => {
    let refusedByDirection = 0;
    for (const trained of pairs) {
      for (const initial of pairs) {
        if (trained.name === initial.name) continue;
        // pissa and pissa_bf16 are the same exact SVD of the same weights (bf16-rounded): one init.
        const sameInit =
          new Set([trained.name, initial.name]).size === 2 &&
          [trained.name, initial.name].every((name) => name === "pissa" || name === "pissa_bf16");
        if (sameInit) {
          expect(() => checkInitialAdapter(trained.trained, initial.initial)).not.toThrow();
          continue;
        }
        let caught: unknown;
        try {
          checkInitialAdapter(trained.trained, initial.initial);
        } catch (error) {
          caught = error;
        }
        expect(caught, `${trained.name} trained with ${initial.name} init`).toBeInstanceOf(
          AdapterConversionError,
        );
        if (/points away/.test((caught as Error).message)) {
          refusedByDirection++;
          // The other side of the threshold: mismatched pairs reach −0.96 or below.
          expect(smallestCosine(trained.trained, initial.initial)).toBeLessThan(-0.96);
        }
      }
    }
    expect(refusedByDirection).toBe(4); // pissa / pissa_bf16 vs olora, both ways
    expect(MIN_INITIAL_COSINE).toBe(0);
  });

  it("refuses an OLoRA init for a PiSSA adapter in convertToLora (the issue's 14.8-off conversion)", () => {
    expect(() => convertToLora(byName("pissa").trained, byName("olora").initial)).toThrow(
      /points away from the initial adapter's \(cosine -0\.9/,
    );
  });
});

describe("initial/trained pairs with peftjs metadata", () => {
  const { initial, trained } = byName("pissa");
  const fingerprint = "fp1:00000000000000000000000000000001" as const;

  it("accepts a pair whose records agree, without the numerical test", () => {
    // Even a trained adapter whose rows turned around (long training) passes when the metadata proves it.
    const turned: LoraAdapter = {
      ...trained,
      modules: new Map(
        [...trained.modules].map(([name, factors]) => [
          name,
          { ...factors, loraA: { ...factors.loraA, data: factors.loraA.data.map((value) => -value) } },
        ]),
      ),
    };
    expect(() =>
      checkInitialAdapter(
        withRecord(turned, fingerprint, "pissa", 2),
        withRecord(initial, fingerprint, "pissa", 2),
      ),
    ).not.toThrow();
  });

  it.each([
    ["seed", withRecord(initial, fingerprint, "pissa", 3), /seed 3, the trained one with seed 2/],
    ["init method", withRecord(initial, fingerprint, "olora", 2), /init "olora", the trained one by "pissa"/],
    [
      "base",
      withRecord(initial, "fp1:00000000000000000000000000000009", "pissa", 2),
      /belongs to base fp1:0+9, the trained one to fp1:0+1/,
    ],
    ["rank", { ...initial, config: withLoraConfig(initial.config, { r: 16 }) }, /r 16 but the trained one 8/],
    [
      "alpha",
      { ...initial, config: withLoraConfig(initial.config, { lora_alpha: 4 }) },
      /lora_alpha 4 but the trained one 8/,
    ],
    [
      "targets",
      { ...initial, modules: new Map([...initial.modules].slice(1)) },
      /wrap different modules \(only the trained one: model\.layers\.\d\.self_attn\.\w+\)/,
    ],
  ] as const)("refuses a different %s", (_label, other, message) => {
    const recorded = withRecord(trained, fingerprint, "pissa", 2);
    expect(() => checkInitialAdapter(recorded, other)).toThrow(message);
  });
});
