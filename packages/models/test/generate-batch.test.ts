import { afterAll, describe, expect, it } from "vitest";
import { generate, generateBatch, ModelInputError } from "../src/index.js";
import { stories260kModel, stories260kReference } from "./reference-helpers.js";

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const BOS_TOKEN_ID = 1;

describe("generateBatch on stories260K", () => {
  const model = stories260kModel();
  const reference = stories260kReference();
  afterAll(() => model.dispose());

  it("gives each greedy row what generate gives it alone (llama2.c's reference for the BOS row)", async () => {
    const prompts = [
      [BOS_TOKEN_ID, 326, 269],
      [BOS_TOKEN_ID, 291, 276],
      [BOS_TOKEN_ID, 403, 407],
    ];
    const rows = await generateBatch(model, prompts, { maxNewTokens: 24, stopTokens: [] });
    for (const [row, prompt] of prompts.entries()) {
      expect(rows[row]).toEqual(await generate(model, prompt, { maxNewTokens: 24, stopTokens: [] }));
    }
    const fromBos = await generateBatch(model, [[BOS_TOKEN_ID], [BOS_TOKEN_ID]], {
      maxNewTokens: 30,
      stopTokens: [],
    });
    const expected = reference.greedy_token_ids.slice(0, 30);
    expect(fromBos).toEqual([expected, expected]);
  });

  it("stops each row at its own stop token and reports tokens per row", async () => {
    const alone = await generate(model, [BOS_TOKEN_ID, 291, 276], { maxNewTokens: 12, stopTokens: [] });
    const stop = alone[4]!;
    const seen: [number, number, number][] = [];
    const rows = await generateBatch(
      model,
      [
        [BOS_TOKEN_ID, 326, 269],
        [BOS_TOKEN_ID, 291, 276],
      ],
      {
        maxNewTokens: 12,
        stopTokens: [stop],
        onToken: (token, index, row) => void seen.push([token, index, row]),
      },
    );
    expect(rows[1]).toEqual(alone.slice(0, alone.indexOf(stop) + 1));
    expect(rows[0]!.length).toBeGreaterThan(0);
    expect(seen.filter(([, , row]) => row === 1).map(([token]) => token)).toEqual(rows[1]);
    expect(seen.filter(([, , row]) => row === 0).map(([, index]) => index)).toEqual(
      rows[0]!.map((_, i) => i),
    );
  });

  it("samples reproducibly from the seed", async () => {
    const options = { maxNewTokens: 10, temperature: 1, seed: 5, stopTokens: [] };
    const prompts = [[BOS_TOKEN_ID], [BOS_TOKEN_ID]];
    const first = await generateBatch(model, prompts, options);
    expect(await generateBatch(model, prompts, options)).toEqual(first);
    expect(await generateBatch(model, prompts, { ...options, seed: 6 })).not.toEqual(first);
  });

  it("refuses ragged, empty or missing prompts naming them", async () => {
    await expect(generateBatch(model, [], { maxNewTokens: 1 })).rejects.toThrow(ModelInputError);
    await expect(generateBatch(model, [[1, 2], [1]], { maxNewTokens: 1 })).rejects.toThrow(/prompt 1 has 1/);
    await expect(generateBatch(model, [[1], []], { maxNewTokens: 1 })).rejects.toThrow(/prompt 1 is empty/);
    await expect(generateBatch(model, [[1]], { maxNewTokens: 1.5 })).rejects.toThrow(/1.5/);
  });
  it("forward's lastPositionOnly gives each row's last-position logits of the full forward, cached or not", () => {
    const prompts = [
      [BOS_TOKEN_ID, 326, 269, 291],
      [BOS_TOKEN_ID, 403, 407, 276],
    ];
    const vocab = model.config.vocabSize;
    const full = model.forward(prompts);
    const last = model.forward(prompts, { lastPositionOnly: true });
    expect(full.shape).toEqual([2, 4, vocab]);
    expect(last.shape).toEqual([2, 1, vocab]);
    const fullValues = full.toFloat32Array();
    const expected = new Float32Array(2 * vocab);
    for (let row = 0; row < 2; row++)
      expected.set(fullValues.subarray((row * 4 + 3) * vocab, (row * 4 + 4) * vocab), row * vocab);
    // The same float32 products; only the head's kernel may differ (a matrix-vector product for these two rows,
    // the blocked GEMM for all eight), which reorders the 64-term sums: ~1e-7 relative.
    const scaleOf = Math.max(...expected.map(Math.abs));
    const gap = (values: Float32Array) =>
      Math.max(...values.map((value, index) => Math.abs(value - expected[index]!)));
    expect(gap(last.toFloat32Array())).toBeLessThanOrEqual(1e-5 * scaleOf);
    // With a cache the prompt goes in two pieces; the second forward's last position is the same one.
    const cache = model.createCache(2);
    model
      .forward(
        prompts.map((prompt) => prompt.slice(0, 2)),
        { cache },
      )
      .dispose();
    const cached = model.forward(
      prompts.map((prompt) => prompt.slice(2)),
      { cache, lastPositionOnly: true },
    );
    expect(cached.shape).toEqual([2, 1, vocab]);
    expect(gap(cached.toFloat32Array())).toBeLessThanOrEqual(1e-5 * scaleOf);
    for (const value of [full, last, cached, cache]) value.dispose();
  });
});
