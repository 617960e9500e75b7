import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const embedded = fileURLToPath(new URL("../assets/stories260k", import.meta.url));

function peftjs(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("peftjs inspect", () => {
  it("reports the embedded model's tensors and its fingerprint as JSON", () => {
    const { code, stdout } = peftjs("inspect", embedded, "--json");
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.kind).toBe("model");
    expect(report.tensors).toHaveLength(47);
    expect(report.tensors).toContainEqual({
      name: "model.layers.0.self_attn.q_proj.weight",
      dtype: "F32",
      shape: [64, 64],
    });
    // The same fingerprint @peftjs/state's own tests pin for this file.
    expect(report.fingerprint).toBe("fp1:7438212e98c9a5a22ef17b946af3130a");
    expect(report.adapter).toBeNull();
  });

  it("fails with exit 1 and one line, no stack, for a missing path", () => {
    const { code, stderr } = peftjs("inspect", "/nonexistent/model.safetensors");
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("/nonexistent/model.safetensors");
  });

  it("fails with exit 1 and a typed error for a broken safetensors file", () => {
    const dir = mkdtempSync(join(tmpdir(), "peftjs-cli-"));
    const path = join(dir, "broken.safetensors");
    writeFileSync(path, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0x7b]));
    const { code, stderr } = peftjs("inspect", path);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^peftjs inspect: Safetensors\w*Error: /);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("peftjs command line", () => {
  it("rejects an unknown command and an unknown flag with exit 1", () => {
    expect(peftjs("frobnicate").code).toBe(1);
    const flag = peftjs("inspect", embedded, "--frobnicate");
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain("--frobnicate");
  });

  it("prints help for every command", () => {
    expect(peftjs("--help").stdout).toContain("inspect");
    expect(peftjs("demo", "--help").stdout).toContain("--backend");
  });
});

describe("peftjs demo", () => {
  it("trains, shows the hazard, converts, merges, saves PEFT folders and restores bit-exactly", () => {
    const out = join(mkdtempSync(join(tmpdir(), "peftjs-demo-")), "output");
    const { code, stdout } = peftjs("demo", "--out", out, "--backend", "wasm", "--steps", "6");
    expect(code).toBe(0);
    expect(stdout).toContain("Once upon a time");
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(summary.training.lora).toHaveLength(6);
    expect(summary.training.pissa).toHaveLength(6);
    // PEFT's sequence breaks the LoRA adapter by whole logits; the defaults leave it bit-identical.
    expect(summary.hazard.peftResidualMaxAbs).toBeGreaterThan(0.5);
    expect(summary.hazard.defaultsMaxAbs).toBe(0);
    expect(summary.hazard.guardError).toMatch(/^AdapterLoadError: /);
    // Conversion and merging are exact up to float32 rounding of ~20-unit logits (fixture README: 1e-3).
    expect(summary.conversion.convertedVsResidualMaxAbs).toBeLessThan(1e-3);
    expect(summary.conversion.mergedVsConvertedMaxAbs).toBeLessThan(1e-3);
    expect(summary.fingerprints.original).toBe("fp1:7438212e98c9a5a22ef17b946af3130a");
    expect(summary.fingerprints.residual).not.toBe(summary.fingerprints.original);
    expect(summary.fingerprints.restored).toBe(summary.fingerprints.original);
    for (const folder of ["lora", "pissa", "pissa_init", "pissa_converted"]) {
      expect(readdirSync(join(out, folder)).sort()).toEqual([
        "adapter_config.json",
        "adapter_model.safetensors",
      ]);
    }
    expect(readdirSync(join(out, "merged")).sort()).toEqual(["config.json", "model.safetensors"]);
    expect(readFileSync(join(out, "loss-curves.svg"), "utf8")).toMatch(/^<svg /);
    const converted = JSON.parse(peftjs("inspect", join(out, "pissa_converted"), "--json").stdout);
    expect(converted.tensors).toHaveLength(35 * 2);
    expect(converted.tensors[0].name).toMatch(/^base_model\.model\.model\.layers\.0\..*\.lora_[AB]\.weight$/);
    expect(converted.warning).toBeNull();
    const unconverted = JSON.parse(peftjs("inspect", join(out, "pissa"), "--json").stdout);
    expect(unconverted.warning).toContain("convert");
  });

  it("refuses bad flags with exit 1 and leaves no output behind", () => {
    const out = join(mkdtempSync(join(tmpdir(), "peftjs-demo-")), "output");
    const backend = peftjs("demo", "--backend", "cuda", "--out", out);
    expect(backend.code).toBe(1);
    expect(backend.stderr).toContain("cuda");
    const steps = peftjs("demo", "--steps", "0", "--out", out);
    expect(steps.code).toBe(1);
    expect(steps.stderr).toContain("--steps 0");
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dirname(out))).toEqual([]);
  });
});
