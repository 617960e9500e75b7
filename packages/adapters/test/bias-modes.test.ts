import { deserialize, serialize, toFloat32 } from "@peftjs/io";
import { AdamW, type CausalLM, causalLanguageModelLoss, createModel, train } from "@peftjs/models";
import { randomCheckpoint, tinyLlamaConfig } from "@peftjs/models/testing";
import { Linear } from "@peftjs/nn";
import { valueAndGradients } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  AdapterCombinationError,
  AdapterFileError,
  AdapterLoadError,
  combineAdapters,
  createLoraConfig,
  decodePeftAdapter,
  encodePeftAdapter,
  type LoraBias,
  LoraModel,
  peftBiasKey,
} from "../src/index.js";
import { logitsOf, maxAbs } from "./model-helpers.js";

// PEFT's `bias` modes on a Llama whose every projection has a bias (attention_bias, mlp_bias). PEFT trains the
// base layers' biases in place and saves them in the adapter file (`….q_proj.base_layer.bias` for a wrapped
// layer, `….k_proj.bias` for another, the keys of its `_get_learnable_bias_state_dict`); peftjs gives the
// adapter its own biases instead, so the base model never changes behind the user's back. PEFT's own
// `bias: "lora_only"` run (hf/qwen2 `peft_lora_bias`) is checked in hf-lora-bias.test.ts.

const config = { ...tinyLlamaConfig, attention_bias: true, mlp_bias: true };
const checkpoint = randomCheckpoint(config, 5);
const ids = [
  [1, 5, 9, 2, 17, 30, 4, 8],
  [3, 3, 8, 21, 6, 0, 12, 7],
];
const targets = ["q_proj", "v_proj"];
const projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const attention = new Set(["q_proj", "k_proj", "v_proj", "o_proj"]);
const moduleOf = (layer: number, projection: string) =>
  `model.layers.${layer}.${attention.has(projection) ? "self_attn" : "mlp"}.${projection}`;

function freshModel(): CausalLM {
  return createModel(config, checkpoint, { weightStore: { policy: "silent" } });
}

function biasedAdapter(bias: LoraBias, model = freshModel()): { model: CausalLM; lora: LoraModel<CausalLM> } {
  const lora = LoraModel.create(model);
  lora.addAdapter("default", createLoraConfig({ r: 4, lora_alpha: 8, target_modules: targets, bias }), {
    seed: 1,
  });
  return { model, lora };
}

/** One AdamW step with a large learning rate, so every trainable tensor moves. */
async function trainOneStep(model: CausalLM, lora: LoraModel<CausalLM>): Promise<void> {
  const optimizer = new AdamW({ learningRate: 0.05 });
  await train({ model, trainable: lora.trainable, optimizer, batches: [{ inputIds: ids }], steps: 2 });
  optimizer.dispose();
}

describe("bias modes (PEFT's bias: none | lora_only | all)", () => {
  it("trainable keys are PEFT's: lora_only the wrapped layers' base_layer.bias, all every linear bias", () => {
    const wrappedKeys = [0, 1].flatMap((layer) =>
      targets.map((projection) => peftBiasKey(moduleOf(layer, projection), true)),
    );
    const otherKeys = [0, 1].flatMap((layer) =>
      projections
        .filter((projection) => !targets.includes(projection))
        .map((projection) => peftBiasKey(moduleOf(layer, projection), false)),
    );
    const biasKeys = (bias: LoraBias) =>
      [...biasedAdapter(bias).lora.trainableParameters().keys()].filter((key) => key.endsWith(".bias"));
    expect(biasKeys("none")).toEqual([]);
    expect(biasKeys("lora_only").sort()).toEqual(wrappedKeys.sort());
    expect(biasKeys("all").sort()).toEqual([...wrappedKeys, ...otherKeys].sort());
    expect(wrappedKeys[0]).toBe("base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias");
    expect(otherKeys[0]).toBe("base_model.model.model.layers.0.self_attn.k_proj.bias");
  });

  it("the gradient of an adapter's bias is the gradient of the base bias it stands in for", () => {
    // with B = 0 the adapted model computes the base function, so d loss / d bias must be the same tensor
    const { model, lora } = biasedAdapter("all");
    const adapted = valueAndGradients(
      () => causalLanguageModelLoss(model.forward(ids), ids),
      new Map([...lora.trainableParameters()].filter(([key]) => key.endsWith(".bias"))),
    );
    const plain = freshModel();
    const parameters = plain.namedParameters();
    const baseBiases = new Map(
      [...parameters].filter(([key]) => key.endsWith(".bias") && !key.startsWith("lm_head")),
    );
    const reference = valueAndGradients(() => causalLanguageModelLoss(plain.forward(ids), ids), baseBiases);
    expect(adapted.value.toFloat32Array()).toEqual(reference.value.toFloat32Array());
    expect(adapted.gradients.size).toBe(14);
    for (const [key, gradient] of adapted.gradients) {
      const module = key.slice("base_model.model.".length).replace(/(\.base_layer)?\.bias$/, "");
      const expected = reference.gradients.get(`${module}.bias`)!.toFloat32Array();
      // the same float32 computation through the same kernels: identical
      expect(gradient.toFloat32Array(), key).toEqual(expected);
    }
  });

  it("training moves the adapter's biases, never the base's; disable and unload give the base model back", async () => {
    const { model, lora } = biasedAdapter("lora_only");
    const base = logitsOf(freshModel(), ids);
    const fingerprint = lora.store.modelFingerprint();
    const layer = model.getModule(moduleOf(0, "q_proj")) as unknown as { base_layer: Linear };
    const baseBias = layer.base_layer.bias!.toFloat32Array();
    await trainOneStep(model, lora);
    const trained = lora.getAdapter("default");
    const q = trained.biases!.get(moduleOf(0, "q_proj"))!;
    // AdamW's first steps move every entry by about the learning rate
    expect(maxAbs(q.data, baseBias)).toBeGreaterThan(1e-2);
    expect([...trained.biases!.keys()].sort()).toEqual(
      [0, 1].flatMap((index) => targets.map((projection) => moduleOf(index, projection))).sort(),
    );
    expect(layer.base_layer.bias!.toFloat32Array()).toEqual(baseBias);
    expect(lora.store.modelFingerprint()).toBe(fingerprint);
    expect(lora.store.journal).toHaveLength(0);
    // PEFT warns that disabling does not give the base model back under a bias mode; here it does
    expect(lora.withAdaptersDisabled(() => logitsOf(model, ids))).toEqual(base);
    lora.unload();
    expect(logitsOf(model, ids)).toEqual(base);
  });

  it("saves the biases under PEFT's keys and reloads to the same output; bias 'all' keys unwrapped layers by .bias", async () => {
    for (const mode of ["lora_only", "all"] as const) {
      const { model, lora } = biasedAdapter(mode);
      await trainOneStep(model, lora);
      const expected = logitsOf(model, ids);
      const encoded = encodePeftAdapter(lora.getAdapter("default"));
      const keys = [...deserialize(encoded.weights).tensors.keys()];
      const biasKeys = keys.filter((key) => key.endsWith(".bias"));
      expect(biasKeys.length, mode).toBe(mode === "all" ? 14 : 4);
      expect(keys).toContain("base_model.model.model.layers.1.self_attn.v_proj.base_layer.bias");
      if (mode === "all") expect(keys).toContain("base_model.model.model.layers.1.mlp.up_proj.bias");
      expect(JSON.parse(encoded.configText).bias).toBe(mode);
      const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
      const fresh = freshModel();
      LoraModel.create(fresh).loadAdapter("default", decoded);
      expect(logitsOf(fresh, ids)).toEqual(expected);
    }
  });

  it("merge/unmerge keep the adapter's bias; mergeAndUnload writes the trained biases into the base, journaled", async () => {
    const { model, lora } = biasedAdapter("all");
    await trainOneStep(model, lora);
    const unmerged = logitsOf(model, ids);
    lora.merge();
    // float32 W + s·B·A in one matrix vs the two-path sum (|logits| ≲ 5): round-off
    expect(maxAbs(logitsOf(model, ids), unmerged)).toBeLessThan(1e-4);
    lora.unmerge();
    expect(logitsOf(model, ids)).toEqual(unmerged);
    const trained = lora.getAdapter("default");
    lora.mergeAndUnload();
    expect(maxAbs(logitsOf(model, ids), unmerged)).toBeLessThan(1e-4);
    const downProj = model.getModule(moduleOf(1, "down_proj"));
    expect(downProj).toBeInstanceOf(Linear);
    expect((downProj as Linear).bias!.toFloat32Array()).toEqual(
      trained.biases!.get(moduleOf(1, "down_proj"))!.data,
    );
    const journaled = lora.store.journal.map((entry) => entry.name);
    expect(journaled.filter((name) => name.endsWith(".bias"))).toHaveLength(14);
    expect(journaled.filter((name) => name.endsWith(".weight"))).toHaveLength(4);
    expect(toFloat32(lora.store.get(`${moduleOf(1, "down_proj")}.bias`).toRaw())).toEqual(
      trained.biases!.get(moduleOf(1, "down_proj"))!.data,
    );
  });

  it("refuses a second adapter with a bias mode, biases without a bias mode, and combining biased adapters", async () => {
    const { model, lora } = biasedAdapter("lora_only");
    expect(() =>
      lora.addAdapter("second", createLoraConfig({ r: 2, target_modules: ["k_proj"], bias: "all" })),
    ).toThrow(/only one adapter may have a bias mode/);
    expect(() =>
      lora.addAdapter("second", createLoraConfig({ r: 2, target_modules: ["k_proj"], bias: "all" })),
    ).toThrow(AdapterLoadError);
    // refused before any layer changed: k_proj was never wrapped
    expect(lora.adapterNames).toEqual(["default"]);
    expect(model.getModule(moduleOf(0, "k_proj"))).toBeInstanceOf(Linear);
    expect(() =>
      lora.checkAdapter("second", {
        ...lora.getAdapter("default"),
        config: { ...lora.getAdapter("default").config, bias: "all" },
      }),
    ).toThrow(AdapterLoadError);
    lora.addAdapter("plain", createLoraConfig({ r: 2, target_modules: ["k_proj"] }));
    await trainOneStep(model, lora);
    const saved = lora.getAdapter("default");
    const encoded = encodePeftAdapter(saved);
    const configJson = { ...JSON.parse(encoded.configText), bias: "none" };
    expect(() => decodePeftAdapter(configJson, encoded.weights)).toThrow(AdapterFileError);
    expect(() => decodePeftAdapter(configJson, encoded.weights)).toThrow(/bias "none"/);
    expect(() => combineAdapters([saved, saved], [0.5, 0.5], { type: "cat" })).toThrow(
      AdapterCombinationError,
    );
    // a bias for a layer the mode does not train (lora_only on k_proj, which the adapter does not wrap)
    const tensors = new Map(deserialize(encoded.weights).tensors);
    tensors.set(peftBiasKey(moduleOf(0, "k_proj"), false), {
      dtype: "F32",
      shape: [8],
      data: new Uint8Array(32),
    });
    const stray = decodePeftAdapter(JSON.parse(encoded.configText), serialize(tensors));
    expect(() => LoraModel.create(freshModel()).loadAdapter("stray", stray)).toThrow(/does not train/);
    // PEFT's lora_B.bias (lora_bias) is not a layer bias: the file is refused as not LoRA
    const loraBias = new Map(deserialize(encoded.weights).tensors);
    loraBias.set("base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", {
      dtype: "F32",
      shape: [16],
      data: new Uint8Array(64),
    });
    expect(() => decodePeftAdapter(JSON.parse(encoded.configText), serialize(loraBias))).toThrow(
      /not a PEFT LoRA key/,
    );
  });
});
