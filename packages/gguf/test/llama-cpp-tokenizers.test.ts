/**
 * llama.cpp judges the tokenizer metadata: it loads each exported vocabulary and tokenizes the fixtures' texts.
 *
 * - stories260K's llama2.c vocabulary as a `llama` (SentencePiece) tokenizer gives run.c's ids (peftjs'
 *   Llama2cTokenizer, which follows run.c exactly) on every text.
 * - Qwen3 (byte-level BPE, `gpt2` + pre-tokenizer `qwen2`) and sp_bpe (SentencePiece-style BPE as `llama`, scores
 *   from the merge ranks) give transformers' ids on every case of `cases.json` except a fixed list, each for a
 *   reason in llama.cpp itself (checked, not assumed): llama.cpp applies no normalizer (NFC for Qwen3, NFKC for
 *   sp_bpe: tokenizing the normalized text gives transformers' ids), SentencePiece's dummy prefix is added at the
 *   start and after every special token, also before a leading space (transformers' Metaspace "first" adds it
 *   only at the very start, never twice), and llama.cpp hard-codes "</s>" as an end-of-generation control token
 *   although Qwen's vocabulary has it as ordinary text.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Llama2cTokenizer } from "@peftjs/models";
import type { LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GgufMetadataBuilder,
  type GgufVocabulary,
  ggufArchitectureFor,
  readDecoderConfig,
  vocabularyMetadata,
} from "../src/index.js";
import { writeGgufFile } from "../src/node.js";
import {
  fixtures,
  storiesVocabulary,
  tokenizerCases,
  tokenizerFixtureVocabulary,
} from "./helpers/fixtures.js";
import { llamaJudge } from "./helpers/llama-judge.js";

// node-llama-cpp first tries a full load of a vocabulary-only file (to size it), which llama.cpp reports.
const llama = await llamaJudge("llama-cpp-tokenizers.test.ts", [
  /missing tensor 'token_embd.weight'/,
  /failed to load model/,
]);

/** A vocabulary-only GGUF (hyper-parameters of a fixture model of the architecture, no tensors), as llama.cpp's models/ggml-vocab-*.gguf. */
async function writeVocabularyFile(
  path: string,
  vocabulary: GgufVocabulary,
  modelFixture: string,
): Promise<void> {
  const config = readDecoderConfig(
    JSON.parse(await readFile(`${fixtures}${modelFixture}/config.json`, "utf8")),
  );
  const architecture = ggufArchitectureFor(config.modelType);
  const metadata = new GgufMetadataBuilder()
    .string("general.architecture", architecture.ggufArchitecture)
    .string("general.type", "model")
    .merge(architecture.describe(config).metadata.build())
    .merge(vocabularyMetadata(vocabulary, vocabulary.tokens.length))
    .build();
  await writeGgufFile(path, { metadata, tensors: [] });
}

const storiesTexts = [
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
  "  Two leading spaces,\tthen a tab and a newline\nand more.",
  "Unicode outside the 512 pieces: café, 你好, 🦙 (byte fallback)",
  "",
  " ",
];

describe.skipIf(llama === undefined)("llama.cpp tokenizes with the exported vocabularies", () => {
  let folder: string;
  const vocabularies = new Map<string, { vocabulary: GgufVocabulary; model: LlamaModel }>();
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-tokenizers-"));
    for (const [name, vocabulary, modelFixture] of [
      ["stories260k", storiesVocabulary(), "stories260k"],
      ["qwen3", tokenizerFixtureVocabulary("qwen3"), "hf/models/qwen3"],
      ["sp_bpe", tokenizerFixtureVocabulary("sp_bpe"), "hf/models/llama_rope3"],
    ] as const) {
      const path = join(folder, `${name}-vocab.gguf`);
      await writeVocabularyFile(path, vocabulary, modelFixture);
      vocabularies.set(name, {
        vocabulary,
        model: await llama!.loadModel({ modelPath: path, vocabOnly: true }),
      });
    }
  });
  afterAll(async () => {
    for (const { model } of vocabularies.values()) await model.dispose();
    await rm(folder, { recursive: true, force: true });
    await llama?.dispose();
  });

  it("stories260K's llama2.c vocabulary: run.c's ids for every text", async () => {
    const { model } = vocabularies.get("stories260k")!;
    const reference = Llama2cTokenizer.fromBytes(await readFile(`${fixtures}stories260k/tok512.bin`), 512);
    for (const text of storiesTexts) {
      const ids = Array.from(model.tokenize(text, false));
      expect(ids).toEqual(reference.encode(text, { addSpecialTokens: false }));
    }
    expect(model.tokens.bos).toBe(1);
    expect(model.tokens.eos).toBe(2);
    // llama.cpp drops the dummy-prefix space when detokenizing, as SentencePiece does
    const ids = reference.encode(storiesTexts[0]!, { addSpecialTokens: false }) as Token[];
    expect(model.detokenize(ids)).toBe(storiesTexts[0]);
  });

  const expectations = {
    qwen3: {
      normalization: "NFC",
      exceptions: {
        korean_nfd: "normalizer",
        accents_nfd: "normalizer",
        combining_marks: "normalizer",
        special_s: "</s> is control",
        special_glued: "</s> is control",
        long_5000: "both",
      },
    },
    sp_bpe: {
      normalization: "NFKC",
      exceptions: {
        smart_quotes_dashes: "normalizer",
        chinese: "normalizer",
        korean_nfd: "normalizer",
        accents_nfd: "normalizer",
        combining_marks: "normalizer",
        nfkc_compat: "normalizer",
        special_spaces: "normalizer",
        math_symbols: "normalizer",
        single_space: "dummy prefix",
        leading_space: "dummy prefix",
        leading_spaces: "dummy prefix",
        only_spaces: "dummy prefix",
        mixed_whitespace: "dummy prefix",
        angle_tags: "dummy prefix",
        special_s: "dummy prefix",
        special_glued: "dummy prefix",
        long_5000: "both",
      },
    },
  } as const;

  for (const [name, { normalization, exceptions }] of Object.entries(expectations) as [
    "qwen3" | "sp_bpe",
    (typeof expectations)[keyof typeof expectations],
  ][]) {
    it(`${name}: transformers' ids on every case but the ${Object.keys(exceptions).length} llama.cpp tokenizes differently, each for its reason`, async () => {
      const { vocabulary, model } = vocabularies.get(name)!;
      const cases = tokenizerCases(name);
      expect(cases).toHaveLength(82);
      const differing: Record<string, string> = {};
      for (const testCase of cases) {
        const ids = Array.from(model.tokenize(testCase.text, true));
        const withBos = vocabulary.addBos ? [vocabulary.specialTokens.bos!, ...ids] : ids;
        if (JSON.stringify(ids) === JSON.stringify(testCase.ids)) {
          expect(withBos).toEqual(testCase.ids_special);
          continue;
        }
        const normalized = Array.from(model.tokenize(testCase.text.normalize(normalization), true));
        differing[testCase.name] =
          JSON.stringify(normalized) === JSON.stringify(testCase.ids) ? "normalizer" : "other";
      }
      // The normalizer cases are proven (the normalized text gives transformers' ids); the others must be exactly
      // the listed ones.
      expect(Object.keys(differing).sort()).toEqual(Object.keys(exceptions).sort());
      for (const [caseName, reason] of Object.entries(exceptions)) {
        expect(differing[caseName]).toBe(reason === "normalizer" ? "normalizer" : "other");
      }
      expect(vocabulary.warnings.join(" ")).toContain(`normalizer (${normalization})`);
    });
  }

  it("Qwen3's special tokens, chat template and flags reach llama.cpp", () => {
    const { vocabulary, model } = vocabularies.get("qwen3")!;
    expect(vocabulary.model).toBe("gpt2");
    expect(vocabulary.pre).toBe("qwen2");
    expect(vocabulary.addBos).toBe(false);
    expect(vocabulary.specialTokens).toEqual({ eos: 151645, pad: 151643 });
    expect(vocabulary.chatTemplate).toContain("<|im_start|>");
    expect(vocabulary.tokens[151644]).toBe("<|im_start|>");
    expect(model.tokens.eos).toBe(151645);
    expect(model.tokenize("<|im_start|>user", true)[0]).toBe(151644);
    expect(model.tokenize("<|im_start|>user", false)[0]).not.toBe(151644);
  });
});
