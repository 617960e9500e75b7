/**
 * The architecture table against llama.cpp's converter (convert_hf_to_gguf.py / conversion/*.py of the llama.cpp
 * release node-llama-cpp 3.21.1 ships) and the fixtures' reference numbers: the q/k row order, Llama 3 RoPE
 * factors, Gemma 3's sliding-window period and attention-scale fold, names and hyper-parameters, and refusals.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  exportModelToGguf,
  GgufArchitectureError,
  gemma3QueryScaleCorrection,
  ggufArchitectureFor,
  ggufModelTypes,
  invertPermutation,
  llama3RopeFactors,
  metadataNumber,
  metadataString,
  permuteRows,
  queryKeyRowPermutation,
  readDecoderConfig,
} from "../src/index.js";
import {
  fixtures,
  hfModels,
  openModelFolder,
  storiesVocabulary,
  syntheticVocabulary,
} from "./helpers/fixtures.js";

function hfConfig(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${fixtures}hf/models/${name}/config.json`, "utf8"));
}

/**
 * The converter's `w.reshape(heads, 2, d/2, …).swapaxes(1, 2).reshape(w.shape)`, done literally on row indices:
 * build the (heads, 2, d/2) array of indices, swap axes 1 and 2, read it out in row-major order.
 */
function converterPermutation(heads: number, headDimension: number): number[] {
  const half = headDimension / 2;
  const original: number[][][] = [];
  let row = 0;
  for (let head = 0; head < heads; head++) {
    original.push([[], []]);
    for (let part = 0; part < 2; part++)
      for (let index = 0; index < half; index++) original[head]![part]!.push(row++);
  }
  const swapped = original.map((pair) =>
    Array.from({ length: half }, (_, index) => [pair[0]![index]!, pair[1]![index]!]),
  );
  return swapped.flat(2);
}

describe("llama.cpp's q/k row order", () => {
  it("equals the converter's reshape / swapaxes for every head layout of the fixtures", () => {
    for (const [heads, dimension] of [
      [8, 8],
      [4, 8],
      [4, 16],
      [2, 16],
      [3, 6],
    ] as const) {
      expect(Array.from(queryKeyRowPermutation(heads, dimension))).toEqual(
        converterPermutation(heads, dimension),
      );
    }
  });

  it("is undone exactly by its inverse, rows of any width", () => {
    const permutation = queryKeyRowPermutation(4, 8);
    const values = Float64Array.from({ length: 32 * 3 }, (_, index) => index * 0.5);
    const permuted = permuteRows(values, 3, permutation);
    expect(Array.from(permuted.subarray(3, 6))).toEqual(Array.from(values.subarray(12, 15))); // GGUF row 1 = HF row 4
    expect(Array.from(permuteRows(permuted, 3, invertPermutation(permutation)))).toEqual(Array.from(values));
  });

  it("applies to the q/k projections of the Llama family only", () => {
    const config = readDecoderConfig(hfConfig("llama_rope3"));
    const llama = ggufArchitectureFor("llama");
    expect(llama.outputRowPermutation("model.layers.1.self_attn.q_proj", config)).toHaveLength(64);
    expect(llama.outputRowPermutation("model.layers.1.self_attn.k_proj", config)).toHaveLength(32);
    expect(llama.outputRowPermutation("model.layers.1.self_attn.v_proj", config)).toBeUndefined();
    expect(
      ggufArchitectureFor("mistral").outputRowPermutation("model.layers.0.self_attn.q_proj", config),
    ).toBeDefined();
    for (const modelType of ["qwen2", "qwen3", "gemma3_text"]) {
      expect(
        ggufArchitectureFor(modelType).outputRowPermutation("model.layers.0.self_attn.q_proj", config),
      ).toBeUndefined();
    }
  });
});

describe("hyper-parameters", () => {
  it("Llama 3 RoPE: 1/θ^(2i/d) divided by rope_freqs gives transformers' inv_freq buffer", () => {
    const config = readDecoderConfig(hfConfig("llama_rope3"));
    const reference = JSON.parse(readFileSync(`${fixtures}hf/models/llama_rope3/reference.json`, "utf8")).rope
      .hf_buffers.inv_freq;
    const factors = llama3RopeFactors(config.rope, 16);
    const inverseFrequencies = Array.from(
      factors,
      (factor, index) => 1 / 10000 ** ((2 * index) / 16) / factor,
    );
    for (const [index, value] of inverseFrequencies.entries()) expect(value).toBeCloseTo(reference[index], 7);
    expect(Array.from(factors)).toEqual([1, Math.fround(factors[1]!), 8, 8, 8, 8, 8, 8]);
    expect(factors[1]).toBeGreaterThan(1);
    expect(factors[1]).toBeLessThan(8);
  });

  it("Gemma 3: the sliding-window period of layer_types, both RoPE bases, the attention-scale fold", () => {
    const json = hfConfig("gemma3");
    const config = readDecoderConfig(json);
    const { metadata } = ggufArchitectureFor("gemma3_text").describe(config);
    const built = metadata.build();
    expect(metadataNumber(built, "gemma3.attention.sliding_window")).toBe(8);
    expect(metadataNumber(built, "gemma3.attention.sliding_window_pattern")).toBe(3); // S S F S: l mod 3 < 2
    expect(metadataNumber(built, "gemma3.rope.freq_base")).toBe(1e6);
    expect(metadataNumber(built, "gemma3.rope.freq_base_swa")).toBe(1e4);
    // llama.cpp scales by 1/√head_dim = 1/√32, Gemma by query_pre_attn_scalar^−½ = 1/√24
    expect(gemma3QueryScaleCorrection(config)).toBeCloseTo(Math.sqrt(32 / 24), 12);
    expect(
      gemma3QueryScaleCorrection(readDecoderConfig({ ...json, head_dim: 256, query_pre_attn_scalar: 256 })),
    ).toBe(1);
    const gemma = ggufArchitectureFor("gemma3_text");
    const norm = Float64Array.from([0, 0.5, -1]);
    expect(Array.from(gemma.adjustValues("model.layers.0.input_layernorm.weight", norm, config))).toEqual([
      1, 1.5, 0,
    ]);
    const scaled = gemma.adjustValues("model.layers.0.self_attn.q_norm.weight", norm, config);
    expect(Array.from(scaled)).toEqual([1, 1.5, 0].map((value) => value * Math.sqrt(32 / 24)));
    expect(gemma.adjustValues("model.layers.0.self_attn.q_proj.weight", norm, config)).toBe(norm);
    const everySixth = readDecoderConfig({ ...json, num_hidden_layers: 12, layer_types: undefined });
    expect(
      metadataNumber(gemma.describe(everySixth).metadata.build(), "gemma3.attention.sliding_window_pattern"),
    ).toBe(6);
    const irregular = readDecoderConfig({
      ...json,
      layer_types: ["full_attention", "sliding_attention", "sliding_attention", "full_attention"],
    });
    expect(() => gemma.describe(irregular)).toThrow(/not periodic/);
  });

  it("writes each fixture model with llama.cpp's names and keys", async () => {
    const expected: Record<string, Record<string, unknown>> = {
      llama_rope3: {
        arch: "llama",
        "llama.rope.dimension_count": 16,
        extra: "rope_freqs.weight",
        output: true,
      },
      qwen2: { arch: "qwen2", "qwen2.attention.head_count_kv": 2, extra: "blk.0.attn_q.bias", output: false },
      qwen3: {
        arch: "qwen3",
        "qwen3.attention.key_length": 32,
        extra: "blk.1.attn_k_norm.weight",
        output: false,
      },
      mistral: {
        arch: "llama",
        "llama.attention.layer_norm_rms_epsilon": 1e-6,
        extra: "blk.1.ffn_up.weight",
        output: true,
      },
      gemma3: { arch: "gemma3", "gemma3.block_count": 4, extra: "blk.3.post_ffw_norm.weight", output: false },
    };
    for (const name of hfModels) {
      const model = await openModelFolder(`hf/models/${name}`);
      const { contents } = exportModelToGguf({
        config: model.config,
        checkpoint: model.checkpoint,
        vocabulary: syntheticVocabulary(model.config),
      });
      await model.checkpoint.close();
      const { arch, extra, output, ...keys } = expected[name]!;
      expect(metadataString(contents.metadata, "general.architecture")).toBe(arch);
      for (const [key, value] of Object.entries(keys))
        expect(metadataNumber(contents.metadata, key)).toBe(value);
      const names = contents.tensors.map((tensor) => tensor.name);
      expect(names).toContain(extra);
      expect(names.includes("output.weight")).toBe(output);
      expect(names.filter((tensorName) => tensorName.startsWith("blk.0."))).toContain(
        "blk.0.attn_output.weight",
      );
      const norm = contents.tensors.find((tensor) => tensor.name === "output_norm.weight")!;
      expect(norm.type).toBe("F32");
    }
    const stories = await openModelFolder("stories260k");
    const bf16 = exportModelToGguf({
      config: stories.config,
      checkpoint: stories.checkpoint,
      vocabulary: storiesVocabulary(),
      dtype: "BF16",
    });
    await stories.checkpoint.close();
    expect(metadataNumber(bf16.contents.metadata, "general.file_type")).toBe(32);
    expect(bf16.contents.tensors.find((tensor) => tensor.name === "token_embd.weight")?.type).toBe("BF16");
    expect(bf16.contents.tensors.find((tensor) => tensor.name === "blk.0.attn_norm.weight")?.type).toBe(
      "F32",
    );
  });

  it("takes the checkpoint's float type by default (qwen3 is stored in bf16)", async () => {
    const model = await openModelFolder("hf/models/qwen3");
    const result = exportModelToGguf({
      config: model.config,
      checkpoint: model.checkpoint,
      vocabulary: syntheticVocabulary(model.config),
    });
    await model.checkpoint.close();
    expect(result.dtype).toBe("BF16");
  });
});

describe("refusals", () => {
  it("names unsupported model types, activations, RoPE types and mismatched shapes", async () => {
    expect(ggufModelTypes()).toEqual(["llama", "mistral", "qwen2", "qwen3", "gemma3_text"]);
    expect(() => ggufArchitectureFor("phi3")).toThrow(
      /model_type "phi3".*supported: llama, mistral, qwen2, qwen3, gemma3_text/,
    );
    const llama = hfConfig("llama_rope3");
    const describe = (json: Record<string, unknown>) =>
      ggufArchitectureFor(json.model_type as string).describe(readDecoderConfig(json));
    expect(() => describe({ ...llama, hidden_act: "gelu" })).toThrow(/hidden_act "gelu"/);
    expect(() =>
      describe({ ...llama, rope_parameters: { rope_type: "dynamic", rope_theta: 1e4, factor: 2 } }),
    ).toThrow(/RoPE type "dynamic" has no llama.cpp equivalent/);
    expect(() => describe({ ...hfConfig("gemma3"), attn_logit_softcapping: 50 })).toThrow(
      GgufArchitectureError,
    );
    expect(() => describe({ ...hfConfig("qwen2"), head_dim: 32 })).toThrow(
      /head_dim 32 × 4 heads ≠ hidden_size 64/,
    );
    expect(() => readDecoderConfig({ ...llama, num_key_value_heads: 3 })).toThrow(
      /not a multiple of num_key_value_heads 3/,
    );
    expect(() => readDecoderConfig({ ...llama, hidden_size: "64" })).toThrow(
      /hidden_size must be a positive integer/,
    );
    const linear = describe({
      ...llama,
      rope_parameters: { rope_type: "linear", rope_theta: 1e4, factor: 4 },
    }).metadata.build();
    expect(metadataString(linear, "llama.rope.scaling.type")).toBe("linear");
    expect(metadataNumber(linear, "llama.rope.scaling.factor")).toBe(4);

    const stories = await openModelFolder("stories260k");
    try {
      const vocabulary = storiesVocabulary();
      expect(() =>
        exportModelToGguf({
          config: { ...stories.config, vocab_size: 600 },
          checkpoint: stories.checkpoint,
          vocabulary,
        }),
      ).toThrow(/512 rows but config.json vocab_size is 600/);
      expect(() =>
        exportModelToGguf({
          config: { ...stories.config, num_hidden_layers: 6 },
          checkpoint: stories.checkpoint,
          vocabulary,
        }),
      ).toThrow(/lacks tensors llama.cpp's llama needs: blk.5.attn_norm.weight/);
    } finally {
      await stories.checkpoint.close();
    }
  });
});
