import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLoraConfig, LoraModel } from "@peftjs/adapters";
import { loadPeftAdapter, savePeftAdapter } from "@peftjs/adapters/node";
import { fromFloat32, type RawTensor, toFloat32 } from "@peftjs/io";
import { readCheckpoint, writeCheckpoint } from "@peftjs/io/node";
import { AdamW, train } from "@peftjs/models";
import { loadModel } from "@peftjs/models/node";
import { AdapterBaseMismatchError } from "@peftjs/state";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// One identity for a base model (issue 13): `model.weights` — the tensors the model read, by checkpoint key,
// as stored — is what the library's LoraModel.create(model) and the command line both fingerprint. So an
// adapter trained through the library loads in the CLI and the other way round, for fp32 and bf16 bases, and
// the dtype as stored is part of the identity (a bf16 base is another base than its fp32 original).
const embedded = fileURLToPath(new URL("../assets/stories260k/", import.meta.url));
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

/** Runs the built command line (`pnpm build` first). */
function peftjs(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", PEFTJS_DEBUG: "" },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs a command that must succeed with `--json` and parses its output. */
function peftjsJson<T = Record<string, unknown>>(...args: string[]): T {
  const result = peftjs(...args, "--json");
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}
const work = mkdtempSync(join(tmpdir(), "peftjs-identity-"));
const bases = { fp32: embedded, bf16: join(work, "bf16") };
const data = join(work, "text.txt");
const sentence = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];

beforeAll(async () => {
  // the stories260K folder with every tensor stored as bf16 (round to nearest even)
  mkdirSync(bases.bf16);
  const { tensors } = await readCheckpoint(embedded);
  const bf16 = new Map<string, RawTensor>();
  for (const [key, raw] of tensors) {
    bf16.set(key, { dtype: "BF16", shape: raw.shape, data: fromFloat32(toFloat32(raw), "BF16") });
  }
  await writeCheckpoint(bases.bf16, bf16);
  for (const file of ["config.json", "tok512.bin"])
    copyFileSync(join(embedded, file), join(bases.bf16, file));
  writeFileSync(
    data,
    "Lily and Ben found a red ball in the park.\n\nThe sun was warm and the sky was blue.\n",
  );
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(Object.keys(bases) as (keyof typeof bases)[])("the %s base", (kind) => {
  const folder = () => bases[kind];

  it("the CLI prints the identity the library records", async () => {
    const model = await loadModel(folder());
    const report = peftjsJson<{ fingerprint: string }>("inspect", folder());
    expect(report.fingerprint).toBe(model.weights.modelFingerprint());
    expect(model.weights.get("model.norm.weight").dtype).toBe(kind === "bf16" ? "BF16" : "F32");
  });

  it("an adapter trained through the library loads in the CLI (verify, generate)", async () => {
    const model = await loadModel(folder());
    const lora = LoraModel.create(model);
    lora.addAdapter(
      "default",
      createLoraConfig({ r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"] }),
    );
    await train({
      model,
      trainable: lora.trainable,
      optimizer: new AdamW({ learningRate: 1e-2 }),
      batches: [{ inputIds: [sentence] }],
      steps: 2,
    });
    const out = join(work, `library-${kind}`);
    await savePeftAdapter(out, lora.getAdapter("default"));
    const verified = peftjsJson<{ ok: boolean; verified: boolean; fingerprint: string }>(
      "verify",
      "--model",
      folder(),
      "--adapter",
      out,
      "--backend",
      "js",
    );
    expect(verified).toMatchObject({
      ok: true,
      verified: true,
      fingerprint: model.weights.modelFingerprint(),
    });
    const generated = peftjs(
      "generate",
      "--model",
      folder(),
      "--adapter",
      out,
      "--steps",
      "4",
      "--backend",
      "js",
    );
    expect(generated.stderr).toBe("");
    expect(generated.code).toBe(0);
  });

  it("an adapter trained by the CLI loads through the library", async () => {
    const out = join(work, `cli-${kind}`);
    peftjsJson(
      "train",
      "--model",
      folder(),
      "--method",
      "lora",
      "--r",
      "4",
      "--data",
      data,
      "--steps",
      "2",
      "--lr",
      "1e-2",
      "--seq",
      "8",
      "--batch",
      "1",
      "--out",
      out,
      "--backend",
      "js",
    );
    const adapter = await loadPeftAdapter(out);
    const model = await loadModel(folder());
    expect(adapter.metadata["peftjs.base_fingerprint"]).toBe(model.weights.modelFingerprint());
    const lora = LoraModel.create(model);
    lora.loadAdapter("cli", adapter);
    expect(lora.adapterNames).toEqual(["cli"]);
    // the other base (same values, another stored dtype) is another identity
    const other = await loadModel(kind === "fp32" ? bases.bf16 : bases.fp32);
    expect(() => LoraModel.create(other).loadAdapter("cli", adapter)).toThrow(AdapterBaseMismatchError);
  });
});
