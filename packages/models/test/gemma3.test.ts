import { toFloat32 } from "@peftjs/io";
import { readJsonFile } from "@peftjs/io/node";
import { getBackend, probeBackends, setBackend } from "@peftjs/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CausalLM,
  Gemma3ForCausalLM,
  generate,
  ModelConfigError,
  parseModelConfig,
  UnsupportedModelOptionError,
  UnsupportedRopeTypeError,
} from "../src/index.js";
import { loadModel } from "../src/node.js";
import { logitsOf, maxAbsDifference, readHfReference } from "./reference-helpers.js";

// transformers' Gemma3ForCausalLM (gemma3_text): layers sliding, sliding, full, sliding with window 8,
// query_pre_attn_scalar 24, head_dim 32, MQA 4/1, tied (fixtures/hf/README.md, "hf/gemma3").
const {
  directory,
  reference,
  tensors: referenceTensors,
  rows,
} = await readHfReference<{ prompt: number[]; greedy: number[] }>("gemma3");
const configJson = await readJsonFile<Record<string, unknown>>(`${directory}config.json`);
const model = await loadModel(directory);
afterAll(() => model.dispose());

const initialBackend = getBackend();
const available = (await probeBackends())
  .filter((info) => info.availability?.available === true)
  .map((info) => info.name);
afterAll(() => setBackend(initialBackend));

describe("Gemma 3 (gemma3_text) config and module tree", () => {
  it("parses the config: layer kinds, window, per-kind RoPE bases, scalar", () => {
    expect(model).toBeInstanceOf(Gemma3ForCausalLM);
    expect(parseModelConfig(configJson)).toMatchObject({
      modelType: "gemma3_text",
      headDim: 32,
      numKeyValueHeads: 1,
      queryPreAttnScalar: 24,
      slidingWindow: 8,
      layerTypes: ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
      ropeTheta: { sliding_attention: 10000, full_attention: 1e6 },
      tieWordEmbeddings: true,
      hiddenActivation: "gelu_pytorch_tanh",
    });
    // The module tree carries Hugging Face's names, so PEFT's keys address it.
    const names = [...model.namedParameters().keys()];
    expect(names.slice(0, 12)).toEqual([
      "model.embed_tokens.weight",
      "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.self_attn.k_proj.weight",
      "model.layers.0.self_attn.v_proj.weight",
      "model.layers.0.self_attn.o_proj.weight",
      "model.layers.0.self_attn.q_norm.weight",
      "model.layers.0.self_attn.k_norm.weight",
      "model.layers.0.mlp.gate_proj.weight",
      "model.layers.0.mlp.up_proj.weight",
      "model.layers.0.mlp.down_proj.weight",
      "model.layers.0.input_layernorm.weight",
      "model.layers.0.post_attention_layernorm.weight",
    ]);
    // 54 tensors in the file, the tied head reads none.
    expect(names).toHaveLength(54);
    expect(model.weights.size).toBe(54);
  });

  it("reads older configs: rope_theta / rope_local_base_freq and sliding_window_pattern", () => {
    const { rope_parameters: _, layer_types: __, ...older } = configJson;
    const parsed = parseModelConfig({
      ...older,
      rope_theta: 1e6,
      rope_local_base_freq: 10000,
      rope_scaling: null,
      sliding_window_pattern: 3,
    });
    expect(parsed).toMatchObject({
      layerTypes: ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
      ropeTheta: { sliding_attention: 10000, full_attention: 1e6 },
    });
  });

  it("refuses what it does not compute, naming the option", () => {
    const refused = (change: Record<string, unknown>) => () => parseModelConfig({ ...configJson, ...change });
    expect(refused({ final_logit_softcapping: 30 })).toThrow(UnsupportedModelOptionError);
    expect(refused({ final_logit_softcapping: 30 })).toThrow(/final_logit_softcapping/);
    const caught = (() => {
      try {
        refused({ attn_logit_softcapping: 50 })();
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(caught).toMatchObject({
      code: "unsupported_model_option",
      option: "attn_logit_softcapping",
      value: 50,
    });
    expect(refused({ attn_logit_softcapping: 50 })).toThrow(/attn_logit_softcapping/);
    expect(refused({ use_bidirectional_attention: true })).toThrow(/use_bidirectional_attention/);
    expect(refused({ attention_dropout: 0.1 })).toThrow(/attention_dropout/);
    expect(
      refused({
        layer_types: ["sliding_attention", "chunked_attention", "full_attention", "sliding_attention"],
      }),
    ).toThrow(/layer_types\[1\].*chunked_attention/);
    expect(refused({ layer_types: ["full_attention"] })).toThrow(ModelConfigError);
    expect(
      refused({
        rope_parameters: {
          full_attention: { rope_type: "linear", factor: 8, rope_theta: 1e6 },
          sliding_attention: { rope_type: "default", rope_theta: 1e4 },
        },
      }),
    ).toThrow(UnsupportedRopeTypeError);
    expect(refused({ rope_parameters: { rope_type: "default", rope_theta: 1e4 } })).toThrow(
      /keyed by layer type/,
    );
    expect(refused({ sliding_window: null })).toThrow(/sliding_window/);
  });
});

describe.each(available)("Gemma 3 against transformers on the %s backend", (backend) => {
  let model: CausalLM;
  beforeAll(async () => {
    await setBackend(backend);
    model = await loadModel(directory);
  });
  afterAll(() => model.dispose());

  it("reproduces the logits of a 2 × 24 batch", () => {
    // The fixture README's bound for an fp32 re-implementation: 1e-4 (an independent fp64 forward is within
    // 2.3e-6). Wrong readings land far away: w instead of 1 + w 3.31, no embedding scale 2.52, head_dim
    // scaling 0.67, window ±1 2.03 / 2.55.
    const expected = toFloat32(referenceTensors.get("logits")!);
    const error = maxAbsDifference(logitsOf(model, rows("input_ids")), expected);
    console.log(JSON.stringify({ gemma3: "logits", backend, maxAbsError: error }));
    expect(error).toBeLessThan(1e-4);
  });

  it("reproduces the full forward of prompt + 24 greedy tokens (32 > W) at all 32 positions", () => {
    const expected = toFloat32(referenceTensors.get("greedy_logits")!);
    const error = maxAbsDifference(logitsOf(model, rows("greedy_input_ids")), expected);
    console.log(JSON.stringify({ gemma3: "greedy_logits", backend, maxAbsError: error }));
    expect(error).toBeLessThan(1e-4);
  });

  it("generates transformers' 24 greedy ids with the KV cache", async () => {
    // The smallest top-1/top-2 gap on this path is 1.05e-3 (step 2), ten times our bound on the logit error.
    const tokens = await generate(model, reference.prompt, { maxNewTokens: 24, stopTokens: [] });
    expect(tokens).toEqual(reference.greedy);
  });

  it("gives the same logits with the KV cache, token by token past the window, as one full forward", () => {
    const sequence = rows("greedy_input_ids")[0]!;
    const expected = toFloat32(referenceTensors.get("greedy_logits")!);
    const cache = model.createCache(1);
    const pieces: number[] = [];
    for (const chunk of [sequence.slice(0, 8), ...sequence.slice(8).map((token) => [token])]) {
      const logits = model.forward([chunk], { cache });
      pieces.push(...logits.toFloat32Array());
      logits.dispose();
    }
    cache.dispose();
    // transformers' cached steps differ from its full forward by ≤ 2.1e-6; ours stay within the same 1e-4.
    expect(maxAbsDifference(pieces, expected)).toBeLessThan(1e-4);
  });
});
