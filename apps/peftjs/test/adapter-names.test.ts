import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RawTensor, serialize, toFloat32 } from "@peftjs/io";
import { afterAll, describe, expect, it } from "vitest";
import { expectUserError, fixture, maxAbsDifference, peftjs, peftjsJson, tensorsOf } from "./helpers.js";

// `--adapter-names` (a mixed-adapter batch, PEFT's adapter_names) on `logits` and `generate`, end to end on the
// built command line (`pnpm build` first), js backend. Reference: test/fixtures/peft/mixed_batch (PEFT's
// model(input_ids, adapter_names=["a", "b", "__base__", "a"])), a = lora_default's trained adapter, b =
// combine_more's adapter b. Tolerances: 1e-3 absolute against PEFT (the fixture README's bound for fp32
// logits); 1e-5 between a mixed row and the same row run with its adapter alone (the README's bound for an
// implementation that batches differently; measured 0).

const work = mkdtempSync(join(tmpdir(), "peftjs-adapter-names-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const a = `a=${fixture("peft/lora_default/adapter_trained")}`;
const b = `b=${fixture("peft/combine_more/adapter_b_trained")}`;
const mixedBatch = fixture("peft/mixed_batch/io.safetensors");

/** `peftjs logits` on `input` with the given flags; the logits written. */
async function logits(input: string, ...flags: string[]): Promise<RawTensor> {
  const out = join(mkdtempSync(join(work, "logits-")), "logits.safetensors");
  const result = peftjs(
    "logits",
    "--model",
    "embedded",
    ...flags,
    "--input",
    input,
    "--out",
    out,
    "--backend",
    "js",
  );
  expect(result.code, result.stderr).toBe(0);
  return (await tensorsOf(out)).get("logits") as RawTensor;
}

/** Rows `[begin, end)` of a [rows, seq, vocab] tensor. */
function rows(tensor: RawTensor, begin: number, end: number): RawTensor {
  const perRow = (tensor.shape[1] as number) * (tensor.shape[2] as number);
  const values = toFloat32(tensor).slice(begin * perRow, end * perRow);
  return {
    dtype: "F32",
    shape: [end - begin, ...tensor.shape.slice(1)],
    data: new Uint8Array(values.buffer),
  };
}

describe("peftjs logits --adapter-names", () => {
  it("reproduces PEFT's mixed batch", async () => {
    const reference = (await tensorsOf(mixedBatch)).get("mixed") as RawTensor;
    const mixed = await logits(
      mixedBatch,
      "--adapter",
      a,
      "--adapter",
      b,
      "--adapter-names",
      "a,b,__base__,a",
    );
    expect(mixed.shape).toEqual([4, 16, 512]);
    expect(maxAbsDifference(mixed, reference)).toBeLessThan(1e-3);
  });

  it("gives each row what its adapter gives alone, across the command's chunks of rows", async () => {
    // 4 rows of 200 tokens: the command runs them 2 rows at a time (512 tokens per chunk)
    const ids = BigInt64Array.from({ length: 4 * 200 }, (_, index) =>
      BigInt(index % 200 === 0 ? 1 : 260 + (index % 97)),
    );
    const input = join(work, "long-input.safetensors");
    writeFileSync(
      input,
      serialize({ input_ids: { dtype: "I64", shape: [4, 200], data: new Uint8Array(ids.buffer) } }),
    );
    const mixed = await logits(input, "--adapter", a, "--adapter", b, "--adapter-names", "b,a,__base__,b");
    const onlyA = await logits(input, "--adapter", a);
    const onlyB = await logits(input, "--adapter", b);
    const base = await logits(input);
    expect(maxAbsDifference(rows(mixed, 0, 1), rows(onlyB, 0, 1))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDifference(rows(mixed, 1, 2), rows(onlyA, 1, 2))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDifference(rows(mixed, 2, 3), rows(base, 2, 3))).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDifference(rows(mixed, 3, 4), rows(onlyB, 3, 4))).toBeLessThanOrEqual(1e-5);
    // and the adapters really differ on these rows
    expect(maxAbsDifference(rows(onlyA, 1, 2), rows(onlyB, 1, 2))).toBeGreaterThan(0.1);
  });

  it("refuses unknown names, a wrong count and names without adapters, naming the value", () => {
    const out = join(work, "refused.safetensors");
    const run = (...flags: string[]) =>
      peftjs(
        "logits",
        "--model",
        "embedded",
        ...flags,
        "--input",
        mixedBatch,
        "--out",
        out,
        "--backend",
        "js",
      );
    expectUserError(
      run("--adapter", a, "--adapter-names", "a,zzz,a,a"),
      "logits",
      /"zzz", which no --adapter loads \(loaded: a;/,
    );
    expectUserError(run("--adapter", a, "--adapter-names", "a,a,a"), "logits", /3 names for 4 input rows/);
    expectUserError(
      run("--adapter-names", "__base__,__base__,__base__,__base__"),
      "logits",
      /needs adapters/,
    );
    expectUserError(run("--adapter", a, "--adapter-names", "a,,a,a"), "logits", /empty name/);
  });
});

describe("peftjs generate --adapter-names", () => {
  it("generates one row per name, each as that adapter alone generates it", () => {
    type Report = { prompt: string; rows: { adapter: string; text: string; tokens: number[] }[] };
    const common = ["--model", "embedded", "--prompt", "The cat", "--steps", "16", "--backend", "js"];
    const mixed = peftjsJson<Report>(
      "generate",
      ...common,
      "--adapter",
      a,
      "--adapter",
      b,
      "--adapter-names",
      "b,__base__,a",
    );
    expect(mixed.rows.map((row) => row.adapter)).toEqual(["b", "__base__", "a"]);
    const alone = (...flags: string[]) =>
      peftjsJson<{ text: string; tokens: number[] }>("generate", ...common, ...flags);
    const expected = [alone("--adapter", b), alone(), alone("--adapter", a)];
    mixed.rows.forEach((row, index) => {
      expect(row.tokens).toEqual(expected[index]!.tokens);
      expect(row.text).toBe(expected[index]!.text);
    });
    expect(new Set(expected.map((entry) => entry.tokens.join())).size).toBe(3);
    const plain = peftjs("generate", ...common, "--adapter", a, "--adapter", b, "--adapter-names", "a,b");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.split("\n")[0]).toBe(`[a] ${expected[2]!.text.trim()}`);
  });

  it("works in chat mode on a Mistral folder with tokenizer.json: each row's reply is its adapter's alone", () => {
    type Report = { prompt: string; rows: { adapter: string; text: string; tokens: number[] }[] };
    const mistral = fixture("hf_mistral/model");
    const lora = `l=${fixture("hf_mistral/peft_lora/adapter_trained")}`;
    const common = ["--model", mistral, "--chat", "--prompt", "hello", "--steps", "8", "--backend", "js"];
    const mixed = peftjsJson<Report>(
      "generate",
      ...common,
      "--adapter",
      lora,
      "--adapter-names",
      "l,__base__,l",
    );
    expect(mixed.prompt).toBe("<s><|user|>\nhello\n<|assistant|>\n");
    const alone = (...flags: string[]) =>
      peftjsJson<{ text: string; tokens: number[] }>("generate", ...common, ...flags);
    const adapted = alone("--adapter", lora);
    const base = alone();
    expect(adapted.tokens).not.toEqual(base.tokens);
    expect(mixed.rows.map((row) => [row.adapter, row.text, row.tokens])).toEqual([
      ["l", adapted.text, adapted.tokens],
      ["__base__", base.text, base.tokens],
      ["l", adapted.text, adapted.tokens],
    ]);
  });

  it("refuses an unknown name with exit 1", () => {
    expectUserError(
      peftjs(
        "generate",
        "--model",
        "embedded",
        "--adapter",
        a,
        "--adapter-names",
        "a,nope",
        "--backend",
        "js",
      ),
      "generate",
      /"nope", which no --adapter loads/,
    );
  });
});
