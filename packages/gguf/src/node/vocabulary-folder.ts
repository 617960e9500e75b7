import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { readJsonFile } from "@peftjs/io/node";
import { GgufTokenizerError } from "../errors.js";
import { huggingFaceVocabulary } from "../tokenizer/hugging-face-vocabulary.js";
import { llama2cVocabulary } from "../tokenizer/llama2c-vocabulary.js";
import type { GgufVocabulary } from "../tokenizer/vocabulary.js";

/** The vocabulary found in a folder and the file it came from. */
export interface VocabularyFiles {
  /** The vocabulary. */
  readonly vocabulary: GgufVocabulary;
  /** The tokenizer file read (`tokenizer.json`, `tok512.bin`, …). */
  readonly file: string;
}

const llama2cFile = /^(tokenizer|tok\d+)\.bin$/;

/**
 * Finds a model folder's tokenizer: `tokenizer.json` (with `tokenizer_config.json` when present), else a llama2.c
 * `tokenizer.bin` / `tok<N>.bin`.
 * @param modelConfig the model's `config.json` (special token ids, vocab_size)
 * @throws GgufTokenizerError when the folder has none of them
 */
export async function readVocabularyFromFolder(
  folder: string,
  modelConfig: Record<string, unknown>,
): Promise<VocabularyFiles> {
  const files = await readdir(folder);
  if (files.includes("tokenizer.json")) {
    const tokenizer = await readJsonFile(join(folder, "tokenizer.json"));
    const tokenizerConfig = files.includes("tokenizer_config.json")
      ? await readJsonFile(join(folder, "tokenizer_config.json"))
      : {};
    return {
      vocabulary: huggingFaceVocabulary(tokenizer, tokenizerConfig, modelConfig),
      file: "tokenizer.json",
    };
  }
  const binaries = files.filter((file) => llama2cFile.test(file)).sort();
  if (binaries.length > 0) {
    const file = binaries[0]!;
    const vocabSize = typeof modelConfig.vocab_size === "number" ? modelConfig.vocab_size : undefined;
    return { vocabulary: llama2cVocabulary(await readFile(join(folder, file)), vocabSize), file };
  }
  throw new GgufTokenizerError(
    `${folder} has no tokenizer.json and no llama2.c tokenizer (tokenizer.bin, tok<N>.bin); llama.cpp needs the vocabulary in the GGUF file${files.includes("tokenizer.model") ? " (a SentencePiece tokenizer.model alone is not read: save the tokenizer with transformers to get tokenizer.json)" : ""}`,
  );
}
