/**
 * How PEFT scales become llama.cpp's single alpha, and which adapters are refused (with the reason and the
 * remedy). llama.cpp's rule, from llama-adapter.h `get_scale`: scale = alpha / rank per tensor, 1 when alpha is 0.
 */
import { readFileSync } from "node:fs";
import { createLoraConfig, type LoraAdapter, withLoraConfig } from "@peftjs/adapters";
import { adapterRecordToMetadata } from "@peftjs/state";
import { describe, expect, it } from "vitest";
import {
  checkRunnableAdapterConfig,
  exportAdapterToGguf,
  exportModelToGguf,
  GgufAdapterMismatchError,
  GgufUnsupportedAdapterError,
  llamaCppLoraScale,
  planLoraScales,
} from "../src/index.js";
import { fixtures, loadAdapter, openModelFolder, storiesVocabulary } from "./helpers/fixtures.js";

const storiesConfig = JSON.parse(readFileSync(`${fixtures}stories260k/config.json`, "utf8"));

function factors(rank: number, rows = 64, columns = 64) {
  return {
    loraA: { rows: rank, columns, data: new Float32Array(rank * columns).fill(0.25) },
    loraB: { rows, columns: rank, data: new Float32Array(rows * rank).fill(0.5) },
  };
}

function adapterOf(
  config: Parameters<typeof createLoraConfig>[0],
  modules: Record<string, number>,
): LoraAdapter {
  return {
    config: createLoraConfig(config),
    modules: new Map(Object.entries(modules).map(([name, rank]) => [name, factors(rank)])),
    metadata: {},
  };
}

const q = "model.layers.0.self_attn.q_proj";
const k = "model.layers.0.self_attn.k_proj";
const v = "model.layers.0.self_attn.v_proj";

describe("planLoraScales", () => {
  it("keeps a plain LoRA's alpha and bytes (llama.cpp's α/r is PEFT's)", () => {
    const plan = planLoraScales(adapterOf({ r: 8, lora_alpha: 16 }, { [q]: 8, [v]: 8 }));
    expect(plan.alpha).toBe(16);
    expect(
      [...plan.modules.values()].map((module) => [module.scaling, module.llamaCppScale, module.fold]),
    ).toEqual([
      [2, 2, 1],
      [2, 2, 1],
    ]);
  });

  it("writes rsLoRA of one rank as alpha·√r, with no fold", () => {
    const plan = planLoraScales(adapterOf({ r: 4, lora_alpha: 8, use_rslora: true }, { [q]: 4, [v]: 4 }));
    expect(plan.alpha).toBe(16); // s = 8/√4 = 4 = 16/4
    expect(
      [...plan.modules.values()].every((module) => module.fold === 1 && module.llamaCppScale === 4),
    ).toBe(true);
  });

  it("folds what one alpha cannot express into lora_B: rank and alpha patterns, rsLoRA with several ranks", () => {
    const patterns = planLoraScales(
      adapterOf(
        { r: 4, lora_alpha: 8, rank_pattern: { q_proj: 8 }, alpha_pattern: { k_proj: 4 } },
        { [q]: 8, [k]: 4, [v]: 4 },
      ),
    );
    // s·r: q 8/8·8 = 8, k 4/4·4 = 4, v 8/4·4 = 8 → alpha 8, k folded by s / (α/r) = 1 / 2
    expect(patterns.alpha).toBe(8);
    expect(patterns.modules.get(k)).toEqual({ rank: 4, scaling: 1, llamaCppScale: 2, fold: 0.5 });
    expect(patterns.modules.get(q)?.fold).toBe(1);
    const rank = planLoraScales(
      adapterOf(
        { r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { q_proj: 16 } },
        { [q]: 16, [k]: 4, [v]: 4 },
      ),
    );
    expect(rank.alpha).toBe(16); // k and v: 8/√4·4
    expect(rank.modules.get(q)!.fold).toBeCloseTo(((8 / 4) * 16) / 16, 12); // s_q = 8/√16 = 2, α/r = 1
  });

  it("alpha 0 means scale 1 in llama.cpp", () => {
    expect(llamaCppLoraScale(0, 8)).toBe(1);
    expect(llamaCppLoraScale(16, 8)).toBe(2);
    expect(llamaCppLoraScale(10, 3)).toBe(Math.fround(10 / 3));
    const plan = planLoraScales(adapterOf({ r: 8, lora_alpha: 0 }, { [q]: 8 }));
    expect(plan.alpha).toBe(0);
    expect(plan.modules.get(q)).toMatchObject({ scaling: 0, llamaCppScale: 1, fold: 0 });
  });
});

describe("refused adapters say why and what to do", () => {
  it("DoRA, LoRA biases, trainable tokens, embedding LoRA: read from the raw adapter_config.json", () => {
    const raw = (relative: string) =>
      JSON.parse(readFileSync(`${fixtures}${relative}/adapter_config.json`, "utf8"));
    const cases: [string, RegExp][] = [
      ["peft/dora/adapter_trained", /DoRA rescales each output row.*merge_and_unload/],
      ["hf/models/qwen2/peft_lora_bias/adapter_trained", /bias "lora_only" trains base-layer biases/],
      ["peft/trainable_tokens/adapter_trained", /trainable tokens replace embedding rows/],
      ["peft/lora_embedding/adapter_trained", /LoRA on the token embedding/],
    ];
    for (const [relative, message] of cases) {
      expect(() => checkRunnableAdapterConfig(raw(relative))).toThrow(GgufUnsupportedAdapterError);
      expect(() => checkRunnableAdapterConfig(raw(relative))).toThrow(message);
    }
    for (const relative of ["peft/lora_default/adapter_trained", "peft/pissa/adapter_converted"]) {
      expect(() => checkRunnableAdapterConfig(raw(relative))).not.toThrow();
    }
  });

  it("unconverted PiSSA/OLoRA and residual-base init adapters, for the adapter and the merged export alike", async () => {
    const trained = await loadAdapter("peft/pissa/adapter_trained");
    const error = (() => {
      try {
        exportAdapterToGguf(trained, { config: storiesConfig });
      } catch (caught) {
        return caught as GgufUnsupportedAdapterError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(GgufUnsupportedAdapterError);
    expect(error!.reason).toMatch(/unconverted "pissa".*residual base W − s·B₀A₀/);
    expect(error!.remedy).toMatch(/peftjs convert --initial/);
    const stories = await openModelFolder("stories260k");
    try {
      expect(() =>
        exportModelToGguf({
          config: stories.config,
          checkpoint: stories.checkpoint,
          vocabulary: storiesVocabulary(),
          adapters: [{ adapter: trained }],
        }),
      ).toThrow(GgufUnsupportedAdapterError);
    } finally {
      await stories.checkpoint.close();
    }
    const init = await loadAdapter("peft/pissa/adapter_init");
    const record = adapterRecordToMetadata({
      name: "default",
      kind: "lora",
      initMethod: "pissa",
      needsMutatedBase: true,
      baseFingerprint: null,
      residualBaseFingerprint: null,
      convertedFrom: null,
      producer: null,
    });
    expect(() => exportAdapterToGguf({ ...init, metadata: record }, { config: storiesConfig })).toThrow(
      /belongs to a residual base/,
    );
    expect(() => exportAdapterToGguf(init, { config: storiesConfig })).not.toThrow(); // a PEFT file: nothing says so
  });

  it("lm_head on a tied model (the merged export gives it its own weight instead), other modules, fan_in_fan_out", async () => {
    const head: LoraAdapter = {
      config: createLoraConfig({ r: 2, lora_alpha: 4, target_modules: ["lm_head"] }),
      modules: new Map([["lm_head", factors(2, 512, 64)]]),
      metadata: {},
    };
    expect(() => exportAdapterToGguf(head, { config: storiesConfig })).toThrow(
      /targets lm_head, which this model ties/,
    );
    const stories = await openModelFolder("stories260k");
    try {
      const merged = exportModelToGguf({
        config: stories.config,
        checkpoint: stories.checkpoint,
        vocabulary: storiesVocabulary(),
        adapters: [{ adapter: head }],
      });
      expect(merged.contents.tensors.map((tensor) => tensor.name)).toContain("output.weight");
      expect(merged.mergedModules).toEqual(["lm_head"]);
      const wrongShape = adapterOf({ r: 2, lora_alpha: 4 }, { "model.layers.0.mlp.down_proj": 2 });
      expect(() =>
        exportAdapterToGguf(wrongShape, {
          config: stories.config,
          baseShape: (name) => stories.checkpoint.info(name)?.shape,
        }),
      ).toThrow(GgufAdapterMismatchError);
    } finally {
      await stories.checkpoint.close();
    }
    const act = adapterOf({ r: 2, lora_alpha: 4 }, { "model.layers.0.mlp.act_fn": 2 });
    expect(() => exportAdapterToGguf(act, { config: storiesConfig })).toThrow(
      /"model.layers.0.mlp.act_fn" is not a linear projection/,
    );
    const plain = adapterOf({ r: 2, lora_alpha: 4 }, { [q]: 2 });
    const conv = { ...plain, config: withLoraConfig(plain.config, { fan_in_fan_out: true }) };
    expect(() => exportAdapterToGguf(conv, { config: storiesConfig })).toThrow(/fan_in_fan_out/);
  });
});
