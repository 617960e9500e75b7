import { readFileSync } from "node:fs";
import { deserialize, fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import type { Linear } from "@peftjs/nn";
import { getBackend, memory, probeBackends, setBackend } from "@peftjs/tensor";
import { afterAll, describe, expect, it } from "vitest";
import { type CausalLM, createModel, generate } from "../src/index.js";

// A BF16 or F16 checkpoint stays 16-bit in memory (issue 15): the model's weight tensors take half the bytes of
// the float32 model, and since every op reads a 16-bit element as its exact float32 value, the model computes
// exactly what the float32 model built from the same rounded weights computes.

const fixtures = new URL("./fixtures/stories260k/", import.meta.url);
const configJson = JSON.parse(readFileSync(new URL("config.json", fixtures), "utf8")) as unknown;
const weights = deserialize(new Uint8Array(readFileSync(new URL("model.safetensors", fixtures)))).tensors;
const referenceFile = deserialize(
  new Uint8Array(readFileSync(new URL("reference_logits.safetensors", fixtures))),
).tensors;
const referenceIds = Array.from(toFloat32(referenceFile.get("input_ids")!));

/** The checkpoint rounded to `dtype`, and the same rounded values stored as F32. */
function rounded(dtype: "BF16" | "F16"): { low: Map<string, RawTensor>; widened: Map<string, RawTensor> } {
  const low = new Map<string, RawTensor>();
  const widened = new Map<string, RawTensor>();
  for (const [key, raw] of weights) {
    const reduced: RawTensor = { dtype, shape: raw.shape, data: fromFloat32(toFloat32(raw), dtype) };
    low.set(key, reduced);
    widened.set(key, { dtype: "F32", shape: raw.shape, data: fromFloat32(toFloat32(reduced), "F32") });
  }
  return { low, widened };
}

/** Builds a model and returns it with the bytes of live tensor storage it added. */
function built(checkpoint: Map<string, RawTensor>): { model: CausalLM; bytes: number } {
  const before = memory().bytes;
  const model = createModel(configJson, checkpoint);
  return { model, bytes: memory().bytes - before };
}

function logitsOf(model: CausalLM): Float32Array {
  const logits = model.forward([referenceIds]);
  const values = logits.toFloat32Array();
  logits.dispose();
  return values;
}

const initialBackend = getBackend();
const available = (await probeBackends())
  .filter((info) => info.availability?.available === true)
  .map((info) => info.name);
afterAll(() => setBackend(initialBackend));

describe.each(available)("16-bit checkpoints on the %s backend", (backend) => {
  it.each(["BF16", "F16"] as const)(
    "a %s checkpoint keeps half the bytes of float32 and computes the same logits and tokens",
    async (dtype) => {
      await setBackend(backend);
      const { low, widened } = rounded(dtype);
      const half = built(low);
      const full = built(widened);
      const parameters = [...weights.values()].reduce(
        (count, raw) => count + raw.shape.reduce((product, extent) => product * extent, 1),
        0,
      );
      // stories260K stores no lm_head (tied), so the model holds exactly the checkpoint's parameters.
      expect(full.bytes).toBe(parameters * 4);
      expect(half.bytes).toBe(parameters * 2);
      const head = half.model.getModule("model.layers.0.self_attn.q_proj") as Linear;
      expect(head.weight.dtype).toBe(dtype === "BF16" ? "bfloat16" : "float16");
      // Exact: a 16-bit element is read as its float32 value, so both models multiply the same numbers.
      expect(logitsOf(half.model)).toEqual(logitsOf(full.model));
      const prompt = [1];
      const options = { maxNewTokens: 24, stopTokens: [] };
      expect(await generate(half.model, prompt, options)).toEqual(
        await generate(full.model, prompt, options),
      );
      // The identity keeps the stored dtype.
      expect(half.model.weights.get("model.norm.weight").dtype).toBe(dtype);
      half.model.dispose();
      full.model.dispose();
    },
  );
});
