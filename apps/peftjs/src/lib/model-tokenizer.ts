import { loadTokenizerFromSource, TokenIdError, type Tokenizer } from "@peftjs/models";
import { openModelLocation } from "./model-location.js";

/**
 * The tokenizer of a model folder or Hub id, behind the `Tokenizer` interface of `@peftjs/models`: its
 * `tokenizer.json` (Hugging Face, with tokenizer_config.json, the chat template and generation_config.json's
 * EOS ids) or else llama2.c's `tok512.bin` / `tokenizer.bin`. Every command that turns text into ids goes
 * through here.
 * @throws TokenizerNotFoundError when the location has none
 */
export async function loadModelTokenizer(location: string): Promise<Tokenizer> {
  return loadTokenizerFromSource(await openModelLocation(location));
}

/**
 * Checks that token ids fit the model's vocabulary: a tokenizer that does not belong to the model (a larger
 * vocabulary) would otherwise index past the embedding.
 * @param what names the text the ids come from, e.g. `the prompt`
 * @throws TokenIdError naming the first id outside `[0, vocabSize)` and its token
 */
export function checkIdsFitModel(
  ids: readonly number[],
  vocabSize: number,
  tokenizer: Tokenizer | undefined,
  what: string,
): void {
  const index = ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (index < 0) return;
  const id = ids[index]!;
  throw new TokenIdError(
    `${what}: token ${index} is id ${id}${tokenizer === undefined ? "" : ` (${JSON.stringify(tokenizer.idToToken(id) ?? "?")})`}, outside the model's vocabulary of ${vocabSize}${tokenizer === undefined ? "" : "; the tokenizer does not belong to this model"}`,
  );
}

/**
 * Decodes ids the model produced, without special tokens. A model's vocabulary may be larger than its
 * tokenizer's (padded embeddings); ids past the tokenizer's have no text and are left out, as the Rust
 * tokenizers' `decode` skips them.
 */
export function decodeModelIds(tokenizer: Tokenizer, ids: readonly number[]): string {
  return tokenizer.decode(ids.filter((id) => id < tokenizer.vocabSize));
}
