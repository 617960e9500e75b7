import type { Tokenizer } from "@peftjs/models";
import { loadTokenizer } from "@peftjs/models/node";

/**
 * The tokenizer of a model folder, behind the `Tokenizer` interface of `@peftjs/models`: its `tokenizer.json`
 * (Hugging Face) or else llama2.c's `tok512.bin` / `tokenizer.bin`. Every command that turns text into ids
 * goes through here.
 * @throws TokenizerNotFoundError when the folder has none
 */
export function loadModelTokenizer(modelDir: string): Promise<Tokenizer> {
  return loadTokenizer(modelDir);
}
