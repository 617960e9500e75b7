import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPeftAdapter } from "@peftjs/adapters/node";
import { type RawTensor, serialize } from "@peftjs/io";
import { readJsonFile } from "@peftjs/io/node";
import { randomCheckpoint, tinyLlamaConfig } from "@peftjs/models/testing";
import { afterAll, describe, expect, it } from "vitest";
import {
  expectNoOutput,
  expectUserError,
  fixture,
  maxAbsDifference,
  peftjs,
  peftjsJson,
  tensorsOf,
} from "./helpers.js";

// `--use-dora` and `--bias` on init/train, and DoRA adapters through merge and logits, end to end on the built
// command line (js backend). DoRA reference: PEFT's peft/dora case (r 8, α 16, q/v, seed 8; see
// test/fixtures/README.md); logits within 1e-3 as the other command tests (the adapters package pins DoRA to
// ≤ 2.6e-5 against the same files).

const work = mkdtempSync(join(tmpdir(), "peftjs-dora-bias-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const dora = (name: string) => fixture(`peft/dora/${name}`);
const logitTolerance = 1e-3;

async function referenceLogits(name: string): Promise<RawTensor> {
  return (await tensorsOf(dora("io.safetensors"))).get(name) as RawTensor;
}

async function computedLogits(input: string, ...args: string[]): Promise<RawTensor> {
  const out = join(mkdtempSync(join(work, "logits-")), "logits.safetensors");
  const result = peftjs("logits", ...args, "--input", input, "--out", out, "--backend", "js");
  expect(result.code, result.stderr).toBe(0);
  return (await tensorsOf(out)).get("logits") as RawTensor;
}

/** A tiny Llama model folder whose every projection has a bias (attention_bias, mlp_bias), random weights. */
function biasedModelFolder(): string {
  const directory = join(work, "biased-llama");
  mkdirSync(directory);
  const config = {
    architectures: ["LlamaForCausalLM"],
    ...tinyLlamaConfig,
    attention_bias: true,
    mlp_bias: true,
    torch_dtype: "float32",
  };
  writeFileSync(join(directory, "config.json"), JSON.stringify(config));
  writeFileSync(
    join(directory, "model.safetensors"),
    serialize(randomCheckpoint(config, 3), { format: "pt" }),
  );
  return directory;
}

/** `input_ids` int64 [2, 8] for the biased model (vocab 32). */
function biasedInput(): string {
  const path = join(work, "biased-input.safetensors");
  const ids = BigInt64Array.from([1, 5, 9, 2, 17, 30, 4, 8, 3, 3, 8, 21, 6, 0, 12, 7].map(BigInt));
  writeFileSync(
    path,
    serialize(new Map([["input_ids", { dtype: "I64", shape: [2, 8], data: new Uint8Array(ids.buffer) }]])),
  );
  return path;
}

describe("DoRA on the command line", () => {
  it("init --use-dora writes PEFT's DoRA layout: use_dora in the config, lora_magnitude_vector keys", async () => {
    const out = join(work, "init-dora");
    peftjsJson(
      "init",
      "--model",
      "embedded",
      "--method",
      "lora",
      "--r",
      "8",
      "--alpha",
      "16",
      "--use-dora",
      "--out",
      out,
      "--backend",
      "js",
    );
    const config = await readJsonFile<Record<string, unknown>>(join(out, "adapter_config.json"));
    expect(config.use_dora).toBe(true);
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(dora("adapter_init/adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    // the magnitudes start at ‖W‖ per row, as PEFT's (same base, same formula)
    const key = "base_model.model.model.layers.2.self_attn.v_proj.lora_magnitude_vector";
    expect(maxAbsDifference(ours.get(key) as RawTensor, peft.get(key) as RawTensor)).toBeLessThan(1e-5);
  });

  it("logits and merge accept PEFT's DoRA adapter and give PEFT's trained and merged logits", async () => {
    const input = dora("io.safetensors");
    const trained = await computedLogits(input, "--model", "embedded", "--adapter", dora("adapter_trained"));
    expect(maxAbsDifference(trained, await referenceLogits("trained"))).toBeLessThan(logitTolerance);
    const merged = join(work, "merged-dora");
    const report = peftjsJson<{ mergedModules: number }>(
      "merge",
      "--model",
      "embedded",
      "--adapter",
      dora("adapter_trained"),
      "--out",
      merged,
      "--backend",
      "js",
    );
    expect(report.mergedModules).toBe(10);
    const mergedLogits = await computedLogits(input, "--model", merged);
    expect(maxAbsDifference(mergedLogits, await referenceLogits("merged"))).toBeLessThan(logitTolerance);
  });

  it("train --use-dora trains the magnitudes too and saves them", async () => {
    const out = join(work, "train-dora");
    peftjsJson(
      "train",
      "--model",
      "embedded",
      "--method",
      "lora",
      "--use-dora",
      "--data",
      dora("io.safetensors"),
      "--steps",
      "2",
      "--lr",
      "0.01",
      "--out",
      out,
      "--backend",
      "js",
    );
    const initial = await loadPeftAdapter(dora("adapter_init"));
    const adapter = await loadPeftAdapter(out);
    expect(adapter.config.otherFields.use_dora).toBe(true);
    const module = "model.layers.0.self_attn.q_proj";
    const magnitude = adapter.modules.get(module)!.extras!.get("lora_magnitude_vector")!.data;
    const start = initial.modules.get(module)!.extras!.get("lora_magnitude_vector")!.data;
    // two AdamW steps of lr 0.01 move every entry by about 0.01–0.02 from ‖W‖
    expect(Math.max(...magnitude.map((value, index) => Math.abs(value - start[index]!)))).toBeGreaterThan(
      5e-3,
    );
  });
});

describe("--bias on the command line", () => {
  const model = biasedModelFolder();
  const input = biasedInput();

  it("train --bias lora_only saves the wrapped layers' biases under PEFT's keys; the base stays as it is", async () => {
    const out = join(work, "train-bias");
    peftjsJson(
      "train",
      "--model",
      model,
      "--method",
      "gaussian",
      "--bias",
      "lora_only",
      "--data",
      input,
      "--steps",
      "2",
      "--lr",
      "0.05",
      "--out",
      out,
      "--backend",
      "js",
    );
    const config = await readJsonFile<Record<string, unknown>>(join(out, "adapter_config.json"));
    expect(config.bias).toBe("lora_only");
    const keys = [...(await tensorsOf(join(out, "adapter_model.safetensors"))).keys()];
    expect(keys.filter((key) => key.endsWith(".bias")).sort()).toEqual(
      [0, 1].flatMap((layer) =>
        ["q_proj", "v_proj"].map(
          (name) => `base_model.model.model.layers.${layer}.self_attn.${name}.base_layer.bias`,
        ),
      ),
    );
    const base = await computedLogits(input, "--model", model);
    const adapted = await computedLogits(input, "--model", model, "--adapter", out);
    expect(maxAbsDifference(adapted, base)).toBeGreaterThan(1e-3);
    const merged = join(work, "merged-bias");
    peftjsJson("merge", "--model", model, "--adapter", out, "--out", merged, "--backend", "js");
    const mergedLogits = await computedLogits(input, "--model", merged);
    // W + s·B·A in one float32 matrix vs the two-path sum (|logits| ≲ 5): round-off
    expect(maxAbsDifference(mergedLogits, adapted)).toBeLessThan(1e-4);
    // the model folder itself is untouched: the base logits are the same as before
    expect(maxAbsDifference(await computedLogits(input, "--model", model), base)).toBe(0);
  });

  it("init --bias all records the mode; a bad --bias is a usage error that writes nothing", async () => {
    const out = join(work, "init-bias-all");
    peftjsJson(
      "init",
      "--model",
      model,
      "--method",
      "lora",
      "--bias",
      "all",
      "--use-dora",
      "--out",
      out,
      "--backend",
      "js",
    );
    const config = await readJsonFile<Record<string, unknown>>(join(out, "adapter_config.json"));
    expect(config).toMatchObject({ bias: "all", use_dora: true });
    expect(
      [...(await tensorsOf(join(out, "adapter_model.safetensors"))).keys()].filter((key) =>
        key.endsWith(".bias"),
      ),
    ).toHaveLength(14);
    const refused = join(work, "init-bias-refused");
    expectUserError(
      peftjs(
        "init",
        "--model",
        model,
        "--method",
        "lora",
        "--bias",
        "some",
        "--out",
        refused,
        "--backend",
        "js",
      ),
      "init",
      /--bias some is not one of none, lora_only, all/,
    );
    expectNoOutput(refused);
  });
});
