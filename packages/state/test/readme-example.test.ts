import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSafetensorsFile } from "@peftjs/io/node";
import { afterAll, expect, it } from "vitest";
import {
  AdapterNeedsMutatedBaseError,
  type BaseMutationWarning,
  checkCompatibility,
  deriveAdapterRecord,
  WeightStore,
} from "../src/index.js";
import { readSnapshotFile, writeSnapshotFile } from "../src/node.js";

const directory = mkdtempSync(join(tmpdir(), "peftjs-state-readme-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

it("the README quick start runs as written (with a stand-in residual)", async () => {
  const warnings: BaseMutationWarning[] = [];
  const { tensors } = await readSafetensorsFile(
    new URL("./fixtures/stories260k/model.safetensors", import.meta.url).pathname,
  );
  const base = WeightStore.from(tensors, { warn: (warning) => warnings.push(warning) });
  expect(base.modelFingerprint()).toBe("fp1:7438212e98c9a5a22ef17b946af3130a");

  const name = "model.layers.0.self_attn.q_proj.weight";
  const weight = base.get(name);
  const original = base.snapshot("original");
  const pissaBase = base.fork();
  const residual = weight.toRaw();
  new Float32Array(residual.data.buffer)[0]! -= 0.25; // stand-in for W − s·B₀A₀
  pissaBase.mutate(name, residual, {
    reason: 'PiSSA residual W − s·B₀A₀ for adapter "pissa"',
    by: "@peftjs/adapters",
  });
  expect(warnings).toHaveLength(1);
  expect(pissaBase.journal).toHaveLength(1);
  expect(base.journal).toHaveLength(0);

  pissaBase.restore(original);
  expect(pissaBase.modelFingerprint()).toBe(base.modelFingerprint());
  const path = join(directory, "base.safetensors");
  await writeSnapshotFile(path, original);
  const again = WeightStore.fromSnapshot(await readSnapshotFile(path));
  expect(again.modelFingerprint()).toBe(base.modelFingerprint());

  const adapterConfig = JSON.parse(
    await readFile(
      new URL("./fixtures/peft/pissa_adapter_trained.adapter_config.json", import.meta.url),
      "utf8",
    ),
  );
  const check = checkCompatibility(base, deriveAdapterRecord(adapterConfig));
  expect(check.ok).toBe(false);
  expect(!check.ok && check.error).toBeInstanceOf(AdapterNeedsMutatedBaseError);
});
