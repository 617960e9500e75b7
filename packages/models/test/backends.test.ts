import { readFileSync } from "node:fs";
import { deserialize, toFloat32 } from "@peftjs/io";
import { getBackend, probeBackends, setBackend, tensor } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { createModel, generate } from "../src/index.js";

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const BOS_TOKEN_ID = 1;

const fixtures = new URL("./fixtures/stories260k/", import.meta.url);
const configJson = JSON.parse(readFileSync(new URL("config.json", fixtures), "utf8")) as unknown;
const weights = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)))).tensors;
const reference = JSON.parse(readFileSync(new URL("reference.json", fixtures), "utf8")) as {
  greedy_token_ids: number[];
};
const referenceFile = deserialize(
  new Uint8Array(readFileSync(new URL("reference_logits.safetensors", fixtures))),
).tensors;
const referenceIds = Array.from(toFloat32(referenceFile.get("input_ids")!));
const referenceLogits = toFloat32(referenceFile.get("logits")!);

const initialBackend = getBackend();
const available = (await probeBackends())
  .filter((info) => info.availability?.available === true)
  .map((info) => info.name);
afterAll(() => setBackend(initialBackend));

describe.each(available)("stories260K on the %s backend", (backend) => {
  it("reproduces transformers' logits and llama2.c's greedy story", async () => {
    await setBackend(backend);
    const model = createModel(configJson, weights);
    const ids = tensor(referenceIds, [1, referenceIds.length], "int32");
    const logits = model.forward(ids);
    expect(logits.backend).toBe(backend);
    const values = logits.toFloat32Array();
    let worst = 0;
    for (let index = 0; index < values.length; index++) {
      worst = Math.max(worst, Math.abs(values[index]! - referenceLogits[index]!));
    }
    // The tolerance of llama.test.ts (float32 round-off in another summation order; 1.0e-5 measured on js).
    expect(worst).toBeLessThan(1e-4);
    expect(await generate(model, [BOS_TOKEN_ID], { maxNewTokens: 200, stopTokens: [] })).toEqual(
      reference.greedy_token_ids,
    );
    logits.dispose();
    ids.dispose();
    model.dispose();
  });
});
