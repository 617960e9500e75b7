import { toFloat32 } from "@peftjs/io";
import { type CausalLM, createModel } from "@peftjs/models";
import { randomCheckpoint, tinyLlamaConfig } from "@peftjs/models/testing";
import { Linear } from "@peftjs/nn";
import { describe, expect, it } from "vitest";
import {
  createLoraConfig,
  decodePeftAdapter,
  encodePeftAdapter,
  type LoraLinear,
  LoraModel,
  moduleDelta,
} from "../src/index.js";
import { logitsOf, maxAbs } from "./model-helpers.js";

// A small Llama whose every projection has a bias (attention_bias, mlp_bias): LoRA never touches biases, and
// every path that rebuilds a layer — merge, unmerge, mergeAndUnload, residual mode — must keep them.
const config = { ...tinyLlamaConfig, attention_bias: true, mlp_bias: true };
const checkpoint = randomCheckpoint(config, 11);
const ids = [
  [1, 5, 9, 2, 17, 30, 4],
  [3, 3, 8, 21, 6, 0, 12],
];
const targets = ["q_proj", "v_proj", "o_proj", "down_proj"];
const biasKeys = [...checkpoint.keys()].filter((key) => key.endsWith(".bias"));

function biasesOf(model: CausalLM): Map<string, Float32Array> {
  const parameters = model.weights;
  return new Map(biasKeys.map((key) => [key, toFloat32(parameters.get(key).toRaw())]));
}

/** A model with a random (non-zero) LoRA on `targets`. */
function adaptedModel(): { model: CausalLM; lora: LoraModel<CausalLM> } {
  const model = createModel(config, checkpoint, { weightStore: { policy: "silent" } });
  const lora = LoraModel.create(model);
  lora.addAdapter(
    "default",
    createLoraConfig({ r: 4, lora_alpha: 8, target_modules: targets, init_lora_weights: false }),
    { seed: 2 },
  );
  return { model, lora };
}

/** An independent reference: a fresh model from the checkpoint with W + s·B·A (float64) and the same biases. */
function referenceMerged(lora: LoraModel<CausalLM>): Float32Array {
  const adapter = lora.getAdapter("default");
  const merged = new Map(checkpoint);
  for (const module of adapter.modules.keys()) {
    const key = `${module}.weight`;
    const weight = toFloat32(checkpoint.get(key)!);
    const delta = moduleDelta(adapter, module).data;
    const values = weight.map((value, index) => value + delta[index]!);
    merged.set(key, { dtype: "F32", shape: checkpoint.get(key)!.shape, data: new Uint8Array(values.buffer) });
  }
  return logitsOf(createModel(config, merged), ids);
}

describe("biases through LoRA", () => {
  it("merge and unmerge keep the bias; the merged model equals an independent W + s·B·A with the bias", () => {
    const { model, lora } = adaptedModel();
    const unmerged = logitsOf(model, ids);
    const reference = referenceMerged(lora);
    // float32 on both sides, W + s·B·A summed in another order: round-off of |logits| ≤ ~10
    expect(maxAbs(unmerged, reference)).toBeLessThan(1e-4);
    lora.merge();
    expect(maxAbs(logitsOf(model, ids), reference)).toBeLessThan(1e-4);
    lora.unmerge();
    expect(logitsOf(model, ids)).toEqual(unmerged);
    // the bias terms matter: without them the output is far off
    expect(maxAbs(unmerged, logitsOf(createModel(tinyLlamaConfig, checkpoint), ids))).toBeGreaterThan(0.1);
  });

  it("mergeAndUnload puts Linear layers with the original biases back and journals only weights", () => {
    const { model, lora } = adaptedModel();
    const before = biasesOf(model);
    const reference = referenceMerged(lora);
    const merged = lora.mergeAndUnload();
    expect(merged.size).toBe(2 * targets.length);
    for (const [path] of merged) {
      const layer = model.getModule(path);
      expect(layer).toBeInstanceOf(Linear);
      const bias = (layer as Linear).bias!;
      expect(bias.toFloat32Array()).toEqual(before.get(`${path}.bias`));
    }
    expect(maxAbs(logitsOf(model, ids), reference)).toBeLessThan(1e-4);
    // "save": the store (what a merged model folder is written from) has every bias unchanged
    expect(biasesOf(model)).toEqual(before);
    expect(lora.store.journal.every((entry) => entry.name.endsWith(".weight"))).toBe(true);
    expect(lora.store.journal).toHaveLength(2 * targets.length);
  });

  it("residual mode keeps the bias under W_res and gives the overlay's output", () => {
    const pissa = createLoraConfig({
      r: 4,
      lora_alpha: 8,
      target_modules: targets,
      init_lora_weights: "pissa",
    });
    const overlayModel = createModel(config, checkpoint);
    const base = logitsOf(overlayModel, ids);
    LoraModel.create(overlayModel).addAdapter("pissa", pissa);
    const residualModel = createModel(config, checkpoint, { weightStore: { policy: "silent" } });
    const residual = LoraModel.create(residualModel);
    residual.addAdapter("pissa", pissa, { mode: "residual" });
    const layer = residualModel.getModule("model.layers.1.self_attn.q_proj") as LoraLinear;
    expect(layer.base_layer.bias!.toFloat32Array()).toEqual(
      toFloat32(checkpoint.get("model.layers.1.self_attn.q_proj.bias")!),
    );
    expect(biasesOf(residualModel)).toEqual(biasesOf(overlayModel));
    // both start at the base output (s·B₀A₀ moved out of W and back in, float32 round-off)
    expect(maxAbs(logitsOf(overlayModel, ids), base)).toBeLessThan(1e-4);
    expect(maxAbs(logitsOf(residualModel, ids), base)).toBeLessThan(1e-4);
    expect(maxAbs(logitsOf(residualModel, ids), logitsOf(overlayModel, ids))).toBeLessThan(1e-4);
    residual.unload();
    expect(residualModel.getModule("model.layers.1.self_attn.q_proj")).toBeInstanceOf(Linear);
    expect((residualModel.getModule("model.layers.1.self_attn.q_proj") as Linear).bias).toBeDefined();
  });

  it("an adapter saved from the biased model holds no bias and reloads to the same output", () => {
    const { model, lora } = adaptedModel();
    const expected = logitsOf(model, ids);
    const encoded = encodePeftAdapter(lora.getAdapter("default"));
    const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
    expect([...decoded.modules.values()].every((factors) => factors.extras === undefined)).toBe(true);
    const fresh = createModel(config, checkpoint);
    LoraModel.create(fresh).loadAdapter("default", decoded);
    expect(logitsOf(fresh, ids)).toEqual(expected);
  });
});
