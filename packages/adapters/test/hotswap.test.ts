import type { Module } from "@peftjs/nn";
import { describe, expect, it } from "vitest";
import {
  createLoraConfig,
  HotswapError,
  type LoraAdapter,
  LoraLinear,
  LoraModel,
  UnknownAdapterError,
  withLoraConfig,
} from "../src/index.js";
import { loadPeftAdapter } from "../src/node.js";
import { fixturePath } from "./helpers.js";
import { logitsOf, maxAbs, referenceLogits, storiesModel } from "./model-helpers.js";

// Hot-swapping (PEFT's hotswap_adapter) must give exactly what loading the new adapter anew gives: the same
// factors and scaling in the same layers run the same kernels, so the logits are compared bit for bit.

const loadA = () => loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
const loadB = () => loadPeftAdapter(fixturePath("peft/combine_more/adapter_b_trained"));

/** Logits of a fresh stories260K model with `adapter` loaded as "x". */
async function freshLogits(adapter: LoraAdapter, inputIds: number[][]): Promise<Float32Array> {
  const model = await storiesModel();
  LoraModel.create(model).loadAdapter("x", adapter);
  const logits = logitsOf(model, inputIds);
  model.dispose();
  return logits;
}

/** An adapter made by peftjs on stories260K with `config` (random B, so it changes the output). */
async function madeAdapter(config: Parameters<typeof createLoraConfig>[0]): Promise<LoraAdapter> {
  const model = await storiesModel();
  const lora = LoraModel.create(model);
  lora.addAdapter("made", createLoraConfig({ init_lora_weights: false, ...config }), { seed: 3 });
  const adapter = lora.getAdapter("made");
  model.dispose();
  return adapter;
}

/** Every module of the tree by path (the objects themselves). */
function moduleTree(model: Module): Map<string, Module> {
  return new Map(model.namedModules());
}

describe("hot-swapping an adapter's weights (PEFT's hotswap_adapter)", () => {
  it("gives the outputs of loading the new adapter anew, without rebuilding anything", async () => {
    const { inputIds, logits: reference } = await referenceLogits("mixed_batch");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("x", await loadA());
    lora.loadAdapter("other", await loadB(), { activate: false });
    const beforeSwap = logitsOf(model, inputIds);
    expect(maxAbs(beforeSwap, reference.get("all_rows_a")!)).toBeLessThan(1e-3);
    const tree = moduleTree(model);
    const layers = [...tree.values()].filter((module) => module instanceof LoraLinear);
    expect(layers).toHaveLength(10);
    const baseWeights = layers.map((layer) => (layer as LoraLinear).base_layer.weight);
    const fingerprint = lora.store.modelFingerprint();
    const journal = lora.store.journal.length;

    const b = await loadB();
    expect(lora.hotswapAdapter("x", b)).toEqual({ zeroedModules: [] });
    const swapped = logitsOf(model, inputIds);
    expect(swapped).toEqual(await freshLogits(b, inputIds));
    expect(maxAbs(swapped, reference.get("all_rows_b")!)).toBeLessThan(1e-3);
    expect(maxAbs(swapped, beforeSwap)).toBeGreaterThan(0.1);
    // no rebuild: the very same module objects at every path, the same base tensors, the base untouched
    const after = moduleTree(model);
    expect([...after.keys()]).toEqual([...tree.keys()]);
    for (const [path, module] of tree) expect(after.get(path), path).toBe(module);
    for (const [index, layer] of layers.entries()) {
      expect((layer as LoraLinear).base_layer.weight).toBe(baseWeights[index]);
    }
    expect(lora.store.modelFingerprint()).toEqual(fingerprint);
    expect(lora.store.journal).toHaveLength(journal);
    // name, active set and the other adapter stay; saving writes the new adapter
    expect(lora.adapterNames).toEqual(["x", "other"]);
    expect(lora.activeAdapters).toEqual(["x"]);
    const saved = lora.getAdapter("x");
    for (const [module, factors] of b.modules) {
      expect(saved.modules.get(module)!.loraA.data).toEqual(factors.loraA.data);
      expect(saved.modules.get(module)!.loraB.data).toEqual(factors.loraB.data);
    }
    model.dispose();
  });

  it("updates the scaling from the new config (lora_alpha)", async () => {
    const { inputIds } = await referenceLogits("mixed_batch");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("x", await loadA());
    const b = await loadB();
    const louder = { ...b, config: withLoraConfig(b.config, { lora_alpha: 40 }) };
    lora.hotswapAdapter("x", louder);
    const swapped = logitsOf(model, inputIds);
    expect(swapped).toEqual(await freshLogits(louder, inputIds));
    expect(maxAbs(swapped, await freshLogits(b, inputIds))).toBeGreaterThan(0.1);
    expect(lora.getAdapter("x").config.lora_alpha).toBe(40);
    model.dispose();
  });

  it("zeroes the modules the new weights do not cover, as PEFT does", async () => {
    const { inputIds } = await referenceLogits("mixed_batch");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("x", await loadA());
    const b = await loadB();
    const kept = [...b.modules.keys()].slice(0, 4);
    const partial: LoraAdapter = {
      ...b,
      modules: new Map(kept.map((module) => [module, b.modules.get(module)!])),
    };
    const { zeroedModules } = lora.hotswapAdapter("x", partial);
    expect(zeroedModules).toEqual([...b.modules.keys()].slice(4));
    // loading the partial adapter anew initialises the missing modules with B = 0: no delta there either
    expect(logitsOf(model, inputIds)).toEqual(await freshLogits(partial, inputIds));
    model.dispose();
  });

  it("refuses what PEFT refuses, and another rank, with typed errors; nothing changes", async () => {
    const { inputIds } = await referenceLogits("mixed_batch");
    const model = await storiesModel();
    const lora = LoraModel.create(model);
    lora.loadAdapter("x", await loadA());
    const before = logitsOf(model, inputIds);
    const b = await loadB();
    const refusal = (run: () => unknown): string => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(HotswapError);
        return (error as Error).message;
      }
      throw new Error("expected a HotswapError");
    };
    expect(
      refusal(() =>
        lora.hotswapAdapter("x", { ...b, config: withLoraConfig(b.config, { use_rslora: true }) }),
      ),
    ).toContain("use_rslora (false loaded, true new)");
    expect(
      refusal(() =>
        lora.hotswapAdapter("x", { ...b, config: withLoraConfig(b.config, { lora_dropout: 0.1 }) }),
      ),
    ).toContain("lora_dropout");
    expect(
      refusal(() =>
        lora.hotswapAdapter("x", {
          ...b,
          config: withLoraConfig(b.config, { alpha_pattern: { q_proj: 4 } }),
        }),
      ),
    ).toContain("alpha_pattern");
    const rank4 = await madeAdapter({ r: 4, lora_alpha: 16, target_modules: ["q_proj", "v_proj"] });
    expect(refusal(() => lora.hotswapAdapter("x", rank4))).toMatch(/lora_A is \[4, 64\] .* \[8, 64\]/);
    const otherTargets = await madeAdapter({ r: 8, lora_alpha: 16, target_modules: ["q_proj", "k_proj"] });
    expect(refusal(() => lora.hotswapAdapter("x", otherTargets))).toContain(
      "model.layers.0.self_attn.k_proj",
    );
    lora.merge(["x"]);
    expect(refusal(() => lora.hotswapAdapter("x", b))).toContain("merged");
    lora.unmerge();
    const pissa = await loadPeftAdapter(fixturePath("peft/pissa/adapter_trained"));
    expect(
      refusal(() =>
        lora.hotswapAdapter("x", { ...pissa, config: withLoraConfig(pissa.config, { lora_dropout: 0 }) }),
      ),
    ).toMatch(/unconverted "pissa" adapter/);
    expect(() => lora.hotswapAdapter("nope", b)).toThrow(UnknownAdapterError);
    // an adapter with embedding LoRA: its embedding layer has no swap path, so the swap is refused whole
    const withEmbedding = await madeAdapter({ r: 8, target_modules: ["embed_tokens", "q_proj"] });
    lora.loadAdapter("e", withEmbedding, { activate: false });
    expect(refusal(() => lora.hotswapAdapter("e", withEmbedding))).toContain(
      'adapts "model.embed_tokens", which is not a LoRA linear layer',
    );
    lora.deleteAdapter("e");
    expect(logitsOf(model, inputIds)).toEqual(before);
    model.dispose();
  });
});
