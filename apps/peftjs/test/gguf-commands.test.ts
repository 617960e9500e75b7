import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loraConfigToJson } from "@peftjs/adapters";
import { loadPeftAdapter } from "@peftjs/adapters/node";
import { metadataNumber, metadataString, metadataStringArray } from "@peftjs/gguf";
import { openGgufFile } from "@peftjs/gguf/node";
import { afterAll, describe, expect, it } from "vitest";

// End-to-end tests of `peftjs export` / `peftjs import` (the built CLI, run `pnpm build` first) on the embedded
// stories260K model and the PEFT fixtures in test/fixtures/. What llama.cpp computes with these files is tested in
// @peftjs/gguf (its llama.cpp tests); here: the files, the round trip, the refusals and the output rules.

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const fixture = (path: string) => fileURLToPath(new URL(`./fixtures/${path}`, import.meta.url));
const work = mkdtempSync(join(tmpdir(), "peftjs-gguf-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function peftjs(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", PEFTJS_DEBUG: "" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json<T>(...args: string[]): T {
  const result = peftjs(...args, "--json");
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Exit 1, one line `peftjs <command>: <Name>Error: <message>` matching `pattern`, and nothing left at `out`. */
function expectRefused(
  result: ReturnType<typeof peftjs>,
  command: string,
  pattern: RegExp,
  out: string,
): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^peftjs ${command}: \\w+Error: `));
  expect(lines[0]).toMatch(pattern);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dirname(out)).filter((entry) => entry.startsWith(`.${basename(out)}.`))).toEqual([]);
}

describe("peftjs export --format gguf", () => {
  it("writes the embedded model with its llama2.c vocabulary, as f32 or bf16", async () => {
    const out = join(work, "stories.gguf");
    const report = json<{ kind: string; architecture: string; tensors: number; dtype: string }>(
      "export",
      "--format",
      "gguf",
      "--model",
      "embedded",
      "--out",
      out,
    );
    expect(report).toMatchObject({ kind: "model", architecture: "llama", tensors: 47, dtype: "f32" });
    const file = await openGgufFile(out);
    expect(metadataString(file.metadata, "general.name")).toBe("stories260k");
    expect(metadataStringArray(file.metadata, "tokenizer.ggml.tokens")).toHaveLength(512);
    expect(metadataNumber(file.metadata, "general.file_type")).toBe(0);
    await file.close();
    const bf16 = join(work, "stories-bf16.gguf");
    expect(
      json<{ dtype: string }>(
        "export",
        "--format",
        "gguf",
        "--model",
        "embedded",
        "--dtype",
        "bf16",
        "--out",
        bf16,
      ).dtype,
    ).toBe("bf16");
    const small = await openGgufFile(bf16);
    expect(small.tensor("blk.0.attn_q.weight")?.type).toBe("BF16");
    await small.close();
  });

  it("exports an adapter as a GGUF LoRA and imports it back to the same PEFT adapter", async () => {
    const source = fixture("peft/lora_default/adapter_trained");
    const lora = join(work, "lora.gguf");
    const exported = json<{ kind: string; alpha: number; tensors: number; foldedModules: string[] }>(
      "export",
      "--format",
      "gguf",
      "--model",
      "embedded",
      "--adapter",
      source,
      "--out",
      lora,
    );
    expect(exported).toMatchObject({ kind: "adapter", alpha: 16, tensors: 20, foldedModules: [] });
    const back = join(work, "lora-back");
    const imported = json<{ restoredConfig: boolean; modules: number; r: number; loraAlpha: number }>(
      "import",
      "--format",
      "gguf",
      "--adapter",
      lora,
      "--model",
      "embedded",
      "--out",
      back,
    );
    expect(imported).toMatchObject({ restoredConfig: true, modules: 10, r: 8, loraAlpha: 16 });
    const original = await loadPeftAdapter(source);
    const restored = await loadPeftAdapter(back);
    expect(loraConfigToJson(restored.config)).toEqual(loraConfigToJson(original.config));
    for (const [name, factors] of original.modules) {
      expect(restored.modules.get(name)?.loraA.data).toEqual(factors.loraA.data);
      expect(restored.modules.get(name)?.loraB.data).toEqual(factors.loraB.data);
    }
  });

  it("merges weighted adapters into the exported model with --merge", () => {
    const out = join(work, "merged.gguf");
    const report = json<{ kind: string; mergedModules: number }>(
      "export",
      "--format",
      "gguf",
      "--model",
      "embedded",
      "--merge",
      "--adapter",
      `${fixture("peft/lora_default/adapter_trained")}:0.5`,
      "--adapter",
      fixture("peft/pissa/adapter_converted"),
      "--out",
      out,
    );
    expect(report).toMatchObject({ kind: "model", mergedModules: 20 });
  });

  it("refuses with exit 1, the reason and the remedy, and writes nothing", () => {
    const out = join(work, "refused.gguf");
    const base = ["export", "--format", "gguf", "--model", "embedded"];
    expectRefused(
      peftjs(...base, "--adapter", fixture("peft/pissa/adapter_trained"), "--out", out),
      "export",
      /GgufUnsupportedAdapterError: this adapter is unconverted "pissa".*peftjs convert/,
      out,
    );
    const dora = join(work, "dora-adapter");
    cpSync(fixture("peft/lora_default/adapter_trained"), dora, { recursive: true });
    const config = JSON.parse(readFileSync(join(dora, "adapter_config.json"), "utf8"));
    writeFileSync(join(dora, "adapter_config.json"), JSON.stringify({ ...config, use_dora: true }));
    expectRefused(peftjs(...base, "--adapter", dora, "--out", out), "export", /DoRA.*merge_and_unload/, out);
    expectRefused(peftjs(...base, "--merge", "--adapter", dora, "--out", out), "export", /DoRA/, out);
    expectRefused(
      peftjs("export", "--format", "onnx", "--model", "embedded", "--out", out),
      "export",
      /--format onnx/,
      out,
    );
    expectRefused(
      peftjs(...base, "--merge", "--out", out),
      "export",
      /--merge needs at least one --adapter/,
      out,
    );
    expectRefused(
      peftjs(
        ...base,
        "--adapter",
        fixture("peft/lora_default/adapter_trained"),
        "--dtype",
        "f16",
        "--out",
        out,
      ),
      "export",
      /apply to model exports/,
      out,
    );
    expectRefused(
      peftjs(...base, "--dtype", "q4", "--out", out),
      "export",
      /--dtype q4 is not one of f32, f16, bf16/,
      out,
    );
    const notGguf = join(work, "model.bin");
    expectRefused(peftjs(...base, "--out", notGguf), "export", /must end in \.gguf/, notGguf);
    const existing = join(work, "existing.gguf");
    writeFileSync(existing, "keep me");
    const result = peftjs(...base, "--out", existing);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/already exists/);
    expect(readFileSync(existing, "utf8")).toBe("keep me");
  });
});

describe("peftjs export: base identity and the final write", () => {
  it("refuses an adapter recorded for another base (as generate does), for --adapter and --merge", () => {
    // A second base with the same shapes: the embedded model with a trained adapter merged in.
    const otherBase = join(work, "other-base");
    expect(
      peftjs(
        "merge",
        "--model",
        "embedded",
        "--adapter",
        fixture("peft/lora_default/adapter_trained"),
        "--out",
        otherBase,
      ).code,
    ).toBe(0);
    const adapter = join(work, "embedded-adapter");
    const init = peftjs("init", "--model", "embedded", "--method", "gaussian", "--out", adapter);
    expect(init.code, init.stderr).toBe(0);
    const out = join(work, "wrong-base.gguf");
    const base = ["export", "--format", "gguf", "--model", otherBase];
    expectRefused(
      peftjs(...base, "--adapter", adapter, "--out", out),
      "export",
      /AdapterBaseMismatchError: .*fp1:7438212e/,
      out,
    );
    expectRefused(
      peftjs(...base, "--merge", "--adapter", adapter, "--out", out),
      "export",
      /AdapterBaseMismatchError/,
      out,
    );
    // On its own base the same adapter exports.
    expect(
      json<{ kind: string }>(
        "export",
        "--format",
        "gguf",
        "--model",
        "embedded",
        "--adapter",
        adapter,
        "--out",
        join(work, "right-base.gguf"),
      ).kind,
    ).toBe("adapter");
  });

  it("never replaces a file that appeared after the up-front check, even an empty one", async () => {
    // The command's run() after the file plan passed: the target appears in between.
    const { exportCommand } = await import("../src/commands/export.js");
    for (const content of ["", "appeared meanwhile"]) {
      const out = join(work, `raced-${content.length}.gguf`);
      writeFileSync(out, content);
      await expect(exportCommand.run({ format: "gguf", model: "embedded", out }, [])).rejects.toThrow(
        /already exists; peftjs never overwrites/,
      );
      expect(readFileSync(out, "utf8")).toBe(content);
      expect(readdirSync(work).filter((entry) => entry.startsWith(`.${basename(out)}.`))).toEqual([]);
    }
  });
});

describe("peftjs import --format gguf", () => {
  it("refuses a model file, a missing file and a non-empty output folder", () => {
    const model = join(work, "import-model.gguf");
    expect(peftjs("export", "--format", "gguf", "--model", "embedded", "--out", model).code).toBe(0);
    const out = join(work, "import-out");
    expectRefused(
      peftjs("import", "--format", "gguf", "--adapter", model, "--model", "embedded", "--out", out),
      "import",
      /GgufFormatError: not a GGUF LoRA: general.type is "model"/,
      out,
    );
    expectRefused(
      peftjs(
        "import",
        "--format",
        "gguf",
        "--adapter",
        join(work, "missing.gguf"),
        "--model",
        "embedded",
        "--out",
        out,
      ),
      "import",
      /does not exist/,
      out,
    );
    const lora = join(work, "import-lora.gguf");
    expect(
      peftjs(
        "export",
        "--format",
        "gguf",
        "--model",
        "embedded",
        "--adapter",
        fixture("peft/lora_default/adapter_trained"),
        "--out",
        lora,
      ).code,
    ).toBe(0);
    const busy = join(work, "busy");
    cpSync(fixture("peft/lora_default/adapter_trained"), busy, { recursive: true });
    const result = peftjs(
      "import",
      "--format",
      "gguf",
      "--adapter",
      lora,
      "--model",
      "embedded",
      "--out",
      busy,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/already exists and is not empty/);
  });

  it("both commands print their help", () => {
    for (const command of ["export", "import"]) {
      const result = peftjs(command, "--help");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: peftjs ${command} --format gguf`);
    }
  });
});
