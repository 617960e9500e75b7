import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ModelConfigError, parseLlamaConfig, UnsupportedRopeTypeError } from "../src/index.js";

const storiesConfig = JSON.parse(
  readFileSync(new URL("./fixtures/stories260k/config.json", import.meta.url), "utf8"),
) as Record<string, unknown>;

describe("parseLlamaConfig", () => {
  it("parses the stories260K config written by transformers 5", () => {
    const config = parseLlamaConfig(storiesConfig);
    expect(config).toMatchObject({
      hiddenSize: 64,
      intermediateSize: 172,
      numHiddenLayers: 5,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      headDim: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      vocabSize: 512,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 512,
      bosTokenId: 1,
      eosTokenIds: [2],
    });
    expect(config.raw).toEqual(storiesConfig);
    expect(config.raw.transformers_version).toBe("5.18.0");
  });

  it("accepts the older top-level rope_theta and applies transformers' defaults", () => {
    const config = parseLlamaConfig({
      hidden_size: 96,
      intermediate_size: 256,
      num_hidden_layers: 2,
      num_attention_heads: 6,
      vocab_size: 100,
      rope_theta: 500000,
      rope_scaling: null,
      eos_token_id: [2, 7],
      custom_field: { kept: true },
    });
    expect(config).toMatchObject({
      numKeyValueHeads: 6,
      headDim: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 500000,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 2048,
      bosTokenId: undefined,
      eosTokenIds: [2, 7],
    });
    expect(config.raw.custom_field).toEqual({ kept: true });
  });

  it("rejects unsupported rope types with a typed error", () => {
    const longrope = {
      ...storiesConfig,
      rope_parameters: { rope_type: "longrope", rope_theta: 500000, short_factor: [1], long_factor: [2] },
    };
    expect(() => parseLlamaConfig(longrope)).toThrow(UnsupportedRopeTypeError);
    expect(() => parseLlamaConfig(longrope)).toThrow('rope_type "longrope" is not supported');
    const unknown = {
      ...storiesConfig,
      rope_parameters: undefined,
      rope_scaling: { type: "su", factor: 2 },
    };
    expect(() => parseLlamaConfig(unknown)).toThrow(UnsupportedRopeTypeError);
  });

  it("names the offending field and value", () => {
    expect(() => parseLlamaConfig({ ...storiesConfig, hidden_size: undefined })).toThrow(
      'config.json lacks the required field "hidden_size"',
    );
    expect(() => parseLlamaConfig({ ...storiesConfig, num_key_value_heads: 3 })).toThrow(
      "num_attention_heads 8 is not a multiple of num_key_value_heads 3",
    );
    expect(() => parseLlamaConfig({ ...storiesConfig, vocab_size: 1.5 })).toThrow(
      'config.json "vocab_size" must be a positive integer, got 1.5',
    );
    expect(() => parseLlamaConfig({ ...storiesConfig, model_type: "mistral" })).toThrow(ModelConfigError);
    expect(() => parseLlamaConfig({ ...storiesConfig, hidden_act: "gelu" })).toThrow(
      /"gelu" is not supported/,
    );
    expect(() => parseLlamaConfig([1])).toThrow(ModelConfigError);
  });
});
