import { loadTokenizerFromSource } from "../../tokenizer/load-tokenizer.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import type { ModelLocation } from "../open-model-source.js";
import { type NodeOpenModelSourceOptions, openModelSource } from "./open-model-source.js";

/**
 * Loads the tokenizer of a folder, an http(s) URL or a Hub id (through the Hugging Face disk cache):
 * `tokenizer.json` (+ tokenizer_config.json, chat template, generation EOS ids) or llama2.c's `tok512.bin`.
 *
 * @throws TokenizerNotFoundError when the location has no tokenizer; the source's and the tokenizer's errors.
 */
export async function loadTokenizer(
  location: ModelLocation,
  options: NodeOpenModelSourceOptions = {},
): Promise<Tokenizer> {
  return loadTokenizerFromSource(await openModelSource(location, options));
}
