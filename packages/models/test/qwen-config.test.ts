import { fileURLToPath } from "node:url";
import { readJsonFile } from "@peftjs/io/node";
import { describe, expect, it } from "vitest";
import { parseModelConfig, UnsupportedModelOptionError } from "../src/index.js";
import { loadModel } from "../src/node.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/hf/${name}/`, import.meta.url));
const qwen2Config = await readJsonFile<Record<string, unknown>>(`${fixture("qwen2")}config.json`);
const qwen3Config = await readJsonFile<Record<string, unknown>>(`${fixture("qwen3")}config.json`);

describe("Qwen2 / Qwen3 configs", () => {
  it("refuse sliding-window attention, which is not implemented, naming the option", () => {
    for (const config of [qwen2Config, qwen3Config]) {
      const sliding = { ...config, use_sliding_window: true, sliding_window: 4 };
      expect(() => parseModelConfig(sliding)).toThrow(UnsupportedModelOptionError);
      expect(() => parseModelConfig(sliding)).toThrow(
        `${config.model_type}: config.json "use_sliding_window" = true is not supported (supported: false)`,
      );
      const layerTypes = {
        ...config,
        layer_types: ["full_attention", "sliding_attention", "full_attention"],
      };
      const layers = config.num_hidden_layers as number;
      layerTypes.layer_types = layerTypes.layer_types.slice(0, layers);
      expect(() => parseModelConfig(layerTypes)).toThrow('"layer_types[1]" = "sliding_attention"');
      // sliding_window without use_sliding_window has no effect in transformers either.
      expect(() => parseModelConfig({ ...config, sliding_window: 4096 })).not.toThrow();
    }
  });

  it("qwen3 takes Qwen3Config's default head_dim 128 when the file has none", () => {
    const { head_dim: _omitted, ...withoutHeadDim } = qwen3Config;
    expect(parseModelConfig(withoutHeadDim)).toMatchObject({ headDim: 128 });
    expect(parseModelConfig(qwen3Config)).toMatchObject({
      headDim: 32,
      numAttentionHeads: 4,
      hiddenSize: 64,
    });
  });

  it("qwen2 reads q/k/v biases and no o_proj bias; qwen3 reads q_norm/k_norm and keeps bf16 as stored", async () => {
    const qwen2 = await loadModel(fixture("qwen2"));
    const names = qwen2.weights.names();
    expect(names).toContain("model.layers.2.self_attn.v_proj.bias");
    expect(names.filter((name) => name.endsWith(".bias"))).toHaveLength(9);
    expect(names).not.toContain("model.layers.0.self_attn.o_proj.bias");
    expect(names).not.toContain("lm_head.weight"); // tied
    qwen2.dispose();
    const qwen3 = await loadModel(fixture("qwen3"));
    expect(qwen3.weights.names()).toContain("model.layers.1.self_attn.k_norm.weight");
    expect(qwen3.weights.get("model.layers.0.self_attn.q_proj.weight").dtype).toBe("BF16");
    expect(qwen3.weights.get("model.layers.0.self_attn.q_proj.weight").shape).toEqual([128, 64]);
    qwen3.dispose();
  });
});
