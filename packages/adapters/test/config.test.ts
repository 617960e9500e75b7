import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createLoraConfig,
  findPatternKey,
  isTargetModule,
  LoraConfigError,
  loraConfigToJson,
  moduleLoraSettings,
  parseLoraConfig,
  selectTargetModules,
  serializeLoraConfig,
  UnsupportedLoraOptionError,
  withLoraConfig,
} from "../src/index.js";
import { readCase } from "./helpers.js";

const llamaLinears = Array.from({ length: 2 }, (_, layer) =>
  [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
  ].map((suffix) => `model.layers.${layer}.${suffix}`),
)
  .flat()
  .concat(["lm_head"]);

describe("LoraConfig defaults and validation", () => {
  it("uses PEFT's defaults", () => {
    const config = createLoraConfig();
    expect(config).toMatchObject({
      r: 8,
      lora_alpha: 8,
      lora_dropout: 0,
      init_lora_weights: true,
      bias: "none",
      use_rslora: false,
      fan_in_fan_out: false,
      rank_pattern: {},
      alpha_pattern: {},
      target_modules: null,
    });
  });

  it("refuses unsupported options with a typed error naming the field", () => {
    expect(() => parseLoraConfig({ r: 8, use_qalora: true })).toThrow(UnsupportedLoraOptionError);
    expect(() => parseLoraConfig({ r: 8, use_qalora: true })).toThrow(/use_qalora/);
    expect(() => parseLoraConfig({ init_lora_weights: "loftq" })).toThrow(UnsupportedLoraOptionError);
    expect(() => parseLoraConfig({ init_lora_weights: "corda" })).toThrow(/corda/);
    expect(() => parseLoraConfig({ loftq_config: { loftq_bits: 4 } })).toThrow(/LoftQ/);
    expect(parseLoraConfig({ bias: "all" }).bias).toBe("all");
    expect(parseLoraConfig({ bias: "lora_only" }).bias).toBe("lora_only");
    expect(() => parseLoraConfig({ bias: "some" })).toThrow(/bias must be "none", "all" or "lora_only"/);
    expect(() => parseLoraConfig({ ensure_weight_tying: true })).toThrow(/ensure_weight_tying/);
    // supported now (embeddings.test.ts, modules-to-save.test.ts); malformed values are still refused
    expect(parseLoraConfig({ modules_to_save: ["lm_head"] }).modules_to_save).toEqual(["lm_head"]);
    expect(() => parseLoraConfig({ modules_to_save: [""] })).toThrow(/modules_to_save/);
    expect(parseLoraConfig({ trainable_token_indices: [5, 3] }).trainable_token_indices).toEqual([5, 3]);
    expect(() => parseLoraConfig({ trainable_token_indices: [5, 5] })).toThrow(/repeats token id 5/);
    expect(() => parseLoraConfig({ trainable_token_indices: [-1] })).toThrow(/token ids/);
    expect(() => parseLoraConfig({ trainable_token_indices: { embed_tokens: [] } })).toThrow(/non-empty/);
    expect(() => parseLoraConfig({ peft_type: "IA3" })).toThrow(UnsupportedLoraOptionError);
  });

  it("refuses malformed values", () => {
    expect(() => parseLoraConfig({ r: 0 })).toThrow(LoraConfigError);
    expect(() => parseLoraConfig({ r: 2.5 })).toThrow(/positive integer/);
    expect(() => parseLoraConfig({ lora_dropout: 1 })).toThrow(/lora_dropout/);
    expect(() => parseLoraConfig({ target_modules: "(" })).toThrow(/regular expression/);
    expect(() => parseLoraConfig({ init_lora_weights: "pissa_niter_0" })).toThrow(/at least one/);
    expect(() => parseLoraConfig({ target_modules: ".*q_proj", layers_to_transform: [0] })).toThrow(
      LoraConfigError,
    );
    expect(() => parseLoraConfig({ target_modules: ["q_proj"], layers_pattern: "layers" })).toThrow(
      /layers_to_transform must be set/,
    );
    expect(() => parseLoraConfig([1, 2])).toThrow(LoraConfigError);
  });

  it("accepts every init PEFT has that peftjs implements", () => {
    for (const init of [true, false, "gaussian", "pissa", "pissa_niter_4", "olora"]) {
      expect(parseLoraConfig({ init_lora_weights: init }).init_lora_weights).toBe(init);
    }
  });

  it("keeps unknown fields and writes them back", () => {
    const config = parseLoraConfig({ r: 4, some_future_field: { nested: [1, 2] }, another: "x" });
    const json = loraConfigToJson(config);
    expect(json.some_future_field).toEqual({ nested: [1, 2] });
    expect(json.another).toBe("x");
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
  });

  it("withLoraConfig never modifies its input", () => {
    const config = parseLoraConfig({ r: 4, rank_pattern: { q_proj: 8 } });
    const copy = structuredClone(config);
    const changed = withLoraConfig(config, { r: 16, rank_pattern: { q_proj: 2 } });
    expect(config).toEqual(copy);
    expect(changed.r).toBe(16);
  });

  it("round-trips parse → serialize → parse (property)", () => {
    const configArbitrary = fc.record({
      r: fc.integer({ min: 1, max: 64 }),
      lora_alpha: fc.double({ min: 0.5, max: 128, noNaN: true }),
      use_rslora: fc.boolean(),
      target_modules: fc.oneof(
        fc.uniqueArray(fc.constantFrom("q_proj", "k_proj", "v_proj", "o_proj"), { minLength: 1 }),
        fc.constant(".*proj"),
      ),
      rank_pattern: fc.dictionary(
        fc.constantFrom("q_proj", "k_proj", "layers\\.0\\..*"),
        fc.integer({ min: 1, max: 32 }),
      ),
      init_lora_weights: fc.constantFrom(true, false, "gaussian", "pissa", "pissa_niter_2", "olora"),
      extra: fc.dictionary(fc.constantFrom("future_a", "future_b"), fc.jsonValue()),
    });
    fc.assert(
      fc.property(configArbitrary, ({ extra, ...fields }) => {
        const parsed = parseLoraConfig({ ...extra, ...fields });
        const again = parseLoraConfig(JSON.parse(serializeLoraConfig(parsed)));
        // compared as text: JSON itself cannot carry −0, so the written form is what must be stable
        expect(serializeLoraConfig(again)).toBe(serializeLoraConfig(parsed));
        expect(again.r).toBe(parsed.r);
        expect(again.target_modules).toEqual(parsed.target_modules);
      }),
      { numRuns: 200 },
    );
  });
});

describe("target module matching (PEFT check_target_module_exists)", () => {
  const config = (fields: Record<string, unknown>) => parseLoraConfig(fields);

  it("list entries match the full name or a `.suffix`", () => {
    const selected = selectTargetModules(config({ target_modules: ["q_proj", "v_proj"] }), llamaLinears);
    expect(selected).toEqual([
      "model.layers.0.self_attn.q_proj",
      "model.layers.0.self_attn.v_proj",
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.v_proj",
    ]);
    expect(isTargetModule(config({ target_modules: ["proj"] }), "model.layers.0.self_attn.q_proj")).toBe(
      false,
    );
    expect(
      isTargetModule(config({ target_modules: ["self_attn.q_proj"] }), "model.layers.0.self_attn.q_proj"),
    ).toBe(true);
    expect(isTargetModule(config({ target_modules: ["lm_head"] }), "lm_head")).toBe(true);
  });

  it("a string is a regex that must match the whole name", () => {
    expect(isTargetModule(config({ target_modules: ".*q_proj" }), "model.layers.0.self_attn.q_proj")).toBe(
      true,
    );
    expect(isTargetModule(config({ target_modules: "q_proj" }), "model.layers.0.self_attn.q_proj")).toBe(
      false,
    );
    expect(
      isTargetModule(
        config({ target_modules: ".*layers\\.1\\..*(q|v)_proj" }),
        "model.layers.1.self_attn.v_proj",
      ),
    ).toBe(true);
    expect(
      isTargetModule(
        config({ target_modules: ".*layers\\.1\\..*(q|v)_proj" }),
        "model.layers.0.self_attn.v_proj",
      ),
    ).toBe(false);
  });

  it("all-linear takes every linear layer except the output head", () => {
    const selected = selectTargetModules(config({ target_modules: "all-linear" }), llamaLinears, {
      outputModuleName: "lm_head",
    });
    expect(selected).toEqual(llamaLinears.filter((name) => name !== "lm_head"));
  });

  it("exclude_modules wins, as a list (suffix) or a regex", () => {
    const byList = config({ target_modules: "all-linear", exclude_modules: ["down_proj"] });
    expect(selectTargetModules(byList, llamaLinears, { outputModuleName: "lm_head" })).not.toContain(
      "model.layers.0.mlp.down_proj",
    );
    const byRegex = config({ target_modules: ["q_proj", "k_proj"], exclude_modules: ".*layers\\.0\\..*" });
    expect(selectTargetModules(byRegex, llamaLinears)).toEqual([
      "model.layers.1.self_attn.q_proj",
      "model.layers.1.self_attn.k_proj",
    ]);
  });

  it("layers_to_transform and layers_pattern restrict list targets by layer index", () => {
    const indexOnly = config({ target_modules: ["q_proj"], layers_to_transform: [1] });
    expect(selectTargetModules(indexOnly, llamaLinears)).toEqual(["model.layers.1.self_attn.q_proj"]);
    const single = config({ target_modules: ["q_proj"], layers_to_transform: 0, layers_pattern: "layers" });
    expect(selectTargetModules(single, llamaLinears)).toEqual(["model.layers.0.self_attn.q_proj"]);
    const wrongPattern = config({
      target_modules: ["q_proj"],
      layers_to_transform: [0],
      layers_pattern: ["blocks"],
    });
    expect(() => selectTargetModules(wrongPattern, llamaLinears)).toThrow(/not found/);
  });

  it("null target_modules takes PEFT's default for the model type", () => {
    expect(selectTargetModules(config({}), llamaLinears, { modelType: "llama" })).toHaveLength(4);
    // PEFT's mapping: qwen2 and qwen3 also default to q_proj and v_proj.
    expect(selectTargetModules(config({}), llamaLinears, { modelType: "qwen3" })).toEqual(
      selectTargetModules(config({}), llamaLinears, { modelType: "llama" }),
    );
    expect(() => selectTargetModules(config({}), llamaLinears)).toThrow(/no PEFT default/);
  });
});

describe("rank_pattern / alpha_pattern (PEFT get_pattern_key)", () => {
  it("matches `(.*\\.)?(key)$` on the full name, first match wins", () => {
    expect(findPatternKey(["q_proj"], "model.layers.0.self_attn.q_proj")).toBe("q_proj");
    expect(findPatternKey(["q_proj"], "model.layers.0.self_attn.xq_proj")).toBeUndefined();
    expect(findPatternKey(["proj"], "model.layers.0.self_attn.q_proj")).toBeUndefined();
    expect(findPatternKey(["layers.0.self_attn.q_proj", "q_proj"], "model.layers.0.self_attn.q_proj")).toBe(
      "layers.0.self_attn.q_proj",
    );
    expect(findPatternKey(["q_proj", "layers.0.self_attn.q_proj"], "model.layers.0.self_attn.q_proj")).toBe(
      "q_proj",
    );
    expect(findPatternKey(["layers\\.[01]\\..*_proj"], "model.layers.1.mlp.up_proj")).toBe(
      "layers\\.[01]\\..*_proj",
    );
  });

  it.each(["pissa_patterns", "lora_gaussian_rslora", "lora_default"])(
    "gives the per-module r/alpha/scaling PEFT recorded for %s",
    async (name) => {
      const fixture = await readCase(name);
      const config = parseLoraConfig(fixture.lora_config);
      const scalings = fixture.scalings as Record<string, { r: number; lora_alpha: number; scaling: number }>;
      for (const [module, expected] of Object.entries(scalings)) {
        const settings = moduleLoraSettings(config, module);
        expect(settings.r).toBe(expected.r);
        expect(settings.alpha).toBe(expected.lora_alpha);
        // scaling is computed the same way (one division, or one division by a square root) in both languages
        expect(settings.scaling).toBeCloseTo(expected.scaling, 12);
      }
    },
  );
});
