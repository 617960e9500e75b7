/**
 * llama.cpp judges the exported models: every architecture's GGUF file runs in llama.cpp (node-llama-cpp 3.21.1)
 * and its log-probabilities are compared with transformers' logits from the fixtures.
 *
 * Tolerances. 1e-4 in log-probability: the fixtures' independent float64 forward matches transformers' float32
 * logits to 2.3e-6 (test/fixtures/README.md), llama.cpp computes in float32 too (F32 weights and KV cache, no
 * flash attention), and what was measured here is 1.5e-5 (stories260K) and ≤ 3.4e-6 (hf models); a missing q/k
 * permutation costs 17.6 and wrong RoPE scaling ~1. Gemma 3 is the one exception, 2e-3: llama.cpp's CPU GELU
 * reads a float16 table (GGML_GELU_FP16 in ggml-cpu/vec.h: the input is rounded to float16, relative error up to
 * 4.9e-4). A float64 Gemma 3 forward with that float16 GELU moves transformers' log-probabilities by 1.48e-3, and
 * llama.cpp's output is within 6e-6 (mean) of that float16-GELU forward, so the export is right and the gap is
 * llama.cpp's arithmetic (measured 1.45e-3). Storage in F16 / BF16 rounds every weight (relative 4.9e-4 / 3.9e-3)
 * and llama.cpp then multiplies in that type (measured 1.6e-2 / 1.1e-1): those runs are held to 0.05 / 0.3, and to the
 * argmax wherever the reference's top-2 gap exceeds twice that bound (llama_rope3 has gaps of 2.2e-3).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeModelFile } from "./helpers/export-files.js";
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

const llama = await llamaJudge("llama-cpp-models.test.ts");

describe.skipIf(llama === undefined)("llama.cpp runs the exported models", () => {
  let folder: string;
  const opened: ModelFolder[] = [];
  const open = async (relative: string) => {
    const model = await openModelFolder(relative);
    opened.push(model);
    return model;
  };
  const load = async (path: string): Promise<LlamaModel> => llama!.loadModel({ modelPath: path });

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-models-"));
  });
  afterAll(async () => {
    for (const model of opened) await model.checkpoint.close();
    await rm(folder, { recursive: true, force: true });
    await llama?.dispose();
  });

  it("stories260K (llama, tied embeddings, llama2.c vocabulary) within 1e-4 of transformers, same argmax", async () => {
    const stories = await open("stories260k");
    const path = join(folder, "stories.gguf");
    expect(await writeModelFile(path, stories, storiesVocabulary())).toEqual([]);
    const reference = await readReference("stories260k/reference_logits.safetensors", "logits");
    const model = await load(path);
    const comparison = compareWithReference(
      await llamaLogProbabilities(model, reference.sequences),
      reference,
    );
    await model.dispose();
    expect(comparison.positions).toBe(16);
    expect(comparison.argmaxMismatches).toBe(0);
    expect(comparison.worst).toBeLessThan(1e-4);
  });

  const tolerance: Record<HfModel, number> = {
    llama_rope3: 1e-4,
    qwen2: 1e-4,
    qwen3: 1e-4,
    mistral: 1e-4,
    gemma3: 2e-3,
  };

  for (const name of hfModels) {
    it(`${name}: within ${tolerance[name]} of transformers on ${name === "mistral" ? "the 8-token sliding window" : "all 2 × 24 positions"}, same argmax`, async () => {
      const source = await open(`hf/models/${name}`);
      const path = join(folder, `${name}.gguf`);
      const warnings = await writeModelFile(path, source, syntheticVocabulary(source.config));
      const reference = await readReference(`hf/models/${name}/reference.safetensors`, "logits");
      const model = await load(path);
      const actual = await llamaLogProbabilities(model, reference.sequences);
      await model.dispose();
      if (name === "mistral") {
        // llama.cpp runs Mistral as llama, without a sliding window: exact inside the window (8), not beyond.
        expect(warnings.join(" ")).toMatch(/sliding_window 8 is dropped/);
        const inside = compareWithReference(actual, reference, { positions: (position) => position < 8 });
        expect(inside.positions).toBe(16);
        expect(inside.argmaxMismatches).toBe(0);
        expect(inside.worst).toBeLessThan(tolerance.mistral);
        const beyond = compareWithReference(actual, reference, { positions: (position) => position >= 8 });
        expect(beyond.worst).toBeGreaterThan(0.5);
        return;
      }
      expect(warnings).toEqual([]);
      const comparison = compareWithReference(actual, reference);
      expect(comparison.positions).toBe(48);
      expect(comparison.argmaxMismatches).toBe(0);
      expect(comparison.worst).toBeLessThan(tolerance[name]);
    });
  }

  for (const [dtype, limit] of [
    ["F16", 0.05],
    ["BF16", 0.3],
  ] as const) {
    it(`stories260K and llama_rope3 stored as ${dtype} within ${limit}, the same clear argmax`, async () => {
      for (const [relative, referencePath, vocabulary] of [
        ["stories260k", "stories260k/reference_logits.safetensors", storiesVocabulary()],
        ["hf/models/llama_rope3", "hf/models/llama_rope3/reference.safetensors", undefined],
      ] as const) {
        const source = await open(relative);
        const path = join(folder, `${relative.replaceAll("/", "-")}-${dtype}.gguf`);
        await writeModelFile(path, source, vocabulary ?? syntheticVocabulary(source.config), { dtype });
        const reference = await readReference(referencePath, "logits");
        const model = await load(path);
        const logProbabilities = await llamaLogProbabilities(model, reference.sequences);
        await model.dispose();
        const comparison = compareWithReference(logProbabilities, reference, { argmaxGap: 2 * limit });
        expect(comparison.argmaxMismatches).toBe(0);
        expect(comparison.worst).toBeLessThan(limit);
        expect(comparison.worst).toBeGreaterThan(1e-5); // the weights really were rounded
      }
    });
  }

  it("a model exported with an adapter merged (W + s·B·A in float64) matches PEFT's adapted model", async () => {
    const stories = await open("stories260k");
    const path = join(folder, "stories-merged.gguf");
    await writeModelFile(path, stories, storiesVocabulary(), {
      adapters: [{ adapter: await loadAdapter("peft/lora_gaussian_rslora/adapter_trained") }],
    });
    const reference = await readReference("peft/lora_gaussian_rslora/io.safetensors", "trained");
    const model = await load(path);
    const comparison = compareWithReference(
      await llamaLogProbabilities(model, reference.sequences),
      reference,
    );
    await model.dispose();
    expect(comparison.argmaxMismatches).toBe(0);
    expect(comparison.worst).toBeLessThan(1e-4);
  });

  it("two adapters merged with weights 0.6 and 0.4 match PEFT's exact weighted sum", async () => {
    const stories = await open("stories260k");
    const path = join(folder, "stories-weighted.gguf");
    await writeModelFile(path, stories, storiesVocabulary(), {
      adapters: [
        { adapter: await loadAdapter("peft/lora_default/adapter_trained"), weight: 0.6 },
        { adapter: await loadAdapter("peft/weighted/adapter_b_trained"), weight: 0.4 },
      ],
    });
    const reference = await readReference("peft/weighted/io.safetensors", "exact_weighted_sum_merged");
    const model = await load(path);
    const comparison = compareWithReference(
      await llamaLogProbabilities(model, reference.sequences),
      reference,
    );
    await model.dispose();
    expect(comparison.argmaxMismatches).toBe(0);
    expect(comparison.worst).toBeLessThan(1e-4);
  });
});
