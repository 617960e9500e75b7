import { isPeftjsError } from "@peftjs/io";
import { describe, expect, it } from "vitest";
import { AdapterTooLargeError, createLoraConfig, LoraModel, MAX_ADAPTER_ELEMENTS } from "../src/index.js";
import { storiesModel } from "./model-helpers.js";

// PEFT accepts any positive r; peftjs accepts the same configs and refuses, before allocating anything, only
// an adapter whose lora_A + lora_B elements exceed MAX_ADAPTER_ELEMENTS (stories260K: dim 64, q_proj [64, 64],
// v_proj [32, 64] with 4 key/value heads of 8 → r·(64 + 64) + r·(64 + 32) per layer, 5 layers).
describe("adapter size limit", () => {
  it("refuses a rank whose factors cannot be allocated with a typed error naming r, before allocating", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    for (const r of [1_000_000_000, 2_000_000]) {
      let caught: unknown;
      try {
        lora.addAdapter("huge", createLoraConfig({ r, target_modules: ["q_proj", "v_proj"] }));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(AdapterTooLargeError);
      expect(isPeftjsError(caught) && caught.code).toBe("adapter_too_large");
      expect((caught as AdapterTooLargeError).r).toBe(r);
      expect((caught as AdapterTooLargeError).elements).toBeGreaterThan(MAX_ADAPTER_ELEMENTS);
      expect((caught as Error).message).toContain(`r = ${r}`);
      expect((caught as Error).message).toMatch(/model\.layers\.\d+\.self_attn\.q_proj/);
    }
    expect(lora.adapterNames).toEqual([]);
    model.dispose();
  });

  it("names the pattern's rank when rank_pattern makes one module too large", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    const config = createLoraConfig({
      r: 4,
      target_modules: ["q_proj", "v_proj"],
      rank_pattern: { "layers.3.self_attn.v_proj": 50_000_000 },
    });
    expect(() => lora.addAdapter("patterned", config)).toThrow(
      /r = 50000000 .*"model\.layers\.3\.self_attn\.v_proj"/,
    );
    model.dispose();
  });

  it("accepts what PEFT accepts: r above min(in, out) when it fits", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.addAdapter("wide", createLoraConfig({ r: 100, target_modules: ["q_proj"] }));
    const keys = [...lora.trainableParameters().keys()];
    expect(keys.length).toBe(10);
    expect(lora.trainableParameters().get(keys[0]!)!.shape).toEqual([100, 64]);
    model.dispose();
  });
});
