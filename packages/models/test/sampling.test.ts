import { afterAll, describe, expect, it } from "vitest";
import { argmaxIndex, generate, sampleToken } from "../src/index.js";
import { stories260kModel, stories260kReference } from "./reference-helpers.js";

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const BOS_TOKEN_ID = 1;

describe("sampleToken", () => {
  const logits = Float32Array.from([0, Math.log(3), Math.log(6), -Infinity]);
  // softmax = [0.1, 0.3, 0.6, 0]; visiting order by probability: 2, 1, 0.

  it("is argmax (first maximum) at temperature 0", () => {
    expect(sampleToken(logits, {}, 0.99)).toBe(2);
    expect(argmaxIndex(Float32Array.from([1, 5, 5, 2]))).toBe(1);
  });

  it("inverts the cumulative distribution from the most probable token", () => {
    expect(sampleToken(logits, { temperature: 1 }, 0)).toBe(2);
    expect(sampleToken(logits, { temperature: 1 }, 0.59)).toBe(2);
    expect(sampleToken(logits, { temperature: 1 }, 0.61)).toBe(1);
    expect(sampleToken(logits, { temperature: 1 }, 0.91)).toBe(0);
    expect(sampleToken(logits, { temperature: 1 }, 0.999999)).toBe(0);
  });

  it("restricts draws to the top-p nucleus", () => {
    // topP 0.8: tokens 2 (0.6) and 1 (0.3) reach 0.9 ≥ 0.8; renormalised [2/3, 1/3].
    expect(sampleToken(logits, { temperature: 1, topP: 0.8 }, 0.65)).toBe(2);
    expect(sampleToken(logits, { temperature: 1, topP: 0.8 }, 0.7)).toBe(1);
    expect(sampleToken(logits, { temperature: 1, topP: 0.8 }, 0.999)).toBe(1);
    expect(sampleToken(logits, { temperature: 1, topP: 0.5 }, 0.999)).toBe(2);
  });

  it("sharpens with a low temperature", () => {
    // At temperature 0.1 the probability of token 1 is (0.5)^10 / (1 + ...) < 1e-3.
    expect(sampleToken(logits, { temperature: 0.1 }, 0.99)).toBe(2);
  });
});

describe("sampled generation on stories260K", () => {
  const model = stories260kModel();
  const reference = stories260kReference();
  afterAll(() => model.dispose());

  it("is reproducible for a seed and differs between seeds", async () => {
    const options = { maxNewTokens: 30, temperature: 1, stopTokens: [] };
    const first = await generate(model, [BOS_TOKEN_ID], { ...options, seed: 42 });
    expect(await generate(model, [BOS_TOKEN_ID], { ...options, seed: 42 })).toEqual(first);
    expect(await generate(model, [BOS_TOKEN_ID], { ...options, seed: 43 })).not.toEqual(first);
    expect(first).not.toEqual(reference.greedy_token_ids.slice(0, 30));
  });

  it("equals greedy decoding when the nucleus holds one token", async () => {
    const tokens = await generate(model, [BOS_TOKEN_ID], {
      maxNewTokens: 40,
      temperature: 1,
      topP: 1e-9,
      seed: 7,
    });
    expect(tokens).toEqual(reference.greedy_token_ids.slice(0, 40));
  });

  it("stops after a stop token or when the callback says so", async () => {
    const seen: number[] = [];
    const tokens = await generate(model, [BOS_TOKEN_ID], {
      maxNewTokens: 50,
      onToken: (token, index) => {
        seen.push(token);
        return index < 4;
      },
    });
    expect(tokens).toEqual(reference.greedy_token_ids.slice(0, 5));
    expect(seen).toEqual(tokens);
    const third = reference.greedy_token_ids[2]!;
    expect(await generate(model, [BOS_TOKEN_ID], { maxNewTokens: 50, stopTokens: [third] })).toEqual(
      reference.greedy_token_ids.slice(0, 3),
    );
  });
});
