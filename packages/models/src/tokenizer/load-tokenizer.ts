/**
 * Loads the tokenizer of a model source, as transformers' `AutoTokenizer.from_pretrained` finds its files:
 * `tokenizer.json` with `tokenizer_config.json`, `special_tokens_map.json`, `chat_template.jinja` (or the older
 * `chat_template.json`), and the generation stop ids of `generation_config.json` (else `config.json`); or
 * llama2.c's `tok512.bin` / `tokenizer.bin` for the stories models.
 */
import {
  type ModelSource,
  readOptionalSourceJson,
  readSourceJson,
  readSourceText,
} from "../hub/model-source.js";
import {
  type ModelLocation,
  type OpenModelSourceOptions,
  openModelSource,
} from "../hub/open-model-source.js";
import { eosTokenIdsOf } from "./generation-eos.js";
import { HuggingFaceTokenizer } from "./hugging-face-tokenizer.js";
import { Llama2cTokenizer } from "./llama2c-tokenizer.js";
import type { Tokenizer } from "./tokenizer.js";
import { type ChatTemplateSet, parseChatTemplateSet } from "./tokenizer-config.js";
import { TokenizerNotFoundError } from "./tokenizer-errors.js";

/** llama2.c tokenizer file names, in the order they are looked for. */
export const LLAMA2C_TOKENIZER_FILES = ["tok512.bin", "tokenizer.bin"] as const;

/** SentencePiece's model file (a protobuf), the slow tokenizer of Llama 2 / Mistral / Gemma checkpoints. */
const SENTENCEPIECE_MODEL_FILE = "tokenizer.model";

/** The chat template file transformers ≥ 4.43 writes beside tokenizer_config.json; it takes precedence. */
async function readChatTemplateFile(source: ModelSource): Promise<ChatTemplateSet | undefined> {
  if (await source.has("chat_template.jinja")) return readSourceText(source, "chat_template.jinja");
  const json = await readOptionalSourceJson(source, "chat_template.json");
  if (typeof json !== "object" || json === null) return undefined;
  return parseChatTemplateSet(
    (json as Record<string, unknown>).chat_template,
    `chat_template.json of ${source.description}`,
  );
}

/** transformers' `generate` stops at generation_config.json's `eos_token_id`, else config.json's. */
async function readGenerationEos(source: ModelSource): Promise<number[] | undefined> {
  const generation = await readOptionalSourceJson(source, "generation_config.json");
  const fromGeneration = eosTokenIdsOf(generation, `generation_config.json of ${source.description}`);
  if (fromGeneration !== undefined) return fromGeneration;
  const config = await readOptionalSourceJson(source, "config.json");
  return eosTokenIdsOf(config, `config.json of ${source.description}`);
}

/** Reads a Hugging Face tokenizer (`tokenizer.json` and its side files) from a source. */
export async function loadHuggingFaceTokenizer(source: ModelSource): Promise<HuggingFaceTokenizer> {
  const tokenizer = await readSourceJson(source, "tokenizer.json");
  return HuggingFaceTokenizer.fromFiles({
    tokenizer,
    tokenizerConfig: await readOptionalSourceJson(source, "tokenizer_config.json"),
    specialTokensMap: await readOptionalSourceJson(source, "special_tokens_map.json"),
    chatTemplate: await readChatTemplateFile(source),
    generationEosTokenIds: await readGenerationEos(source),
    description: source.description,
  });
}

/**
 * The tokenizer of a model source: a Hugging Face `tokenizer.json` if present, else llama2.c's `tok512.bin` /
 * `tokenizer.bin`.
 *
 * @throws TokenizerNotFoundError when the source has none of them (naming `tokenizer.model` when that is all it
 *   has: SentencePiece's protobuf is not read); the format errors of each tokenizer.
 */
export async function loadTokenizerFromSource(source: ModelSource): Promise<Tokenizer> {
  if (await source.has("tokenizer.json")) return loadHuggingFaceTokenizer(source);
  for (const file of LLAMA2C_TOKENIZER_FILES) {
    if (await source.has(file)) return Llama2cTokenizer.fromBytes(await source.readBytes(file));
  }
  // A SentencePiece checkpoint saved without its fast tokenizer (Llama 2, Mistral, Gemma repositories from
  // before tokenizer.json) has only this protobuf, which peftjs does not parse.
  const sentencePieceOnly = await source.has(SENTENCEPIECE_MODEL_FILE);
  throw new TokenizerNotFoundError(
    sentencePieceOnly
      ? `${source.description} has only a SentencePiece ${SENTENCEPIECE_MODEL_FILE}, which peftjs does not read; tokenizer.json is missing: write it with transformers (AutoTokenizer.from_pretrained(folder).save_pretrained(folder) converts tokenizer.model to tokenizer.json)`
      : `${source.description} has no tokenizer: looked for tokenizer.json, ${LLAMA2C_TOKENIZER_FILES.join(", ")}`,
  );
}

/**
 * Loads a tokenizer from a location (browser-safe): an http(s) folder URL, a Hub id (`org/name[@revision]`),
 * files in memory (`{ files: {...} }`) or a ModelSource. In Node, `@peftjs/models/node`'s `loadTokenizer` also
 * takes folders and uses the Hugging Face disk cache.
 */
export async function loadTokenizer(
  location: ModelLocation,
  options: OpenModelSourceOptions = {},
): Promise<Tokenizer> {
  return loadTokenizerFromSource(await openModelSource(location, options));
}
