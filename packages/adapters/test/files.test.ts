import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deserialize } from "@peftjs/io";
import { readJsonFile, readSafetensorsFile } from "@peftjs/io/node";
import { afterAll, describe, expect, it } from "vitest";
import {
  AdapterFileError,
  AdapterNonFiniteError,
  decodePeftAdapter,
  encodePeftAdapter,
  loraConfigToJson,
  peftKey,
} from "../src/index.js";
import { loadPeftAdapter, savePeftAdapter } from "../src/node.js";
import { fixturePath } from "./helpers.js";

const adapterFolders = [
  "lora_default/adapter_init",
  "lora_default/adapter_trained",
  "lora_gaussian_rslora/adapter_init",
  "lora_gaussian_rslora/adapter_trained",
  ...["pissa", "pissa_patterns", "pissa_niter_4", "pissa_bf16", "olora"].flatMap((name) => [
    `${name}/adapter_init`,
    `${name}/adapter_trained`,
    `${name}/adapter_converted`,
  ]),
  "weighted/adapter_b_trained",
  "weighted/combined/combined_cat",
  "weighted/combined/combined_linear",
  "weighted/combined/combined_svd",
  "weighted/combined/combined_cat_rslora_first",
];

/** target_modules is a Python set in PEFT: its order in the file is arbitrary. */
function normalise(json: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...json };
  if (Array.isArray(copy.target_modules)) copy.target_modules = [...copy.target_modules].sort();
  return copy;
}

const scratch = await mkdtemp(join(tmpdir(), "peftjs-adapters-"));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe("PEFT adapter folders", () => {
  it.each(adapterFolders)(
    "%s loads and re-saves with PEFT's key set, values and config fields",
    async (folder) => {
      const directory = fixturePath(`peft/${folder}`);
      const adapter = await loadPeftAdapter(directory);
      const original = await readSafetensorsFile(join(directory, "adapter_model.safetensors"));
      const originalConfig = await readJsonFile<Record<string, unknown>>(
        join(directory, "adapter_config.json"),
      );

      const target = join(scratch, folder.replaceAll("/", "_"));
      await savePeftAdapter(target, adapter);
      const saved = await readSafetensorsFile(join(target, "adapter_model.safetensors"));
      const savedConfig = JSON.parse(await readFile(join(target, "adapter_config.json"), "utf8"));

      expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
      for (const [key, raw] of original.tensors) {
        const copy = saved.tensors.get(key);
        expect(copy?.dtype).toBe(raw.dtype);
        expect(copy?.shape).toEqual(raw.shape);
        expect(Buffer.from(copy?.data ?? []).equals(Buffer.from(raw.data))).toBe(true);
      }
      expect(saved.metadata).toEqual({ format: "pt" });
      expect(Object.keys(savedConfig).sort()).toEqual(Object.keys(originalConfig).sort());
      expect(normalise(savedConfig)).toEqual(normalise(originalConfig));

      const reloaded = await loadPeftAdapter(target);
      expect(loraConfigToJson(reloaded.config)).toEqual(loraConfigToJson(adapter.config));
      expect([...reloaded.modules.keys()]).toEqual([...adapter.modules.keys()]);
    },
  );

  it("keeps peftjs.* metadata and writes format pt", async () => {
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    const encoded = encodePeftAdapter({ ...adapter, metadata: { "peftjs.kind": "lora" } });
    const { metadata } = deserialize(encoded.weights);
    expect(metadata).toEqual({ format: "pt", "peftjs.kind": "lora" });
    const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
    expect(decoded.metadata).toEqual({ "peftjs.kind": "lora" });
    expect(decoded.modules.get("model.layers.0.self_attn.q_proj")?.loraA.data).toEqual(
      adapter.modules.get("model.layers.0.self_attn.q_proj")?.loraA.data,
    );
  });

  it("writes BF16 factors when asked", async () => {
    const adapter = await loadPeftAdapter(fixturePath("peft/pissa_bf16/adapter_init"));
    const encoded = encodePeftAdapter(adapter, { dtype: "BF16" });
    const decoded = decodePeftAdapter(JSON.parse(encoded.configText), encoded.weights);
    // PEFT's bf16 init factors are exactly bf16-representable, so the bf16 copy is lossless
    for (const [name, factors] of adapter.modules) {
      expect(decoded.modules.get(name)?.loraA.data).toEqual(factors.loraA.data);
      expect(decoded.modules.get(name)?.loraB.data).toEqual(factors.loraB.data);
    }
  });

  it("refuses files that are not plain LoRA", async () => {
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    const encoded = encodePeftAdapter(adapter);
    const { tensors } = deserialize(encoded.weights);
    const config = JSON.parse(encoded.configText);
    const { serialize } = await import("@peftjs/io");
    const withLoha = new Map(tensors);
    withLoha.set("base_model.model.model.layers.0.self_attn.q_proj.hada_w1_a", {
      dtype: "F32",
      shape: [1, 64],
      data: new Uint8Array(256),
    });
    expect(() => decodePeftAdapter(config, serialize(withLoha))).toThrow(AdapterFileError);
    // a DoRA magnitude in a file whose config does not set use_dora
    const withMagnitude = new Map(tensors);
    withMagnitude.set("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", {
      dtype: "F32",
      shape: [64],
      data: new Uint8Array(256),
    });
    expect(() => decodePeftAdapter(config, serialize(withMagnitude))).toThrow(/use_dora/);
    const missingB = new Map(tensors);
    missingB.delete(peftKey("model.layers.0.self_attn.q_proj", "lora_B"));
    expect(() => decodePeftAdapter(config, serialize(missingB))).toThrow(/has lora_A but no lora_B/);
    expect(() => decodePeftAdapter({ ...config, r: 4 }, encoded.weights)).toThrow(/rank 4/);
  });

  it.each([
    ["NaN", Number.NaN, "F32"],
    ["Infinity", Number.POSITIVE_INFINITY, "F32"],
    ["-Infinity", Number.NEGATIVE_INFINITY, "BF16"],
  ] as const)("refuses a factor holding %s, naming the tensor (%s storage)", async (_label, value, dtype) => {
    const adapter = await loadPeftAdapter(fixturePath("peft/lora_default/adapter_trained"));
    const encoded = encodePeftAdapter(adapter, { dtype });
    const { tensors } = deserialize(encoded.weights);
    const key = peftKey("model.layers.1.self_attn.v_proj", "lora_B");
    const { fromFloat32, serialize, toFloat32 } = await import("@peftjs/io");
    const original = tensors.get(key)!;
    const values = toFloat32(original);
    values[5] = value;
    const poisoned = new Map(tensors);
    poisoned.set(key, { ...original, data: fromFloat32(values, dtype) });
    const config = JSON.parse(encoded.configText);
    let caught: unknown;
    try {
      decodePeftAdapter(config, serialize(poisoned));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AdapterNonFiniteError);
    expect((caught as AdapterNonFiniteError).tensor).toBe(key);
    expect((caught as Error).message).toContain(`"${key}" holds ${value} at index 5`);
  });
});
