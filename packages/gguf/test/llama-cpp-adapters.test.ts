/**
 * llama.cpp judges the exported LoRA files: each fixture adapter that llama.cpp can run is exported as a GGUF
 * LoRA, applied by llama.cpp at scale 1 on the exported base model, and compared with PEFT's logits of the same
 * adapter on the same base (transformers + PEFT, float32).
 *
 * Tolerance 1e-4 in log-probability, as for the base models (llama-cpp-models.test.ts): measured ≤ 4.4e-5. Two
 * exceptions, each measured against a float64 forward of the adapted model: Gemma 3 (2e-3) for llama.cpp's
 * float16 GELU table; and `combined_cat_rslora_first` (1e-3), PEFT's rsLoRA-inherited combination whose delta is
 * 3.46× the intended one: there PEFT's own float32 logits are 5.7e-4 away from the float64 forward, while
 * llama.cpp's are 9.4e-5 away from it (measured 6.6e-4 against PEFT).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withLoraConfig } from "@peftjs/adapters";
import type { LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportAdapterToGguf, GgufMetadataBuilder, type GgufTensorSource } from "../src/index.js";
import { writeGgufFile } from "../src/node.js";
import { writeAdapterFile, writeModelFile } from "./helpers/export-files.js";
import {
  type HfModel,
  hfModels,
  loadAdapter,
  type ModelFolder,
  openModelFolder,
  readReference,
  storiesVocabulary,
  syntheticVocabulary,
} from "./helpers/fixtures.js";
import { compareWithReference, llamaJudge, llamaLogProbabilities } from "./helpers/llama-judge.js";

const llama = await llamaJudge("llama-cpp-adapters.test.ts");

/** stories260K adapters: folder under peft/, the io.safetensors case, and the logits key of PEFT's run. */
const storiesCases: ReadonlyArray<readonly [adapter: string, io: string, key: string, tolerance: number]> = [
  ["lora_default/adapter_trained", "lora_default", "trained", 1e-4],
  ["lora_gaussian_rslora/adapter_trained", "lora_gaussian_rslora", "trained", 1e-4],
  ["pissa/adapter_converted", "pissa", "converted_on_original", 1e-4],
  ["pissa_patterns/adapter_converted", "pissa_patterns", "converted_on_original", 1e-4],
  ["pissa_niter_4/adapter_converted", "pissa_niter_4", "converted_on_original", 1e-4],
  ["olora/adapter_converted", "olora", "converted_on_original", 1e-4],
  ["weighted/adapter_b_trained", "weighted", "b", 1e-4],
  ...(["cat", "linear", "svd"] as const).map(
    (type) => [`weighted/combined/combined_${type}`, "weighted", `combined_${type}`, 1e-4] as const,
  ),
  ["weighted/combined/combined_cat_rslora_first", "weighted", "combined_cat_rslora_first", 1e-3],
  ["combine_more/adapter_b_trained", "combine_more", "b", 1e-4],
  ...(
    [
      "ties",
      "magnitude_prune",
      "dare_linear",
      "dare_ties",
      "ties_svd",
      "dare_linear_density1",
      "dare_ties_density1",
    ] as const
  ).map(
    (label) =>
      [`combine_more/combined/combined_${label}`, "combine_more", `combined_${label}`, 1e-4] as const,
  ),
];

describe.skipIf(llama === undefined)("llama.cpp runs the exported LoRA adapters", () => {
  let folder: string;
  let stories: ModelFolder;
  let storiesModel: LlamaModel;
  const hf = new Map<HfModel, { source: ModelFolder; model: LlamaModel }>();

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-adapters-"));
    stories = await openModelFolder("stories260k");
    await writeModelFile(join(folder, "stories.gguf"), stories, storiesVocabulary());
    storiesModel = await llama!.loadModel({ modelPath: join(folder, "stories.gguf") });
    for (const name of hfModels) {
      const source = await openModelFolder(`hf/models/${name}`);
      await writeModelFile(join(folder, `${name}.gguf`), source, syntheticVocabulary(source.config));
      hf.set(name, { source, model: await llama!.loadModel({ modelPath: join(folder, `${name}.gguf`) }) });
    }
  });
  afterAll(async () => {
    await storiesModel?.dispose();
    await stories?.checkpoint.close();
    for (const { source, model } of hf.values()) {
      await model.dispose();
      await source.checkpoint.close();
    }
    await rm(folder, { recursive: true, force: true });
    await llama?.dispose();
  });

  for (const [adapterFolder, io, key, tolerance] of storiesCases) {
    it(`stories260K + ${adapterFolder}: within ${tolerance} of PEFT, same argmax`, async () => {
      const path = join(folder, `${adapterFolder.replaceAll("/", "-")}.gguf`);
      await writeAdapterFile(path, await loadAdapter(`peft/${adapterFolder}`), stories);
      const reference = await readReference(`peft/${io}/io.safetensors`, key);
      const comparison = compareWithReference(
        await llamaLogProbabilities(storiesModel, reference.sequences, [path]),
        reference,
      );
      expect(comparison.argmaxMismatches).toBe(0);
      expect(comparison.worst).toBeLessThan(tolerance);
    });
  }

  const hfCases: ReadonlyArray<readonly [model: HfModel, adapter: string, logits: string, key: string]> = [
    ...hfModels.map(
      (name) => [name, "peft_lora/adapter_trained", "peft_lora/logits.safetensors", "trained"] as const,
    ),
    [
      "qwen3",
      "peft_pissa/adapter_converted",
      "peft_pissa/logits.safetensors",
      "converted_on_original_fp32_upcast",
    ],
  ];
  for (const [name, adapterFolder, logitsFile, key] of hfCases) {
    const tolerance = name === "gemma3" ? 2e-3 : 1e-4;
    it(`${name} + ${adapterFolder}: within ${tolerance} of PEFT${name === "mistral" ? " inside the sliding window" : ""}, same argmax`, async () => {
      const { source, model } = hf.get(name)!;
      const path = join(folder, `${name}-${adapterFolder.replaceAll("/", "-")}.gguf`);
      await writeAdapterFile(path, await loadAdapter(`hf/models/${name}/${adapterFolder}`), source);
      const reference = await readReference(`hf/models/${name}/${logitsFile}`, key);
      const positions = name === "mistral" ? (position: number) => position < 8 : undefined;
      const comparison = compareWithReference(
        await llamaLogProbabilities(model, reference.sequences, [path]),
        reference,
        {
          ...(positions === undefined ? {} : { positions }),
        },
      );
      expect(comparison.argmaxMismatches).toBe(0);
      expect(comparison.worst).toBeLessThan(tolerance);
    });
  }

  it("an rsLoRA adapter with an alpha_pattern (a non-binary fold into lora_B) gives llama.cpp the merged model", async () => {
    const trained = await loadAdapter("peft/lora_gaussian_rslora/adapter_trained");
    const adapter = {
      ...trained,
      config: withLoraConfig(trained.config, {
        alpha_pattern: { q_proj: 5.3, "layers\\.2\\.mlp\\.up_proj": 11 },
      }),
    };
    const loraPath = join(folder, "rslora-alpha-pattern.gguf");
    const { alpha, folded } = await writeAdapterFile(loraPath, adapter, stories);
    expect(alpha).toBe(16); // 8/√4 · 4
    expect(folded.size).toBe(6); // five q_proj and one up_proj
    const mergedPath = join(folder, "stories-rslora-alpha-pattern-merged.gguf");
    await writeModelFile(mergedPath, stories, storiesVocabulary(), { adapters: [{ adapter }] });
    const merged = await llama!.loadModel({ modelPath: mergedPath });
    const { sequences } = await readReference("peft/lora_gaussian_rslora/io.safetensors", "trained");
    const viaLora = await llamaLogProbabilities(storiesModel, sequences, [loraPath]);
    const viaMerge = await llamaLogProbabilities(merged, sequences);
    await merged.dispose();
    let worst = 0;
    for (const [sequence, rows] of viaLora.entries()) {
      for (const [position, row] of rows.entries()) {
        const other = viaMerge[sequence]![position]!;
        for (const [token, value] of row.entries()) worst = Math.max(worst, Math.abs(value - other[token]!));
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it("fails without what the export does: llama.cpp's converter's alpha for rsLoRA, or lora_B rows left in place", async () => {
    const adapter = await loadAdapter("peft/lora_gaussian_rslora/adapter_trained");
    const reference = await readReference("peft/lora_gaussian_rslora/io.safetensors", "trained");
    const exported = exportAdapterToGguf(adapter, { config: stories.config });
    // convert_lora_to_gguf.py writes lora_alpha (8) and ignores use_rslora: scale 8/4 = 2 instead of 8/√4 = 4.
    const converterAlpha = new GgufMetadataBuilder()
      .merge(exported.contents.metadata)
      .float32("adapter.lora.alpha", 8)
      .build();
    const converterPath = join(folder, "rslora-converter-alpha.gguf");
    await writeGgufFile(converterPath, { metadata: converterAlpha, tensors: exported.contents.tensors });
    const converter = compareWithReference(
      await llamaLogProbabilities(storiesModel, reference.sequences, [converterPath]),
      reference,
    );
    expect(converter.worst).toBeGreaterThan(1);
    // lora_B of q/k in Hugging Face row order, i.e. without the permutation applied to the base weights.
    const unpermuted: GgufTensorSource[] = exported.contents.tensors.map((tensor) => {
      const match = /^blk\.(\d+)\.attn_(q|k)\.weight\.lora_b$/.exec(tensor.name);
      if (match === null) return tensor;
      const module = adapter.modules.get(`model.layers.${match[1]}.self_attn.${match[2]}_proj`)!;
      const b = module.loraB.data;
      return { ...tensor, data: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) };
    });
    const unpermutedPath = join(folder, "rslora-unpermuted.gguf");
    await writeGgufFile(unpermutedPath, { metadata: exported.contents.metadata, tensors: unpermuted });
    const rows = compareWithReference(
      await llamaLogProbabilities(storiesModel, reference.sequences, [unpermutedPath]),
      reference,
    );
    expect(rows.worst).toBeGreaterThan(1);
  });
});
