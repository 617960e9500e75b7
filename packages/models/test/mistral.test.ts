import { toFloat32 } from "@peftjs/io";
import { afterAll, describe, expect, it } from "vitest";
import { generate, MistralForCausalLM, parseModelConfig } from "../src/index.js";
import { loadModel } from "../src/node.js";
import { logitsOf, maxAbsDifference, readHfReference } from "./reference-helpers.js";

// transformers' MistralForCausalLM with sliding_window 8 on 24- and 32-token inputs (fixtures/hf/README.md).
const {
  directory,
  reference,
  tensors: referenceTensors,
  rows,
} = await readHfReference<{ prompt: number[]; greedy: number[] }>("mistral");
const model = await loadModel(directory);
afterAll(() => model.dispose());

describe("Mistral (sliding-window attention) against transformers", () => {
  it("is the mistral architecture, window 8", () => {
    expect(model).toBeInstanceOf(MistralForCausalLM);
    expect(parseModelConfig(model.config.raw)).toMatchObject({ modelType: "mistral", slidingWindow: 8 });
  });

  it("reproduces the logits of a 2 × 24 batch (positions 8–23 depend on the window)", () => {
    // The fixture README's bound for an fp32 re-implementation: 1e-4 (an independent fp64 forward is within
    // 1.4e-6; we measured 1.4e-6 here and 1.9e-6 below); a window off by one is off by ≥ 1.18, no window by 3.2.
    const expected = toFloat32(referenceTensors.get("logits")!);
    expect(maxAbsDifference(logitsOf(model, rows("input_ids")), expected)).toBeLessThan(1e-4);
  });

  it("reproduces the full forward of prompt + 24 greedy tokens (32 > W)", () => {
    const expected = toFloat32(referenceTensors.get("greedy_logits")!);
    expect(maxAbsDifference(logitsOf(model, rows("greedy_input_ids")), expected)).toBeLessThan(1e-4);
  });

  it("generates transformers' 24 greedy ids with the KV cache", async () => {
    // The smallest top-1/top-2 gap on this path is 1.5e-3, far above our logit error.
    const tokens = await generate(model, reference.prompt, { maxNewTokens: 24, stopTokens: [] });
    expect(tokens).toEqual(reference.greedy);
  });

  it("gives the same logits with the KV cache, token by token past the window, as one full forward", () => {
    const sequence = rows("greedy_input_ids")[0]!;
    const full = logitsOf(model, [sequence]);
    const cache = model.createCache(1);
    const pieces: number[] = [];
    for (const chunk of [sequence.slice(0, 8), ...sequence.slice(8).map((token) => [token])]) {
      const logits = model.forward([chunk], { cache });
      pieces.push(...logits.toFloat32Array());
      logits.dispose();
    }
    cache.dispose();
    // Same float32 math; only the matmul shapes (and so the summation blocking) differ.
    expect(maxAbsDifference(pieces, full)).toBeLessThan(1e-5);
  });
});
