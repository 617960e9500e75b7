import { describe, expect, it } from "vitest";
import {
  ModelConfigError,
  parseLlamaConfig,
  parseRopeParameters,
  RotaryEmbedding,
  ropeFrequencies,
  UnsupportedModelOptionError,
  UnsupportedRopeTypeError,
} from "../src/index.js";

// RoPE types other than llama3 and default have no model fixture: the expected values below were computed in
// float64 (numpy) from the formulas of transformers' modeling_rope_utils.py (cited in src/layers/rope-scaling.ts),
// so the float32 implementation is compared with a relative tolerance of 1e-6 (float32 round-off in pow).

const base = { max_position_embeddings: 256 };

function expectClose(actual: number, expected: number, label: string): void {
  expect(Math.abs(actual - expected), label).toBeLessThanOrEqual(1e-6 * Math.abs(expected));
}

const defaultTheta1e4 = [
  1.0, 0.31622776601683794, 0.1, 0.03162277660168379, 0.01, 0.00316227766016838, 0.001,
  0.00031622776601683794,
];

describe("RoPE parameters from config.json", () => {
  it("reads transformers 5's rope_parameters and the older rope_theta / rope_scaling", () => {
    expect(
      parseRopeParameters({ ...base, rope_parameters: { rope_type: "default", rope_theta: 5e5 } }),
    ).toEqual({
      ropeType: "default",
      ropeTheta: 5e5,
      maxPositionEmbeddings: 256,
    });
    expect(parseRopeParameters({ ...base, rope_theta: 1e6, rope_scaling: null }).ropeTheta).toBe(1e6);
    expect(
      parseRopeParameters({ ...base, rope_theta: 1e6, rope_scaling: { type: "linear", factor: 2 } }),
    ).toEqual({ ropeType: "linear", ropeTheta: 1e6, factor: 2, maxPositionEmbeddings: 256 });
    expect(parseRopeParameters({}).ropeTheta).toBe(10000);
    const yarn = parseRopeParameters({
      ...base,
      rope_parameters: { rope_type: "yarn", rope_theta: 1e4, original_max_position_embeddings: 64 },
    });
    // transformers 5: a yarn config without factor takes max_position_embeddings / original.
    expect(yarn).toMatchObject({ factor: 4, betaFast: 32, betaSlow: 1, truncate: true });
  });

  it("refuses an unsupported type, an unknown option and a missing value, naming them", () => {
    const longrope = {
      ...base,
      rope_parameters: { rope_type: "longrope", short_factor: [1], long_factor: [2] },
    };
    expect(() => parseRopeParameters(longrope)).toThrow(UnsupportedRopeTypeError);
    expect(() => parseRopeParameters(longrope)).toThrow(
      'rope_type "longrope" is not supported; supported rope types: "default", "linear", "dynamic", "llama3", "yarn"',
    );
    const extra = { ...base, rope_scaling: { type: "linear", factor: 2, low_freq_factor: 1 } };
    expect(() => parseRopeParameters(extra)).toThrow(UnsupportedModelOptionError);
    expect(() => parseRopeParameters(extra)).toThrow(
      'config.json "rope_scaling.low_freq_factor" = 1 is not supported (supported: rope_type "linear" reads rope_type, rope_theta, factor)',
    );
    const missing = { ...base, rope_parameters: { rope_type: "llama3", factor: 8, high_freq_factor: 4 } };
    expect(() => parseRopeParameters(missing)).toThrow(ModelConfigError);
    expect(() => parseRopeParameters(missing)).toThrow('needs "rope_parameters.low_freq_factor"');
    expect(() =>
      parseRopeParameters({ ...base, rope_parameters: { rope_type: "linear", factor: -2 } }),
    ).toThrow('config.json "rope_parameters.factor" must be a positive number, got -2');
    expect(() => parseRopeParameters({ ...base, partial_rotary_factor: 0.5 })).toThrow(
      'config.json "partial_rotary_factor" = 0.5 is not supported',
    );
  });

  it("gives Llama configs their rope", () => {
    const config = parseLlamaConfig({
      vocab_size: 32,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      rope_scaling: { rope_type: "dynamic", factor: 2 },
      rope_theta: 500000,
    });
    expect(config.rope).toMatchObject({ ropeType: "dynamic", factor: 2, ropeTheta: 500000 });
    expect(config.ropeTheta).toBe(500000);
  });
});

describe("inverse frequencies per RoPE type", () => {
  it("default and linear (the default divided by the factor)", () => {
    const plain = ropeFrequencies({ ropeType: "default", ropeTheta: 1e4, maxPositionEmbeddings: 256 }, 16);
    const linear = ropeFrequencies(
      { ropeType: "linear", ropeTheta: 1e4, factor: 8, maxPositionEmbeddings: 256 },
      16,
    );
    for (const [index, expected] of defaultTheta1e4.entries()) {
      expectClose(plain.inverseFrequencies[index]!, expected, `default ${index}`);
      expectClose(linear.inverseFrequencies[index]!, expected / 8, `linear ${index}`);
    }
    expect([plain.attentionScaling, linear.attentionScaling]).toEqual([1, 1]);
  });

  it("yarn (Qwen2.5-style: θ 1e6, head_dim 128, factor 4, original context 32768), truncated or not", () => {
    const parameters = parseRopeParameters({
      max_position_embeddings: 131072,
      rope_parameters: {
        rope_type: "yarn",
        rope_theta: 1e6,
        factor: 4,
        original_max_position_embeddings: 32768,
      },
    });
    const truncated: Record<number, number> = {
      0: 1.0,
      22: 0.008659643233600653,
      23: 0.006978305848598663,
      24: 0.005375321490790102,
      30: 0.0010643609812470017,
      39: 6.490394320837029e-5,
      40: 4.445698525097307e-5,
      63: 3.102344401879299e-7,
    };
    const yarn = ropeFrequencies(parameters, 128);
    for (const [index, expected] of Object.entries(truncated)) {
      expectClose(yarn.inverseFrequencies[Number(index)]!, expected, `yarn ${index}`);
    }
    expectClose(yarn.attentionScaling, 1.138629436111989, "0.1·ln 4 + 1");
    const smooth = ropeFrequencies({ ...parameters, truncate: false }, 128);
    expectClose(smooth.inverseFrequencies[24]!, 0.0055172704751341225, "untruncated 24");
    expectClose(smooth.inverseFrequencies[30]!, 0.0010792377416765538, "untruncated 30");
    expectClose(smooth.inverseFrequencies[39]!, 6.187806812450696e-5, "untruncated 39");
    const mscaled = ropeFrequencies({ ...parameters, mscale: 1, mscaleAllDim: 0.5 }, 128);
    expectClose(mscaled.attentionScaling, (0.1 * Math.log(4) + 1) / (0.05 * Math.log(4) + 1), "mscale ratio");
    expect(ropeFrequencies({ ...parameters, attentionFactor: 0.7 }, 128).attentionScaling).toBe(0.7);
  });

  it("dynamic NTK grows the base past max_position_embeddings and returns to it, as transformers", () => {
    const parameters = parseRopeParameters({
      max_position_embeddings: 256,
      rope_parameters: { rope_type: "dynamic", rope_theta: 1e4, factor: 2 },
    });
    // θ·(2·512/256 − 1)^(16/14) = 35097.92…
    const grown = [
      1.0, 0.27029612569240363, 0.07305999556432365, 0.019747833744140873, 0.005337762951858991,
      0.001442776645751933, 0.000389976937586229, 0.00010540925533894597,
    ];
    const rotary = new RotaryEmbedding(parameters, 16);
    const check = (expected: readonly number[], label: string) => {
      for (const [index, value] of expected.entries()) {
        expect(
          Math.abs(rotary.frequencies.inverseFrequencies[index]! - value),
          `${label} ${index}`,
        ).toBeLessThan(2e-6 * value);
      }
    };
    check(defaultTheta1e4, "initial");
    rotary.tables(0, 256).cos.dispose();
    check(defaultTheta1e4, "at 256 positions");
    const tables = rotary.tables(500, 12); // positions 500…511: seq_len 512
    check(grown, "at 512");
    tables.cos.dispose();
    tables.sin.dispose();
    rotary.tables(300, 4).cos.dispose(); // shorter than the longest seen, still past 256: kept
    check(grown, "at 304");
    rotary.tables(0, 100).cos.dispose(); // back under max_position_embeddings: reset
    check(defaultTheta1e4, "reset");
  });

  it("builds cos/sin tables scaled by the attention factor", () => {
    const rotary = new RotaryEmbedding(
      {
        ropeType: "yarn",
        ropeTheta: 1e4,
        factor: 4,
        originalMaxPositionEmbeddings: 64,
        betaFast: 32,
        betaSlow: 1,
        truncate: true,
        maxPositionEmbeddings: 256,
      },
      16,
    );
    const { cos, sin } = rotary.tables(3, 2);
    expect(cos.shape).toEqual([2, 16]);
    const cosValues = cos.toFloat32Array();
    const sinValues = sin.toFloat32Array();
    const scaling = rotary.frequencies.attentionScaling;
    const frequency = rotary.frequencies.inverseFrequencies[1]!;
    expectClose(cosValues[1]!, Math.cos(3 * frequency) * scaling, "cos(3 f1)");
    expectClose(cosValues[9]!, Math.cos(3 * frequency) * scaling, "repeated half");
    expectClose(sinValues[16 + 1]!, Math.sin(4 * frequency) * scaling, "sin(4 f1)");
    cos.dispose();
    sin.dispose();
  });
});
