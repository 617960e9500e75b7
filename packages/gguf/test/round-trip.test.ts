/**
 * PEFT → GGUF → PEFT and GGUF → PEFT → GGUF. Files written by peftjs carry the PEFT config and record, so import
 * gives the original adapter back bit for bit (config, metadata, both factors) whenever the fold is exact (no
 * fold, or a power of two: every fixture adapter). GGUF LoRA files from other tools (simulated by dropping the
 * `peftjs.*` keys) import with a derived plain config whose s·B·A equals llama.cpp's, and exporting that again
 * reproduces the file's tensors bit for bit.
 */
import {
  adapterDeltas,
  adapterScaling,
  type LoraAdapter,
  loraConfigToJson,
  withLoraConfig,
} from "@peftjs/adapters";
import { bytesSource } from "@peftjs/io";
import { describe, expect, it } from "vitest";
import {
  exportAdapterToGguf,
  GgufAdapterMismatchError,
  GgufFormatError,
  type GgufMetadataEntry,
  ggufToBytes,
  importAdapterFromGguf,
  readGguf,
} from "../src/index.js";
import { type HfModel, hfModels, loadAdapter, openModelFolder } from "./helpers/fixtures.js";

const storiesAdapters = [
  "lora_default/adapter_trained",
  "lora_gaussian_rslora/adapter_trained",
  "pissa/adapter_converted",
  "pissa_patterns/adapter_converted",
  "pissa_niter_4/adapter_converted",
  "olora/adapter_converted",
  "weighted/adapter_b_trained",
  "weighted/combined/combined_cat",
  "weighted/combined/combined_cat_rslora_first",
  "weighted/combined/combined_linear",
  "weighted/combined/combined_svd",
  "combine_more/adapter_b_trained",
  "combine_more/combined/combined_ties",
  "combine_more/combined/combined_dare_ties",
  "combine_more/combined/combined_ties_svd",
].map((folder) => ({ adapter: `peft/${folder}`, model: "stories260k" }));
const hfAdapters = [
  ...hfModels.map((name: HfModel) => ({
    adapter: `hf/models/${name}/peft_lora/adapter_trained`,
    model: `hf/models/${name}`,
  })),
  { adapter: "hf/models/qwen3/peft_pissa/adapter_converted", model: "hf/models/qwen3" },
];

async function configOf(model: string): Promise<Record<string, unknown>> {
  const folder = await openModelFolder(model);
  await folder.checkpoint.close();
  return folder.config;
}

async function exportToBytes(adapter: LoraAdapter, config: Record<string, unknown>): Promise<Uint8Array> {
  return ggufToBytes(exportAdapterToGguf(adapter, { config }).contents);
}

async function importBytes(bytes: Uint8Array, config: Record<string, unknown>) {
  return importAdapterFromGguf(await readGguf(bytesSource(bytes, "adapter.gguf")), { config });
}

function expectSameAdapter(actual: LoraAdapter, expected: LoraAdapter): void {
  expect(loraConfigToJson(actual.config)).toEqual(loraConfigToJson(expected.config));
  expect(actual.metadata).toEqual(expected.metadata);
  expect([...actual.modules.keys()]).toEqual([...expected.modules.keys()]);
  for (const [name, factors] of expected.modules) {
    const mine = actual.modules.get(name)!;
    expect(mine.loraA.rows).toBe(factors.loraA.rows);
    expect(Buffer.from(mine.loraA.data.buffer).equals(Buffer.from(factors.loraA.data.buffer))).toBe(true);
    expect(
      Buffer.from(mine.loraB.data.slice().buffer).equals(Buffer.from(factors.loraB.data.slice().buffer)),
    ).toBe(true);
  }
}

/** The same file without the `peftjs.*` keys, as another tool (llama.cpp's converter) would write it. */
async function withoutPeftjsMetadata(bytes: Uint8Array): Promise<Uint8Array> {
  const file = await readGguf(bytesSource(bytes));
  const metadata = new Map<string, GgufMetadataEntry>(
    [...file.metadata].filter(([key]) => !key.startsWith("peftjs.")),
  );
  const tensors = await Promise.all(
    file.tensors.map(async (info) => {
      const raw = await file.readTensor(info.name);
      return { name: info.name, type: info.type!, shape: info.shape, data: raw.data };
    }),
  );
  return ggufToBytes({ metadata, tensors });
}

/** max over modules of max |Δ_actual − Δ_expected| / max |Δ_expected| (deltas s·B·A computed in float64). */
function relativeDeltaError(actual: LoraAdapter, expected: LoraAdapter): number {
  const mine = adapterDeltas(actual);
  let worst = 0;
  for (const [name, delta] of adapterDeltas(expected)) {
    const other = mine.get(name)!.data;
    let scale = 0;
    let error = 0;
    delta.data.forEach((value, index) => {
      scale = Math.max(scale, Math.abs(value));
      error = Math.max(error, Math.abs(value - (other[index] as number)));
    });
    worst = Math.max(worst, error / scale);
  }
  return worst;
}

describe("PEFT → GGUF → PEFT restores the adapter exactly", () => {
  for (const { adapter: folder, model } of [...storiesAdapters, ...hfAdapters]) {
    it(`${folder}: config, record and factors bit for bit; export again gives the same bytes`, async () => {
      const config = await configOf(model);
      const original = await loadAdapter(folder);
      const bytes = await exportToBytes(original, config);
      const imported = await importBytes(bytes, config);
      expect(imported.restoredConfig).toBe(true);
      expectSameAdapter(imported.adapter, original);
      expect(Buffer.from(await exportToBytes(imported.adapter, config)).equals(Buffer.from(bytes))).toBe(
        true,
      );
    });
  }

  it("a non-binary fold (rsLoRA with alpha_pattern) unfolds to factors that fold back to the file's bits", async () => {
    const config = await configOf("stories260k");
    const trained = await loadAdapter("peft/lora_gaussian_rslora/adapter_trained");
    const original = {
      ...trained,
      config: withLoraConfig(trained.config, {
        alpha_pattern: { q_proj: 5.3, "layers\\.2\\.mlp\\.up_proj": 11 },
      }),
    };
    const exported = exportAdapterToGguf(original, { config });
    expect([...exported.folded.values()].some((fold) => Math.log2(fold) % 1 !== 0)).toBe(true);
    const bytes = await ggufToBytes(exported.contents);
    const imported = await importBytes(bytes, config);
    expect(imported.restoredConfig).toBe(true);
    expect(loraConfigToJson(imported.adapter.config)).toEqual(loraConfigToJson(original.config));
    // A compressing fold (< 1) maps several float32 B to one value: the B unfolded is one of them, so s·B·A is the
    // original's up to one float32 rounding of each B element (2⁻²⁴ relative), summed over the rank (measured 1.4e-7
    // of the largest |Δ|).
    expect(relativeDeltaError(imported.adapter, original)).toBeLessThan(5e-7);
    const again = await exportToBytes(imported.adapter, config);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    const reimported = await importBytes(again, config);
    expectSameAdapter(reimported.adapter, imported.adapter);
  });
});

describe("GGUF LoRA files from other tools", () => {
  for (const { adapter: folder, model } of [
    { adapter: "peft/lora_gaussian_rslora/adapter_trained", model: "stories260k" },
    { adapter: "peft/pissa_patterns/adapter_converted", model: "stories260k" },
    { adapter: "hf/models/qwen2/peft_lora/adapter_trained", model: "hf/models/qwen2" },
  ]) {
    it(`${folder} without peftjs metadata: a derived config with the same s·B·A; import → export → import is exact`, async () => {
      const config = await configOf(model);
      const original = await loadAdapter(folder);
      const foreign = await withoutPeftjsMetadata(await exportToBytes(original, config));
      const imported = await importBytes(foreign, config);
      expect(imported.restoredConfig).toBe(false);
      expect(imported.adapter.config.use_rslora).toBe(false);
      expect(relativeDeltaError(imported.adapter, original)).toBeLessThan(1e-7);
      const again = await exportToBytes(imported.adapter, config);
      const first = await readGguf(bytesSource(foreign));
      const second = await readGguf(bytesSource(again));
      expect(second.metadata.get("adapter.lora.alpha")).toEqual(first.metadata.get("adapter.lora.alpha"));
      expect(second.tensors.map((tensor) => tensor.name)).toEqual(first.tensors.map((tensor) => tensor.name));
      for (const tensor of first.tensors) {
        const a = await first.readTensor(tensor.name);
        const b = await second.readTensor(tensor.name);
        expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
      }
      expectSameAdapter((await importBytes(again, config)).adapter, imported.adapter);
    });
  }

  it("a pattern-free rank mix gets rank_pattern entries; alpha 0 (llama.cpp: scale 1) becomes alpha = r", async () => {
    const config = await configOf("stories260k");
    const original = await loadAdapter("peft/pissa_patterns/adapter_converted");
    const bytes = await withoutPeftjsMetadata(await exportToBytes(original, config));
    const file = await readGguf(bytesSource(bytes));
    const zeroAlpha = new Map(file.metadata);
    zeroAlpha.set("adapter.lora.alpha", { ...file.metadata.get("adapter.lora.alpha")!, value: 0 });
    const tensors = await Promise.all(
      file.tensors.map(async (info) => ({
        name: info.name,
        type: info.type!,
        shape: info.shape,
        data: (await file.readTensor(info.name)).data,
      })),
    );
    const imported = await importBytes(await ggufToBytes({ metadata: zeroAlpha, tensors }), config);
    const { r, lora_alpha, rank_pattern, alpha_pattern } = imported.adapter.config;
    expect({ r, lora_alpha }).toEqual({ r: 8, lora_alpha: 8 });
    expect(Object.values(rank_pattern)).toEqual([16, 16, 16, 16, 16]);
    expect(alpha_pattern).toEqual(Object.fromEntries(Object.keys(rank_pattern).map((key) => [key, 16])));
    // every module at scale 1, as llama.cpp applies a file with alpha 0
    for (const name of imported.adapter.modules.keys())
      expect(adapterScaling(imported.adapter, name)).toBe(1);
  });

  it("refuses a LoRA of another architecture and a file that is not a LoRA", async () => {
    const qwen2 = await configOf("hf/models/qwen2");
    const stories = await configOf("stories260k");
    const bytes = await exportToBytes(await loadAdapter("hf/models/qwen2/peft_lora/adapter_trained"), qwen2);
    await expect(importBytes(bytes, stories)).rejects.toThrow(GgufAdapterMismatchError);
    await expect(importBytes(bytes, stories)).rejects.toThrow(/"qwen2".*llama/);
    const notLora = await ggufToBytes({
      metadata: new Map([["general.type", { type: 8, value: "model" }]]),
      tensors: [],
    });
    await expect(importBytes(notLora, stories)).rejects.toThrow(GgufFormatError);
  });
});
