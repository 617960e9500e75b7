import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "@peftjs/models";
import { loadLlama2cTokenizer } from "@peftjs/models/node";
import { CliUsageError } from "../cli-error.js";

/** The llama2.c tokenizer file a model folder may carry (the embedded stories260K has one). */
export const LLAMA2C_TOKENIZER_FILE = "tok512.bin";

/**
 * The tokenizer of a model folder, behind the `Tokenizer` interface of `@peftjs/models` (today the llama2.c
 * `tok512.bin`; every command that needs text goes through here).
 * @param why what the command needs it for, for the message when the folder has none
 */
export async function loadModelTokenizer(
  modelDir: string,
  vocabSize: number,
  why: string,
): Promise<Tokenizer> {
  const path = join(modelDir, LLAMA2C_TOKENIZER_FILE);
  if (!existsSync(path)) {
    throw new CliUsageError(`${modelDir} has no tokenizer (${LLAMA2C_TOKENIZER_FILE}): ${why}`);
  }
  return loadLlama2cTokenizer(path, vocabSize);
}
