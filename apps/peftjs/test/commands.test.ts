import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPeftAdapter, savePeftAdapter } from "@peftjs/adapters/node";
import type { RawTensor } from "@peftjs/io";
import { readJsonFile } from "@peftjs/io/node";
import { loadModel } from "@peftjs/models/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectNoOutput,
  expectUserError,
  fixture,
  maxAbsDifference,
  metadataOf,
  normalizedAdapterConfig,
  peftjs,
  peftjsJson,
  relativeDifference,
  tensorsOf,
} from "./helpers.js";

// End-to-end tests of the commands that compute or write: each spawns the built command line
// (`node dist/cli.js`, so run `pnpm build` first) on the PEFT fixtures in test/fixtures/ (see its README) and
// the embedded stories260K model. Every run uses the js backend, the reference.

const work = mkdtempSync(join(tmpdir(), "peftjs-commands-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const pissa = (name: string) => fixture(`peft/pissa/${name}`);
const loraTrained = fixture("peft/lora_default/adapter_trained");
const evalBatch = pissa("io.safetensors");
/** The embedded stories260K's fingerprint (pinned by @peftjs/state's tests). */
const embeddedFingerprint = "fp1:7438212e98c9a5a22ef17b946af3130a";
const stories =
  "Once upon a time there was a little cat. The cat liked to play in the sun.\n\nLily went to the park with her mom. She saw a big dog and they played all day.\n";

/** The reference logits of the PiSSA case's eval batch, by name. */
async function referenceLogits(name: string): Promise<RawTensor> {
  return (await tensorsOf(evalBatch)).get(name) as RawTensor;
}

/** Logits of the eval batch computed by `peftjs logits`. */
async function computedLogits(...args: string[]): Promise<RawTensor> {
  const out = join(mkdtempSync(join(work, "logits-")), "logits.safetensors");
  const result = peftjs("logits", ...args, "--input", evalBatch, "--out", out, "--backend", "js");
  expect(result.code, result.stderr).toBe(0);
  return (await tensorsOf(out)).get("logits") as RawTensor;
}

// Logit tolerance 1e-3 absolute: float32 forward passes of a different implementation (overlay mode computes
// W·x − s·B₀A₀·x + s·B·A·x where PEFT has W_res·x + s·B·A·x); the fixture README's own spread is ≤ 2.7e-5.
const logitTolerance = 1e-3;

describe("peftjs init", () => {
  const out = join(work, "init-pissa");
  const residual = join(work, "init-pissa-residual");
  beforeAll(() => {
    const result = peftjs(
      "init",
      "--model",
      "embedded",
      "--method",
      "pissa",
      "--r",
      "8",
      "--alpha",
      "8",
      "--target",
      "q_proj,k_proj,v_proj,o_proj",
      "--seed",
      "2",
      "--out",
      out,
      "--residual-out",
      residual,
      "--backend",
      "js",
    );
    expect(result.code, result.stderr).toBe(0);
  });

  it("writes PiSSA's init adapter with exactly PEFT's adapter_init layout and config", async () => {
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(join(pissa("adapter_init"), "adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    for (const [key, tensor] of peft) {
      expect(ours.get(key)?.shape).toEqual(tensor.shape);
      expect(ours.get(key)?.dtype).toBe(tensor.dtype);
    }
    expect(await normalizedAdapterConfig(out)).toEqual(await normalizedAdapterConfig(pissa("adapter_init")));
    const metadata = await metadataOf(join(out, "adapter_model.safetensors"));
    expect(metadata).toMatchObject({
      format: "pt",
      "peftjs.init_method": '"pissa"',
      "peftjs.needs_mutated_base": "true",
      "peftjs.base_fingerprint": embeddedFingerprint,
    });
    const adapter = await loadPeftAdapter(out);
    expect(adapter.modules.size).toBe(20);
  });

  it("writes the residual base as PEFT's in-place init leaves it (≤ 1e-5 relative per tensor)", async () => {
    const ours = await tensorsOf(join(residual, "model.safetensors"));
    const peft = await tensorsOf(join(pissa("residual"), "model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    // fp32 SVDs of two implementations: the adapters package matches PEFT's residuals to ≤ 1e-5 relative.
    for (const [key, tensor] of peft)
      expect(relativeDifference(ours.get(key) as RawTensor, tensor)).toBeLessThan(1e-5);
    expect(await readJsonFile(join(residual, "config.json"))).toEqual(
      await readJsonFile(fixture("peft/pissa/residual/config.json")),
    );
    const model = await loadModel(residual);
    expect(model.config.vocabSize).toBe(512);
  });

  it("gives the base model back when the init adapter sits on its residual", async () => {
    const logits = await computedLogits("--model", residual, "--adapter", out);
    expect(maxAbsDifference(logits, await referenceLogits("base_original"))).toBeLessThan(logitTolerance);
  });

  it("writes a plain LoRA init with zero lora_B", async () => {
    const loraOut = join(work, "init-lora");
    const report = peftjsJson(
      "init",
      "--model",
      "embedded",
      "--method",
      "lora",
      "--r",
      "4",
      "--alpha",
      "8",
      "--out",
      loraOut,
      "--backend",
      "js",
    );
    expect(report).toMatchObject({
      method: "lora",
      modules: 10,
      residualOut: null,
      baseFingerprint: embeddedFingerprint,
    });
    const adapter = await loadPeftAdapter(loraOut);
    expect(adapter.config.init_lora_weights).toBe(true);
    for (const { loraB } of adapter.modules.values())
      expect(loraB.data.every((value) => value === 0)).toBe(true);
  });

  it("refuses bad flags with exit 1 and writes nothing", () => {
    const target = join(work, "init-refused");
    expectUserError(
      peftjs("init", "--model", "embedded", "--method", "dora", "--out", target),
      "init",
      /--method dora is not one of/,
    );
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "lora",
        "--out",
        target,
        "--residual-out",
        `${target}-res`,
      ),
      "init",
      /--residual-out applies to pissa/,
    );
    expectNoOutput(target);
    expectNoOutput(`${target}-res`);
    expectUserError(
      peftjs("init", "--model", "/nonexistent/model", "--method", "lora", "--out", target),
      "init",
      /\/nonexistent\/model does not exist/,
    );
    expectUserError(
      peftjs("init", "--model", "embedded", "--method", "lora", "--out", out),
      "init",
      /already exists and is not empty/,
    );
    expectNoOutput(target);
    // A failure in the middle of writing: the adapter is already in the temporary folder when the residual
    // folder is refused; the temporary folder goes, nothing appears at --out.
    expectUserError(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "pissa",
        "--out",
        target,
        "--residual-out",
        out,
        "--backend",
        "js",
      ),
      "init",
      /already exists and is not empty/,
    );
    expectNoOutput(target);
    expectUserError(
      peftjs("combine", "--adapter", `${out}:1`, "--method", "cat", "--out", target),
      "combine",
      /unconverted "pissa" init adapter/,
    );
  });
});

describe("peftjs train", () => {
  const textData = join(work, "stories.txt");
  beforeAll(() => {
    writeFileSync(textData, stories);
  });

  it("trains PiSSA from peftjs init on text, saving PEFT's adapter_trained layout and the loss log", async () => {
    const init = join(work, "train-init");
    expect(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "pissa",
        "--r",
        "8",
        "--alpha",
        "8",
        "--target",
        "q_proj,k_proj,v_proj,o_proj",
        "--out",
        init,
        "--backend",
        "js",
      ).code,
    ).toBe(0);
    const out = join(work, "train-pissa");
    const log = join(work, "train-pissa-log.json");
    const report = peftjsJson<{ losses: number[]; stepMilliseconds: number[] }>(
      "train",
      "--model",
      "embedded",
      "--adapter",
      init,
      "--data",
      textData,
      "--steps",
      "3",
      "--lr",
      "5e-3",
      "--eps",
      "1e-6",
      "--weight-decay",
      "0",
      "--batch",
      "2",
      "--seq",
      "16",
      "--log",
      log,
      "--out",
      out,
      "--backend",
      "js",
    );
    expect(report.losses).toHaveLength(3);
    // one wall time per step (what `apps/peftjs/bench/fine-tune.mjs` reports), never a speed check
    expect(report.stepMilliseconds).toHaveLength(3);
    expect(
      report.stepMilliseconds.every((milliseconds) => Number.isFinite(milliseconds) && milliseconds >= 0),
    ).toBe(true);
    // The same batch three times (the text gives one batch): Adam at lr 5e-3 lowers its loss.
    expect(report.losses[2]).toBeLessThan(report.losses[0] as number);
    expect((await readJsonFile<{ losses: number[] }>(log)).losses).toEqual(report.losses);
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(join(pissa("adapter_trained"), "adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    expect(await normalizedAdapterConfig(out)).toEqual(
      await normalizedAdapterConfig(pissa("adapter_trained")),
    );
    const adapter = await loadPeftAdapter(out);
    expect(adapter.config.init_lora_weights).toBe("pissa");
    expect(adapter.metadata["peftjs.base_fingerprint"]).toBe(embeddedFingerprint);
  });

  it("reproduces PEFT's PiSSA training losses from peftjs init's adapter on PEFT's batch", async () => {
    const reference = await readJsonFile<{ losses: number[] }>(pissa("training.json"));
    const report = peftjsJson<{ losses: number[] }>(
      "train",
      "--model",
      "embedded",
      "--adapter",
      join(work, "init-pissa"),
      "--data",
      pissa("training.safetensors"),
      "--steps",
      "5",
      "--lr",
      "5e-3",
      "--eps",
      "1e-6",
      "--weight-decay",
      "0",
      "--out",
      join(work, "train-peft-batch"),
      "--backend",
      "js",
    );
    // Our exact SVD gives A₀/B₀ up to signs of singular pairs, which Adam's trajectory does not see; the
    // rest is float32 rounding (overlay vs residual). 1e-4 absolute, the fixture README's tolerance
    // (measured 3e-6).
    report.losses.forEach((loss, step) => {
      expect(Math.abs(loss - (reference.losses[step] as number))).toBeLessThan(1e-4);
    });
  });

  it("continues PEFT's unconverted PiSSA adapter with its adapter_init as --initial", async () => {
    const out = join(work, "train-with-initial");
    const report = peftjsJson<{ losses: number[] }>(
      "train",
      "--model",
      "embedded",
      "--adapter",
      pissa("adapter_trained"),
      "--initial",
      pissa("adapter_init"),
      "--data",
      pissa("training.safetensors"),
      "--steps",
      "1",
      "--lr",
      "5e-3",
      "--out",
      out,
      "--backend",
      "js",
    );
    // Step 0's loss is that of PEFT's trained model (A₀/B₀ from adapter_init as the overlay correction) on
    // its training batch: PEFT's loss after its 20 steps, within the 1e-4 of the losses above.
    const reference = await readJsonFile<{ loss_after_training: number }>(pissa("training.json"));
    expect(Math.abs((report.losses[0] as number) - reference.loss_after_training)).toBeLessThan(1e-4);
    expect((await loadPeftAdapter(out)).config.init_lora_weights).toBe("pissa");
    expectUserError(
      peftjs(
        "train",
        "--model",
        "embedded",
        "--adapter",
        loraTrained,
        "--initial",
        pissa("adapter_init"),
        "--data",
        evalBatch,
        "--steps",
        "1",
        "--lr",
        "1e-3",
        "--out",
        join(work, "train-initial-refused"),
      ),
      "train",
      /--initial applies to an unconverted PiSSA\/OLoRA --adapter/,
    );
  });

  it("trains a new LoRA on .jsonl text with PEFT's lora_default layout", async () => {
    const data = join(work, "stories.jsonl");
    writeFileSync(
      data,
      stories
        .split("\n\n")
        .map((text) => JSON.stringify({ text }))
        .join("\n"),
    );
    const out = join(work, "train-lora");
    const report = peftjsJson<{ losses: number[]; batchShape: number[] }>(
      "train",
      "--model",
      "embedded",
      "--method",
      "lora",
      "--r",
      "8",
      "--alpha",
      "16",
      "--target",
      "q_proj,v_proj",
      "--data",
      data,
      "--steps",
      "2",
      "--lr",
      "1e-3",
      "--batch",
      "2",
      "--seq",
      "8",
      "--out",
      out,
      "--backend",
      "js",
    );
    expect(report.batchShape).toEqual([2, 8]);
    expect(report.losses.every(Number.isFinite)).toBe(true);
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(join(loraTrained, "adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    expect(await normalizedAdapterConfig(out)).toEqual(await normalizedAdapterConfig(loraTrained));
  });

  it("continues a PEFT adapter on safetensors input_ids, used as they are", () => {
    const report = peftjsJson<{ batchShape: number[] }>(
      "train",
      "--model",
      "embedded",
      "--adapter",
      loraTrained,
      "--data",
      evalBatch,
      "--steps",
      "1",
      "--lr",
      "1e-3",
      "--out",
      join(work, "train-continued"),
      "--backend",
      "js",
    );
    expect(report.batchShape).toEqual([2, 16]);
  });

  it("fails with exit 1 and no output for a missing file, a broken safetensors file and bad flags", () => {
    const out = join(work, "train-refused");
    const log = join(work, "train-refused.json");
    const broken = join(work, "broken.safetensors");
    writeFileSync(broken, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]));
    const common = [
      "--model",
      "embedded",
      "--method",
      "lora",
      "--steps",
      "1",
      "--lr",
      "1e-3",
      "--log",
      log,
      "--out",
      out,
      "--backend",
      "js",
    ];
    expectUserError(
      peftjs("train", ...common, "--data", join(work, "missing.txt")),
      "train",
      /missing\.txt does not exist/,
    );
    expectUserError(
      peftjs("train", ...common, "--data", broken),
      "train",
      /^peftjs train: Safetensors\w*Error: /,
    );
    expectUserError(
      peftjs("train", ...common, "--data", pissa("adapter_init/adapter_model.safetensors")),
      "train",
      /has no "input_ids" tensor/,
    );
    expectUserError(
      peftjs("train", ...common, "--data", textData, "--adapter", loraTrained),
      "train",
      /exactly one of --adapter DIR/,
    );
    expectUserError(
      peftjs("train", ...common, "--data", textData, "--seq", "4096"),
      "train",
      /fewer than one batch/,
    );
    expectNoOutput(out);
    expect(existsSync(log)).toBe(false);
  });
});

describe("peftjs convert", () => {
  it("reproduces PEFT's adapter_converted bit for bit", async () => {
    const out = join(work, "converted");
    const report = peftjsJson(
      "convert",
      "--initial",
      pissa("adapter_init"),
      "--trained",
      pissa("adapter_trained"),
      "--out",
      out,
    );
    expect(report).toMatchObject({ from: "pissa", r: 16, loraAlpha: 16, modules: 20, recompression: null });
    const ours = await tensorsOf(join(out, "adapter_model.safetensors"));
    const peft = await tensorsOf(join(pissa("adapter_converted"), "adapter_model.safetensors"));
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    for (const [key, tensor] of peft) {
      expect(ours.get(key)?.dtype).toBe(tensor.dtype);
      expect(Buffer.compare(Buffer.from((ours.get(key) as RawTensor).data), Buffer.from(tensor.data))).toBe(
        0,
      );
    }
    expect(await normalizedAdapterConfig(out)).toEqual(
      await normalizedAdapterConfig(pissa("adapter_converted")),
    );
    expect(await metadataOf(join(out, "adapter_model.safetensors"))).toMatchObject({
      format: "pt",
      "peftjs.needs_mutated_base": "false",
      "peftjs.converted_from": '"pissa"',
    });
  });

  it("recompresses to a smaller rank and reports the error", async () => {
    const out = join(work, "converted-r8");
    const report = peftjsJson<{ r: number; recompression: { totalRelativeError: number } }>(
      "convert",
      "--initial",
      pissa("adapter_init"),
      "--trained",
      pissa("adapter_trained"),
      "--out",
      out,
      "--compress-rank",
      "8",
    );
    expect(report.r).toBe(8);
    expect(report.recompression.totalRelativeError).toBeGreaterThan(0);
    expect(report.recompression.totalRelativeError).toBeLessThan(1);
    expect((await loadPeftAdapter(out)).config.lora_alpha).toBe(8);
  });

  it("fails with exit 1 and no output on a shape mismatch, a plain LoRA and a missing folder", () => {
    const smallInit = join(work, "convert-small-init");
    expect(
      peftjs(
        "init",
        "--model",
        "embedded",
        "--method",
        "pissa",
        "--r",
        "4",
        "--target",
        "q_proj,k_proj,v_proj,o_proj",
        "--out",
        smallInit,
        "--backend",
        "js",
      ).code,
    ).toBe(0);
    const out = join(work, "convert-refused");
    expectUserError(
      peftjs("convert", "--initial", smallInit, "--trained", pissa("adapter_trained"), "--out", out),
      "convert",
      /AdapterConversionError: the initial adapter has r 4 but the trained one 8: they cannot belong together/,
    );
    expectUserError(
      peftjs("convert", "--initial", pissa("adapter_init"), "--trained", loraTrained, "--out", out),
      "convert",
      /is a plain LoRA adapter/,
    );
    expectUserError(
      peftjs(
        "convert",
        "--initial",
        join(work, "no-such-init"),
        "--trained",
        pissa("adapter_trained"),
        "--out",
        out,
      ),
      "convert",
      /no-such-init does not exist/,
    );
    expectNoOutput(out);
  });
});

describe("peftjs merge", () => {
  it("writes a model folder with PEFT's merged layout whose logits are PEFT's merged ones", async () => {
    const out = join(work, "merged");
    const report = peftjsJson<{ mergedModules: number }>(
      "merge",
      "--model",
      "embedded",
      "--adapter",
      pissa("adapter_trained"),
      "--out",
      out,
      "--backend",
      "js",
    );
    expect(report.mergedModules).toBe(20);
    expect(readdirSync(out).sort()).toEqual(["config.json", "model.safetensors"]);
    const ours = await tensorsOf(join(out, "model.safetensors"));
    const peft = await tensorsOf(join(pissa("residual"), "model.safetensors")); // same keys as PEFT's merged/
    expect([...ours.keys()].sort()).toEqual([...peft.keys()].sort());
    expect(await metadataOf(join(out, "model.safetensors"))).toEqual({ format: "pt" });
    expect(await readJsonFile(join(out, "config.json"))).toEqual(
      await readJsonFile(fixture("peft/pissa/residual/config.json")),
    );
    const logits = await computedLogits("--model", out);
    expect(maxAbsDifference(logits, await referenceLogits("merged"))).toBeLessThan(logitTolerance);
  });

  it("stores bf16 when asked, and weight 0 gives the base back bit for bit", async () => {
    const bf16 = join(work, "merged-bf16");
    peftjsJson(
      "merge",
      "--model",
      "embedded",
      "--adapter",
      `${pissa("adapter_converted")}:0.5`,
      "--dtype",
      "bf16",
      "--out",
      bf16,
      "--backend",
      "js",
    );
    for (const tensor of (await tensorsOf(join(bf16, "model.safetensors"))).values())
      expect(tensor.dtype).toBe("BF16");
    expect((await readJsonFile<{ dtype: string }>(join(bf16, "config.json"))).dtype).toBe("bfloat16");
    const zero = peftjsJson<{ fingerprint: string }>(
      "merge",
      "--model",
      "embedded",
      "--adapter",
      `${pissa("adapter_converted")}:0`,
      "--out",
      join(work, "merged-zero"),
      "--backend",
      "js",
    );
    expect(zero.fingerprint).toBe(embeddedFingerprint);
  });

  it("gives a merged lm_head its own tensor and unties it from the embedding", async () => {
    const adapter = join(work, "lm-head-lora");
    const trained = peftjs(
      "train",
      "--model",
      "embedded",
      "--method",
      "lora",
      "--target",
      "lm_head",
      "--data",
      evalBatch,
      "--steps",
      "1",
      "--lr",
      "1e-2",
      "--out",
      adapter,
      "--backend",
      "js",
    );
    expect(trained.code, trained.stderr).toBe(0);
    const out = join(work, "merged-lm-head");
    peftjsJson("merge", "--model", "embedded", "--adapter", adapter, "--out", out, "--backend", "js");
    expect((await tensorsOf(join(out, "model.safetensors"))).get("lm_head.weight")?.shape).toEqual([512, 64]);
    expect(
      (await readJsonFile<{ tie_word_embeddings: boolean }>(join(out, "config.json"))).tie_word_embeddings,
    ).toBe(false);
    const merged = await computedLogits("--model", out);
    const adapted = await computedLogits("--model", "embedded", "--adapter", adapter);
    expect(maxAbsDifference(merged, await referenceLogits("base_original"))).toBeGreaterThan(1e-3);
    expect(maxAbsDifference(merged, adapted)).toBeLessThan(logitTolerance);
  });

  it("fails with exit 1 and no output for a missing adapter, a bad dtype and an adapter on the wrong base", () => {
    const out = join(work, "merge-refused");
    expectUserError(
      peftjs("merge", "--model", "embedded", "--adapter", join(work, "none"), "--out", out),
      "merge",
      /none does not exist/,
    );
    expectUserError(
      peftjs("merge", "--model", "embedded", "--adapter", loraTrained, "--dtype", "f8", "--out", out),
      "merge",
      /--dtype f8/,
    );
    // PEFT's unconverted PiSSA adapter on PEFT's residual: the subspace guard refuses it (PEFT would subtract twice).
    expectUserError(
      peftjs(
        "merge",
        "--model",
        pissa("residual"),
        "--adapter",
        pissa("adapter_trained"),
        "--out",
        out,
        "--backend",
        "js",
      ),
      "merge",
      /AdapterLoadError: .*looks like a PiSSA residual/,
    );
    expectNoOutput(out);
  });
});

describe("peftjs combine", () => {
  it("combines with cat exactly and writes a PEFT adapter folder", async () => {
    const out = join(work, "combined-cat");
    const report = peftjsJson<{ rank: number; totalRelativeError: number }>(
      "combine",
      "--adapter",
      `${loraTrained}:0.6`,
      "--adapter",
      `${pissa("adapter_converted")}:0.4`,
      "--method",
      "cat",
      "--out",
      out,
    );
    expect(report.rank).toBe(24);
    // cat is exact: Σ wᵢsᵢBᵢAᵢ up to float32 rounding of the folded factors.
    expect(report.totalRelativeError).toBeLessThan(1e-6);
    const adapter = await loadPeftAdapter(out);
    expect(adapter.config.r).toBe(24);
    expect(adapter.config.lora_alpha).toBe(24);
    expect(adapter.modules.size).toBe(20);
  });

  it("refuses unconverted PiSSA adapters, unknown methods and missing weights with exit 1", () => {
    const out = join(work, "combine-refused");
    expectUserError(
      peftjs("combine", "--adapter", `${pissa("adapter_trained")}:1`, "--method", "svd", "--out", out),
      "combine",
      /unconverted "pissa" adapter/,
    );
    expectUserError(
      peftjs("combine", "--adapter", `${loraTrained}:1`, "--method", "ties", "--out", out),
      "combine",
      /--method ties/,
    );
    expectUserError(
      peftjs("combine", "--adapter", loraTrained, "--method", "cat", "--out", out),
      "combine",
      /needs a weight/,
    );
    expectNoOutput(out);
  });
});

describe("peftjs logits", () => {
  it("reproduces PEFT's logits: base, converted on the original base, unconverted PiSSA (overlay)", async () => {
    const base = await computedLogits("--model", "embedded");
    expect(maxAbsDifference(base, await referenceLogits("base_original"))).toBeLessThan(logitTolerance);
    const converted = await computedLogits("--model", "embedded", "--adapter", pissa("adapter_converted"));
    expect(maxAbsDifference(converted, await referenceLogits("converted_on_original"))).toBeLessThan(
      logitTolerance,
    );
    const trained = await computedLogits("--model", "embedded", "--adapter", pissa("adapter_trained"));
    expect(maxAbsDifference(trained, await referenceLogits("trained"))).toBeLessThan(logitTolerance);
  });

  it("fails with exit 1 for a broken input file, a missing input_ids and a shape mismatch", async () => {
    const out = join(work, "logits-refused.safetensors");
    const broken = join(work, "broken-input.safetensors");
    writeFileSync(broken, Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x22]));
    expectUserError(
      peftjs("logits", "--model", "embedded", "--input", broken, "--out", out),
      "logits",
      /^peftjs logits: Safetensors\w*Error: /,
    );
    expectUserError(
      peftjs(
        "logits",
        "--model",
        "embedded",
        "--input",
        join(pissa("residual"), "model.safetensors"),
        "--out",
        out,
      ),
      "logits",
      /no "input_ids" tensor/,
    );
    expectUserError(
      peftjs("logits", "--model", "embedded", "--input", join(work, "none.safetensors"), "--out", out),
      "logits",
      /none\.safetensors does not exist/,
    );
    const misshapen = await misshapenAdapter();
    expectUserError(
      peftjs("logits", "--model", "embedded", "--adapter", misshapen, "--input", evalBatch, "--out", out),
      "logits",
      /\[8, 32\]|32/,
    );
    expect(existsSync(out)).toBe(false);
  });
});

/** lora_default's trained adapter with lora_A cut to 32 input features: it fits no stories260K module. */
async function misshapenAdapter(): Promise<string> {
  const out = join(work, "misshapen");
  if (existsSync(out)) return out;
  const adapter = await loadPeftAdapter(loraTrained);
  const modules = new Map(
    [...adapter.modules].map(([name, { loraA, loraB }]) => [
      name,
      {
        loraA: {
          rows: loraA.rows,
          columns: 32,
          data: Float32Array.from({ length: loraA.rows * 32 }, (_, index) => loraA.data[index] as number),
        },
        loraB,
      },
    ]),
  );
  mkdirSync(out);
  await savePeftAdapter(out, { ...adapter, modules });
  return out;
}

describe("peftjs generate", () => {
  it("continues a prompt greedily, with and without an adapter", () => {
    const base = peftjsJson<{ text: string; tokens: number[] }>(
      "generate",
      "--model",
      "embedded",
      "--steps",
      "12",
      "--backend",
      "js",
    );
    expect(base.text.startsWith("Once upon a time")).toBe(true);
    expect(base.tokens.length).toBeLessThanOrEqual(12);
    const adapted = peftjs(
      "generate",
      "--model",
      "embedded",
      "--adapter",
      pissa("adapter_converted"),
      "--prompt",
      "Lily",
      "--steps",
      "8",
      "--backend",
      "js",
    );
    expect(adapted.code, adapted.stderr).toBe(0);
    expect(adapted.stdout.startsWith("Lily")).toBe(true);
  });

  it("fails with exit 1 when the model folder has no tokenizer", () => {
    expectUserError(
      peftjs("generate", "--model", pissa("residual"), "--backend", "js"),
      "generate",
      /TokenizerNotFoundError: .* has no tokenizer: looked for tokenizer\.json, tok512\.bin/,
    );
  });
});

describe("peftjs verify", () => {
  const initDir = join(work, "init-pissa");
  const residualDir = join(work, "init-pissa-residual");

  it("accepts adapters on the base they belong to (exit 0)", () => {
    expect(peftjsJson("verify", "--model", "embedded", "--adapter", loraTrained)).toMatchObject({
      ok: true,
      kind: "lora",
      verified: false,
    });
    expect(
      peftjsJson("verify", "--model", "embedded", "--adapter", pissa("adapter_converted")),
    ).toMatchObject({ kind: "lora" });
    // An unconverted PiSSA adapter on the ORIGINAL base: right in overlay mode (or on a fork).
    expect(peftjsJson("verify", "--model", "embedded", "--adapter", pissa("adapter_trained"))).toMatchObject({
      kind: "unconverted",
      verified: false,
    });
    // peftjs init's adapter on the residual it wrote (PEFT's own setup), verified by fingerprint.
    expect(peftjsJson("verify", "--model", residualDir, "--adapter", initDir)).toMatchObject({
      kind: "init",
      verified: true,
    });
  });

  it("refuses an unconverted PiSSA adapter on a residual base, with the reason and the remedy", () => {
    expectUserError(
      peftjs("verify", "--model", pissa("residual"), "--adapter", pissa("adapter_trained")),
      "verify",
      /AdapterLoadError: .*needs the original base.*looks like a PiSSA residual.*convert it to LoRA/,
    );
    expectUserError(
      peftjs("verify", "--model", "embedded", "--adapter", pissa("adapter_trained"), "--strict"),
      "verify",
      /unconverted "pissa" adapter.*peftjs convert/,
    );
  });

  it("refuses an init adapter on the original base, a wrong base and a shape mismatch", async () => {
    expectUserError(
      peftjs("verify", "--model", "embedded", "--adapter", initDir),
      "verify",
      /init adapter.*s·B₀A₀ would be added twice/,
    );
    const converted = join(work, "verify-converted");
    const trained = join(work, "verify-trained");
    expect(
      peftjs(
        "train",
        "--model",
        "embedded",
        "--adapter",
        initDir,
        "--data",
        evalBatch,
        "--steps",
        "1",
        "--lr",
        "1e-3",
        "--out",
        trained,
        "--backend",
        "js",
      ).code,
    ).toBe(0);
    expect(peftjs("convert", "--initial", initDir, "--trained", trained, "--out", converted).code).toBe(0);
    expect(peftjs("verify", "--model", "embedded", "--adapter", converted).code).toBe(0);
    expectUserError(
      peftjs("verify", "--model", pissa("residual"), "--adapter", converted),
      "verify",
      /AdapterBaseMismatchError: .*expects base fp1:7438212e98c9a5a22ef17b946af3130a/,
    );
    expectUserError(
      peftjs("verify", "--model", "embedded", "--adapter", await misshapenAdapter()),
      "verify",
      /shape mismatch at "model\.layers\.0\.self_attn\.q_proj": lora_A \[8, 32\]/,
    );
    expectUserError(
      peftjs("verify", "--model", "embedded", "--adapter", join(work, "nothing")),
      "verify",
      /nothing does not exist/,
    );
  });
});

describe("every new command", () => {
  it("prints its help with exit 0", () => {
    for (const command of ["init", "train", "convert", "merge", "combine", "logits", "generate", "verify"]) {
      const result = peftjs(command, "--help");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: peftjs ${command}`);
    }
  });

  it("refuses an unknown --backend with exit 1 on every command that computes", () => {
    for (const command of ["init", "train", "merge", "logits", "generate", "verify"]) {
      expectUserError(
        peftjs(command, "--backend", "cuda"),
        command,
        /--backend cuda is not one of auto, js, wasm, gpu/,
      );
    }
  });
});
