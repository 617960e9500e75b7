import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RawTensor, toFloat32 } from "@peftjs/io";
import { readJsonFile } from "@peftjs/io/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectUserError, fixture, maxAbsDifference, peftjs, peftjsJson, tensorsOf } from "./helpers.js";

// `--target embed_tokens` (LoRA on the embedding), `--trainable-tokens` and `--modules-to-save` through `peftjs init`, `train` and
// `logits`, against PEFT 0.21's files for the same settings (test/fixtures/peft/{lora_embedding,trainable_tokens}).

const work = mkdtempSync(join(tmpdir(), "peftjs-embeddings-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const textData = join(work, "stories.txt");
beforeAll(() => {
  writeFileSync(
    textData,
    "Once upon a time there was a little cat. The cat liked to play in the sun.\n\nLily went to the park with her mom.\n",
  );
});

const embeddingCase = (path: string) => fixture(`peft/lora_embedding/${path}`);
const tokensCase = (path: string) => fixture(`peft/trainable_tokens/${path}`);
const tokenKey = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta";

function init(out: string, ...flags: string[]): void {
  const result = peftjs(
    "init",
    "--model",
    "embedded",
    "--method",
    "lora",
    ...flags,
    "--out",
    out,
    "--backend",
    "js",
  );
  expect(result.code, result.stderr).toBe(0);
}

describe("peftjs init with embeddings", () => {
  it("--target embed_tokens,q_proj,v_proj writes PEFT's lora_embedding_A/B layout", async () => {
    const out = join(work, "init-embedding");
    init(out, "--r", "8", "--alpha", "16", "--target", "embed_tokens,q_proj,v_proj");
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(embeddingCase("adapter_init/adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    for (const [key, raw] of peft) expect(ours.get(key)!.shape, key).toEqual(raw.shape);
    // PEFT's embedding init: lora_embedding_A = 0 (so the adapter starts as the identity)
    const a = toFloat32(ours.get("base_model.model.model.embed_tokens.lora_embedding_A") as RawTensor);
    expect(a.every((value) => value === 0)).toBe(true);
    const config = await readJsonFile<{ target_modules: string[] }>(join(out, "adapter_config.json"));
    expect([...config.target_modules].sort()).toEqual(["embed_tokens", "q_proj", "v_proj"]);
  });

  it("--trainable-tokens writes PEFT's token rows, equal to its adapter_init bit for bit", async () => {
    const out = join(work, "init-tokens");
    init(out, "--r", "8", "--alpha", "16", "--trainable-tokens", "5,17,300,286,261");
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(tokensCase("adapter_init/adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    // the rows start as the embedding's own rows, in the list's order (not sorted), exactly as PEFT's
    expect(maxAbsDifference(ours.get(tokenKey) as RawTensor, peft.get(tokenKey) as RawTensor)).toBe(0);
    const config = await readJsonFile<{ trainable_token_indices: number[] }>(
      join(out, "adapter_config.json"),
    );
    expect(config.trainable_token_indices).toEqual([5, 17, 300, 286, 261]);
  });

  it("--modules-to-save lm_head saves the copy under PEFT's key base_model.model.lm_head.weight", async () => {
    const out = join(work, "init-copy");
    init(out, "--target", "q_proj", "--modules-to-save", "lm_head");
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    expect(ours.get("base_model.model.lm_head.weight")?.shape).toEqual([512, 64]);
    const config = await readJsonFile<{ modules_to_save: string[] }>(join(out, "adapter_config.json"));
    expect(config.modules_to_save).toEqual(["lm_head"]);
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "lora",
        "--modules-to-save",
        "score",
        "--out",
        join(work, "bad0"),
      ),
      "init",
      /modules_to_save \["score"\] matches no module/,
    );
  });

  it("refuses token ids that are not ids, repeated, or outside the vocabulary", () => {
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "lora",
        "--trainable-tokens",
        "5,x",
        "--out",
        join(work, "bad1"),
      ),
      "init",
      /--trainable-tokens "5,x": "x" is not a token id/,
    );
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "lora",
        "--trainable-tokens",
        "5,5",
        "--out",
        join(work, "bad2"),
      ),
      "init",
      /repeats token id 5/,
    );
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "lora",
        "--trainable-tokens",
        "600",
        "--out",
        join(work, "bad3"),
      ),
      "init",
      /token id 600 is outside the vocabulary/,
    );
  });
});

describe("peftjs logits and train with embeddings", () => {
  it("logits of PEFT's trained adapters equal PEFT's", async () => {
    for (const caseFolder of [embeddingCase, tokensCase]) {
      const out = join(mkdtempSync(join(work, "logits-")), "logits.safetensors");
      const input = caseFolder("io.safetensors");
      const result = peftjs(
        "logits",
        "--model",
        "embedded",
        "--adapter",
        caseFolder("adapter_trained"),
        "--input",
        input,
        "--out",
        out,
        "--backend",
        "js",
      );
      expect(result.code, result.stderr).toBe(0);
      const ours = (await tensorsOf(out)).get("logits") as RawTensor;
      const theirs = (await tensorsOf(input)).get("trained") as RawTensor;
      // the fixture README's logit tolerance for an fp32 implementation
      expect(maxAbsDifference(ours, theirs)).toBeLessThan(1e-3);
    }
  });

  function trainArgs(out: string, ...flags: string[]): string[] {
    return [
      "train",
      "--model",
      "embedded",
      "--method",
      "lora",
      ...flags,
      "--data",
      textData,
      "--steps",
      "3",
      "--lr",
      "5e-3",
      "--batch",
      "1",
      "--seq",
      "16",
      "--out",
      out,
      "--backend",
      "js",
    ];
  }

  it("train --target embed_tokens,q_proj trains the embedding's LoRA and saves it under PEFT's keys", async () => {
    const out = join(work, "train-embedding");
    const report = peftjsJson<{ losses: number[] }>(...trainArgs(out, "--target", "embed_tokens,q_proj"));
    expect(report.losses[2]).toBeLessThan(report.losses[0] as number);
    const tensors = await tensorsOf(join(out, "adapter_model.safetensors"));
    const a = toFloat32(tensors.get("base_model.model.model.embed_tokens.lora_embedding_A") as RawTensor);
    // A started at 0 and trained (in the columns of the tokens the batch holds)
    expect(a.some((value) => value !== 0)).toBe(true);
    expect(tensors.has("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")).toBe(true);
  });

  it("train --trainable-tokens trains the rows and saves them under PEFT's key", async () => {
    const out = join(work, "train-tokens");
    const initial = await tensorsOf(tokensCase("adapter_init/adapter_model.safetensors"));
    const report = peftjsJson<{ losses: number[] }>(
      ...trainArgs(out, "--target", "q_proj", "--trainable-tokens", "5,17,300,286,261"),
    );
    expect(report.losses[2]).toBeLessThan(report.losses[0] as number);
    const trained = (await tensorsOf(join(out, "adapter_model.safetensors"))).get(tokenKey) as RawTensor;
    expect(trained.shape).toEqual([5, 64]);
    // every row moves: all five reach the loss through the tied output head
    expect(maxAbsDifference(trained, initial.get(tokenKey) as RawTensor)).toBeGreaterThan(1e-4);
  });

  it("refuses LoRA and trainable tokens on the same embedding", () => {
    expectUserError(
      peftjs(...trainArgs(join(work, "train-both"), "--target", "embed_tokens", "--trainable-tokens", "5")),
      "train",
      /both targets "model.embed_tokens" with LoRA and trains token rows/,
    );
  });
});
