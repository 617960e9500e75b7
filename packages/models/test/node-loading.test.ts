import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize } from "@peftjs/io";
import { writeCheckpoint } from "@peftjs/io/node";
import { afterAll, describe, expect, it } from "vitest";
import { ModelConfigError } from "../src/errors.js";
import { type CausalLM, createModel } from "../src/index.js";
import { loadLlama, loadLlama2cTokenizer, loadModel } from "../src/node.js";

/** stories260K (llama2.c) starts every sequence with BOS = 1. */
const BOS_TOKEN_ID = 1;

const fixtureDirectory = fileURLToPath(new URL("./fixtures/stories260k/", import.meta.url));
const configText = readFileSync(join(fixtureDirectory, "config.json"), "utf8");
const weights = deserialize(
  new Uint8Array(readFileSync(join(fixtureDirectory, "model.safetensors"))),
).tensors;
const ids = [BOS_TOKEN_ID, 403, 407, 261, 378, 432, 383, 286];

function logitsOf(model: CausalLM): Float32Array {
  const logits = model.forward([ids]);
  const values = logits.toFloat32Array();
  logits.dispose();
  model.dispose();
  return values;
}

const expected = logitsOf(createModel(JSON.parse(configText), weights));
const temporary = mkdtempSync(join(tmpdir(), "peftjs-models-"));
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

describe("loading model folders from disk", () => {
  it("loads a single-file folder", async () => {
    expect(logitsOf(await loadModel(fixtureDirectory))).toEqual(expected);
  });

  it("loads a sharded folder (model.safetensors.index.json)", async () => {
    const directory = join(temporary, "sharded");
    mkdirSync(directory);
    await writeCheckpoint(directory, weights, { maxShardSize: 300_000 });
    writeFileSync(join(directory, "config.json"), configText);
    const shards = readdirSync(directory).filter((name) => /^model-\d+-of-\d+\.safetensors$/.test(name));
    expect(shards.length).toBeGreaterThan(1);
    expect(readdirSync(directory)).toContain("model.safetensors.index.json");
    expect(logitsOf(await loadModel(directory))).toEqual(expected);
  });

  it("loadLlama loads a Llama folder and refuses another model_type before reading weights", async () => {
    expect(logitsOf(await loadLlama(fixtureDirectory))).toEqual(expected);
    const directory = join(temporary, "mistral");
    mkdirSync(directory);
    writeFileSync(
      join(directory, "config.json"),
      JSON.stringify({ ...JSON.parse(configText), model_type: "mistral" }),
    );
    // no model.safetensors here: the refusal must come from the config alone
    const refusal = loadLlama(directory);
    await expect(refusal).rejects.toBeInstanceOf(ModelConfigError);
    await expect(refusal).rejects.toThrow(/model_type "mistral".*use loadModel/);
  });

  it("reads the tokenizer file", async () => {
    const tokenizer = await loadLlama2cTokenizer(join(fixtureDirectory, "tok512.bin"));
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.decode(ids)).toBe("Once upon a time, there was");
  });
});
