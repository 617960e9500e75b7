import { AdamW, train } from "@peftjs/models";
import { RMSNorm } from "@peftjs/nn";
import { scale } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  createLoraConfig,
  decodePeftAdapter,
  encodePeftAdapter,
  LoraConfigError,
  LoraModel,
  ModulesToSaveLayer,
} from "../src/index.js";
import { logitsOf, maxAbs, storiesModel } from "./model-helpers.js";

// modules_to_save, PEFT 0.21's ModulesToSaveWrapper. The fixtures hold no PEFT run with it, so the key layout is
// taken from PEFT's source (utils/other.py: the copy lives at `<module>.modules_to_save.<adapter>.<param>` in the
// model and is saved as `<module>.<param>`, save_and_load.py strips the prefix; `_set_trainable` matches a module
// when its name ends with an entry), and the behaviour is checked by its invariants: the copy starts equal to the
// module, trains on its own, leaves the base untouched, round-trips through the file, and goes away when
// disabled, deleted or unloaded.

const batch = [[1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315]];

describe("modules_to_save", () => {
  it("trains a full copy of the tied lm_head under PEFT's keys, leaving the embedding and the base untouched", async () => {
    const model = await storiesModel();
    const base = logitsOf(model, batch);
    const embedding = model.namedParameters().get("model.embed_tokens.weight")!;
    const embeddingValues = embedding.toFloat32Array();
    const fingerprint = model.weights.modelFingerprint();
    const lora = LoraModel.create(model);
    lora.addAdapter(
      "default",
      createLoraConfig({ r: 4, lora_alpha: 8, target_modules: ["q_proj"], modules_to_save: ["lm_head"] }),
    );
    expect(model.namedModules().get("lm_head")).toBeInstanceOf(ModulesToSaveLayer);
    // the copy starts as the module: init == base exactly (B = 0 for q_proj)
    expect(maxAbs(logitsOf(model, batch), base)).toBe(0);
    const keys = [...lora.trainableParameters().keys()];
    expect(keys).toContain("base_model.model.lm_head.weight");
    expect(keys.filter((key) => key.includes("lm_head"))).toEqual(["base_model.model.lm_head.weight"]);
    const { losses } = await train({
      model,
      trainable: lora.trainable,
      optimizer: new AdamW({ learningRate: 5e-3, eps: 1e-6 }),
      batches: [{ inputIds: batch }],
      steps: 5,
    });
    expect(losses[4]!).toBeLessThan(losses[0]!);
    const trained = logitsOf(model, batch);
    // the tied embedding is not the copy: its tensor and the store are unchanged
    expect(model.namedParameters().get("model.embed_tokens.weight")!.toFloat32Array()).toEqual(
      embeddingValues,
    );
    expect(model.weights.modelFingerprint()).toBe(fingerprint);
    expect(lora.store.journal).toHaveLength(0);
    expect(lora.withAdaptersDisabled(() => maxAbs(logitsOf(model, batch), base))).toBe(0);

    // PEFT's file layout: `base_model.model.lm_head.weight` [vocab, dim] beside the LoRA keys
    const { configText, weights } = encodePeftAdapter(lora.getAdapter("default"));
    const adapter = decodePeftAdapter(JSON.parse(configText), weights);
    expect([...adapter.modulesToSave!.keys()]).toEqual(["lm_head"]);
    expect(adapter.modulesToSave!.get("lm_head")!.get("weight")!.shape).toEqual([512, 64]);
    expect(JSON.parse(configText).modules_to_save).toEqual(["lm_head"]);
    const fresh = await storiesModel();
    LoraModel.create(fresh).loadAdapter("default", adapter);
    expect(maxAbs(logitsOf(fresh, batch), trained)).toBe(0);

    // deleting the adapter brings the original back
    lora.deleteAdapter("default");
    expect(maxAbs(logitsOf(model, batch), base)).toBe(0);
    model.dispose();
    fresh.dispose();
  });

  it("matches by name suffix as PEFT does, keys copies by adapter when several train, and mergeAndUnload writes the copy", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.addAdapter("a", createLoraConfig({ target_modules: ["q_proj"], modules_to_save: ["model.norm"] }));
    lora.addAdapter("b", createLoraConfig({ target_modules: ["v_proj"], modules_to_save: ["norm"] }));
    const wrapped = [...model.namedModules()].filter(([, module]) => module instanceof ModulesToSaveLayer);
    // "norm" ends 11 module names: model.norm and both norms of each of the 5 layers (PEFT's plain suffix match)
    expect(wrapped.map(([path]) => path)).toHaveLength(11);
    lora.setActiveAdapters(["a", "b"]);
    const keys = [...lora.trainableParameters().keys()];
    expect(keys).toContain("base_model.model.model.norm.modules_to_save.a.weight");
    expect(keys).toContain("base_model.model.model.layers.0.input_layernorm.modules_to_save.b.weight");
    // two active adapters with a copy of the same module: refused, as in PEFT
    expect(() => logitsOf(model, batch)).toThrow(/only one can be active/);
    lora.setActiveAdapters("b");
    const key = "base_model.model.model.norm.weight";
    const trainable = lora.trainableParameters();
    const scaled = new Map(
      [...trainable].map(([name, value]) => [name, name === key ? scale(value, 2) : value]),
    );
    lora.setTrainableParameters(scaled);
    const expected = logitsOf(model, batch);
    const weights = lora.mergeAndUnload();
    expect(model.namedModules().get("model.norm")).toBeInstanceOf(RMSNorm);
    expect(maxAbs(logitsOf(model, batch), expected)).toBeLessThan(1e-5);
    expect(lora.store.journal.some((entry) => entry.name === "model.norm.weight")).toBe(true);
    expect(weights.size).toBeGreaterThan(0);
    model.dispose();
  });

  it("refuses entries that match nothing", async () => {
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    expect(() =>
      lora.addAdapter("x", createLoraConfig({ target_modules: ["q_proj"], modules_to_save: ["score"] })),
    ).toThrow(LoraConfigError);
    model.dispose();
  });
});
