import { UnsupportedActivationError } from "@peftjs/nn";
import { tensor } from "@peftjs/tensor";
import { describe, expect, it } from "vitest";
import {
  architectureFor,
  attentionMask,
  causalMask,
  createModel,
  groupedQueryAttention,
  listArchitectures,
  ModelConfigError,
  ModelWeightsError,
  parseModelConfig,
  registerArchitecture,
  UnsupportedModelTypeError,
  UnsupportedRopeTypeError,
} from "../src/index.js";
import { randomCheckpoint, tinyLlamaConfig } from "../src/testing.js";

describe("the architecture registry", () => {
  it("has llama, mistral, qwen2, qwen3 and gemma3_text, and refuses unknown or missing model types by name", () => {
    expect(listArchitectures()).toEqual(["llama", "mistral", "qwen2", "qwen3", "gemma3_text"]);
    expect(architectureFor("mistral").modelType).toBe("mistral");
    expect(() => parseModelConfig({ ...tinyLlamaConfig, model_type: "qwen9" })).toThrow(
      UnsupportedModelTypeError,
    );
    expect(() => parseModelConfig({ ...tinyLlamaConfig, model_type: "qwen9" })).toThrow(
      'model_type "qwen9" is not supported; supported: "llama", "mistral", "qwen2", "qwen3", "gemma3_text"',
    );
    expect(() => parseModelConfig({ ...tinyLlamaConfig, model_type: undefined })).toThrow(
      /"model_type" must name the architecture/,
    );
    expect(() => registerArchitecture(architectureFor("llama"))).toThrow(ModelConfigError);
  });

  it("refuses options it does not implement, naming them", () => {
    expect(() =>
      parseModelConfig({ ...tinyLlamaConfig, rope_parameters: { rope_type: "longrope", factor: 4 } }),
    ).toThrow(UnsupportedRopeTypeError);
    expect(() => parseModelConfig({ ...tinyLlamaConfig, hidden_act: "gelu" })).toThrow(
      UnsupportedActivationError,
    );
    expect(() => parseModelConfig({ ...tinyLlamaConfig, attention_bias: "yes" })).toThrow(
      'config.json "attention_bias" must be true or false, got "yes"',
    );
    expect(() => parseModelConfig({ ...tinyLlamaConfig, model_type: "mistral", sliding_window: 0 })).toThrow(
      'config.json "sliding_window" must be a positive integer or null, got 0',
    );
    expect(
      parseModelConfig({ ...tinyLlamaConfig, model_type: "mistral", sliding_window: null }),
    ).toMatchObject({
      slidingWindow: null,
    });
  });
});

describe("biases (attention_bias, mlp_bias)", () => {
  it("are read from the checkpoint, are part of the identity, and change the output", () => {
    const config = { ...tinyLlamaConfig, attention_bias: true, mlp_bias: true };
    const weights = randomCheckpoint(config, 3);
    const biased = createModel(config, weights);
    const names = biased.weights.names();
    expect(names).toContain("model.layers.0.self_attn.o_proj.bias");
    expect(names).toContain("model.layers.1.mlp.down_proj.bias");
    const unbiased = createModel(tinyLlamaConfig, weights);
    expect(unbiased.weights.names().some((name) => name.endsWith(".bias"))).toBe(false);
    const ids = [[1, 5, 9, 2]];
    const [a, b] = [biased.forward(ids).toFloat32Array(), unbiased.forward(ids).toFloat32Array()];
    expect(a.some((value, index) => Math.abs(value - b[index]!) > 1e-3)).toBe(true);
    const missing = new Map(weights);
    missing.delete("model.layers.1.self_attn.k_proj.bias");
    expect(() => createModel(config, missing)).toThrow(ModelWeightsError);
    expect(() => createModel(config, missing)).toThrow(
      'checkpoint lacks the weight "model.layers.1.self_attn.k_proj.bias"',
    );
  });
});

describe("causalMask", () => {
  const visible = (start: number, length: number, window?: number) =>
    Array.from(causalMask(start, length, window).toFloat32Array(), (value) => (value === 0 ? 1 : 0));

  it("lets query i see keys j ≤ i, and with a window W only i − W < j ≤ i", () => {
    expect(visible(0, 3)).toEqual([1, 0, 0, 1, 1, 0, 1, 1, 1]);
    expect(visible(0, 4, 2)).toEqual([1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]);
    // two new positions after 3 cached ones, window 2: query 3 sees 2..3, query 4 sees 3..4
    expect(visible(3, 2, 2)).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 1, 1]);
  });
});

describe("attentionMask", () => {
  it("is the fused causal mask unless a sliding window cuts keys off", () => {
    expect(attentionMask(0, 4)).toBe("causal");
    expect(attentionMask(3, 2, 5)).toBe("causal");
    expect(attentionMask(3, 2, 4)).not.toBe("causal");
  });

  it("gives grouped-query attention the same output as causalMask's tensor, with cached keys before the queries", () => {
    // 2 sequences, 4 query heads over 2 key/value heads, 3 new positions after 2 cached ones, head width 4.
    const [batchSize, length, start, numHeads, numKeyValueHeads, headDim] = [2, 3, 2, 4, 2, 4];
    const values = (count: number, salt: number) =>
      Float32Array.from({ length: count }, (_, index) => Math.sin(index * 0.7 + salt));
    const queries = tensor(values(batchSize * numHeads * length * headDim, 1), [
      batchSize * numHeads,
      length,
      headDim,
    ]);
    const keyShape = [batchSize * numKeyValueHeads, start + length, headDim];
    const keys = tensor(values(batchSize * numKeyValueHeads * (start + length) * headDim, 2), keyShape);
    const cached = tensor(values(batchSize * numKeyValueHeads * (start + length) * headDim, 3), keyShape);
    const shape = { batchSize, length, numHeads, numKeyValueHeads, headDim };
    const fused = groupedQueryAttention(queries, keys, cached, "causal", 0.5, shape).toFloat32Array();
    const masked = groupedQueryAttention(queries, keys, cached, causalMask(start, length), 0.5, shape);
    // Same sums of the same terms; only the kernels' summation order may differ (float32 round-off).
    const expected = masked.toFloat32Array();
    for (let index = 0; index < expected.length; index++)
      expect(fused[index]).toBeCloseTo(expected[index]!, 6);
  });
});

describe("the weight store's bytes (takeOverBytes)", () => {
  it("copies a caller's tensors by default and takes a loader's over, with the same identity either way", () => {
    const copiedFrom = randomCheckpoint(tinyLlamaConfig, 5);
    const takenFrom = randomCheckpoint(tinyLlamaConfig, 5);
    const copying = createModel(tinyLlamaConfig, copiedFrom);
    const taking = createModel(tinyLlamaConfig, takenFrom, { takeOverBytes: true });
    const key = "model.layers.0.self_attn.q_proj.weight";
    const before = copying.weights.get(key).copyBytes();
    expect(taking.weights.modelFingerprint()).toBe(copying.weights.modelFingerprint());
    // Writing into the source buffers after the store exists shows which store holds them: the copying store
    // keeps its own bytes; the taking store reads the buffer it was handed (so a loader passes only buffers
    // nothing else holds).
    copiedFrom.get(key)!.data[0]! ^= 0xff;
    takenFrom.get(key)!.data[0]! ^= 0xff;
    expect(copying.weights.get(key).copyBytes()).toEqual(before);
    expect(taking.weights.get(key).copyBytes()[0]).toBe(before[0]! ^ 0xff);
    copying.dispose();
    taking.dispose();
  });
});
