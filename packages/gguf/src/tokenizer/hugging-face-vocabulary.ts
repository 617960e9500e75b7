import { GgufTokenizerError } from "../errors.js";
import { type GgufSpecialTokens, GgufTokenType, type GgufVocabulary } from "./vocabulary.js";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Byte-level BPE pre-tokenizer regexes (as `tokenizer.json` writes them) and the name under which llama.cpp
 * implements each (`tokenizer.ggml.pre`). llama.cpp's own converter recognises tokenizers by hashing the ids of
 * a probe text; the regex is what decides those ids, so matching it is the same test without running the
 * tokenizer.
 */
const knownPreTokenizers: ReadonlyArray<{ regex: string; name: string; tokenizers: string }> = [
  {
    regex:
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    name: "qwen2",
    tokenizers: "Qwen 1.5 / 2 / 2.5 / 3",
  },
  {
    regex:
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    name: "llama-bpe",
    tokenizers: "Llama 3",
  },
  {
    regex: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    name: "gpt-2",
    tokenizers: "GPT-2",
  },
];

function tokenizerTypeOf(node: unknown): string | undefined {
  return isObject(node) && typeof node.type === "string" ? node.type : undefined;
}

/** The components of a `Sequence` (or the node itself). */
function flatten(node: unknown, listField: string): JsonObject[] {
  if (!isObject(node)) return [];
  if (node.type === "Sequence" && Array.isArray(node[listField])) {
    return (node[listField] as unknown[]).flatMap((child) => flatten(child, listField));
  }
  return [node];
}

/** The byte-level pre-tokenizer regex: a `Split` regex before `ByteLevel(use_regex: false)`, or GPT-2's own. */
function byteLevelRegex(preTokenizer: unknown): string {
  const parts = flatten(preTokenizer, "pretokenizers");
  const split = parts.find((part) => part.type === "Split");
  const byteLevel = parts.find((part) => part.type === "ByteLevel");
  if (byteLevel === undefined) {
    throw new GgufTokenizerError(
      `a byte-level BPE tokenizer needs a ByteLevel pre-tokenizer, got ${describe(preTokenizer)}`,
    );
  }
  if (split !== undefined) {
    const pattern = split.pattern;
    if (isObject(pattern) && typeof pattern.Regex === "string") return pattern.Regex;
    throw new GgufTokenizerError(`unsupported Split pattern ${describe(pattern)}`);
  }
  if (byteLevel.use_regex !== false) return knownPreTokenizers.find((entry) => entry.name === "gpt-2")!.regex;
  throw new GgufTokenizerError(
    `ByteLevel without a regex splits nothing; llama.cpp has no such pre-tokenizer`,
  );
}

function preTokenizerName(preTokenizer: unknown): string {
  const regex = byteLevelRegex(preTokenizer);
  const known = knownPreTokenizers.find((entry) => entry.regex === regex);
  if (known === undefined) {
    throw new GgufTokenizerError(
      `pre-tokenizer regex ${describe(regex)} is not one peftjs maps to a llama.cpp pre-tokenizer (known: ${knownPreTokenizers
        .map((entry) => `${entry.name} for ${entry.tokenizers}`)
        .join("; ")}); convert this tokenizer with llama.cpp's convert_hf_to_gguf.py`,
    );
  }
  return known.name;
}

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

function addedTokensOf(tokenizer: JsonObject): AddedToken[] {
  const list = tokenizer.added_tokens ?? [];
  if (!Array.isArray(list))
    throw new GgufTokenizerError(`added_tokens must be a list, got ${describe(list)}`);
  return list.map((entry) => {
    if (!isObject(entry) || !Number.isInteger(entry.id) || typeof entry.content !== "string") {
      throw new GgufTokenizerError(`added token ${describe(entry)} needs an integer id and a string content`);
    }
    return { id: entry.id as number, content: entry.content, special: entry.special === true };
  });
}

/** Token strings by id from the model vocabulary and the added tokens; gaps become `[PAD<id>]`. */
function tokensById(
  model: JsonObject,
  added: readonly AddedToken[],
): { tokens: string[]; addedIds: Set<number>; gapIds: Set<number> } {
  if (!isObject(model.vocab))
    throw new GgufTokenizerError(`model.vocab must map tokens to ids, got ${describe(model.vocab)}`);
  const tokens: string[] = [];
  for (const [token, id] of Object.entries(model.vocab)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new GgufTokenizerError(`model.vocab gives ${describe(token)} the id ${describe(id)}`);
    }
    tokens[id] = token;
  }
  const addedIds = new Set<number>();
  for (const token of added) {
    if (tokens[token.id] !== undefined && tokens[token.id] !== token.content) {
      throw new GgufTokenizerError(
        `added token ${describe(token.content)} has id ${token.id}, which the vocabulary gives ${describe(tokens[token.id])}`,
      );
    }
    tokens[token.id] = token.content;
    addedIds.add(token.id);
  }
  const gapIds = new Set<number>();
  for (let id = 0; id < tokens.length; id++) {
    if (tokens[id] !== undefined) continue;
    tokens[id] = `[PAD${id}]`;
    gapIds.add(id);
  }
  return { tokens, addedIds, gapIds };
}

/** Merges as llama.cpp stores them, `"left right"` (pairs with a space inside get U+0120-style escapes as the converter does). */
function mergeStrings(model: JsonObject): string[] {
  const merges = model.merges ?? [];
  if (!Array.isArray(merges))
    throw new GgufTokenizerError(`model.merges must be a list, got ${describe(merges)}`);
  return merges.map((merge) => {
    if (typeof merge === "string") return merge;
    if (Array.isArray(merge) && merge.length === 2 && merge.every((part) => typeof part === "string")) {
      return (merge as string[]).map((part) => part.replaceAll(" ", "\u0120")).join(" ");
    }
    throw new GgufTokenizerError(`merge ${describe(merge)} is neither "a b" nor ["a", "b"]`);
  });
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isObject(value) && typeof value.content === "string") return value.content;
  return undefined;
}

/**
 * BOS/EOS/unknown/padding ids and whether BOS/EOS are added, as llama.cpp's `SpecialVocab` reads them: the
 * tokens named in tokenizer_config.json (looked up among the added tokens), then config.json's `*_token_id` for
 * roles still unset; `add_bos`/`add_eos` from the post-processor template, overridden by tokenizer_config.json's
 * `add_bos_token` / `add_eos_token`.
 */
function specialTokensOf(
  tokenizer: JsonObject,
  added: readonly AddedToken[],
  tokenizerConfig: JsonObject,
  modelConfig: JsonObject,
): { specialTokens: GgufSpecialTokens; addBos: boolean; addEos: boolean } {
  const ids: { bos?: number; eos?: number; unk?: number; pad?: number } = {};
  const lookup = (content: string | undefined) =>
    content === undefined ? undefined : added.find((token) => token.content === content)?.id;
  for (const role of ["bos", "eos", "unk", "pad"] as const) {
    const id = lookup(tokenContent(tokenizerConfig[`${role}_token`]));
    if (id !== undefined) ids[role] = id;
  }
  let addBos = false;
  let addEos = false;
  for (const processor of flatten(tokenizer.post_processor, "processors")) {
    if (processor.type !== "TemplateProcessing" || !Array.isArray(processor.single)) continue;
    const single = processor.single as JsonObject[];
    const first = isObject(single[0]?.SpecialToken) ? (single[0]!.SpecialToken as JsonObject).id : undefined;
    const last = isObject(single.at(-1)?.SpecialToken)
      ? (single.at(-1)!.SpecialToken as JsonObject).id
      : undefined;
    if (typeof first === "string" && single.length > 1) {
      ids.bos ??= lookup(first);
      addBos = lookup(first) === ids.bos;
    }
    if (typeof last === "string" && single.length > 1) {
      ids.eos ??= lookup(last);
      addEos = lookup(last) === ids.eos;
    }
  }
  for (const role of ["bos", "eos", "unk", "pad"] as const) {
    const id = modelConfig[`${role}_token_id`];
    if (ids[role] === undefined && typeof id === "number" && Number.isInteger(id)) ids[role] = id;
  }
  if (typeof tokenizerConfig.add_bos_token === "boolean") addBos = tokenizerConfig.add_bos_token;
  if (typeof tokenizerConfig.add_eos_token === "boolean") addEos = tokenizerConfig.add_eos_token;
  return { specialTokens: ids, addBos, addEos };
}

function normalizerWarnings(tokenizer: JsonObject): string[] {
  const kinds = flatten(tokenizer.normalizer, "normalizers")
    .map((normalizer) => normalizer.type)
    .filter((type) => type !== "Prepend" && type !== "Replace");
  return kinds.length === 0
    ? []
    : [
        `the tokenizer's normalizer (${kinds.join(", ")}) is not applied by llama.cpp: text it would change (e.g. decomposed accents under NFC) tokenizes differently there`,
      ];
}

/**
 * SentencePiece-style BPE (pieces with `▁`, byte fallback) as llama.cpp's `llama` model. llama.cpp merges the
 * adjacent pair whose concatenation is a token with the highest score; BPE merges the pair of lowest merge rank.
 * Scoring each token −(rank of the merge that creates it) makes the two agree whenever each token is reached by
 * its own merge (the usual case); tokens no merge creates score below all of them.
 */
function sentencePieceBpe(
  tokenizer: JsonObject,
  model: JsonObject,
  added: readonly AddedToken[],
  tokenizerConfig: JsonObject,
  modelConfig: JsonObject,
): GgufVocabulary {
  const { tokens, addedIds, gapIds } = tokensById(model, added);
  const merges = mergeStrings(model);
  const rankOf = new Map<string, number>();
  merges.forEach((merge, rank) => {
    const space = merge.indexOf(" ", 1);
    const merged = merge.slice(0, space) + merge.slice(space + 1);
    if (!rankOf.has(merged)) rankOf.set(merged, rank);
  });
  const lowest = -(merges.length + 1);
  const scores = tokens.map((token) => {
    const rank = rankOf.get(token);
    return rank === undefined ? lowest : -rank;
  });
  const special = new Set(added.filter((token) => token.special).map((token) => token.id));
  const unknownContent = typeof model.unk_token === "string" ? model.unk_token : undefined;
  const tokenTypes = tokens.map((token, id) => {
    if (token === unknownContent) return GgufTokenType.UNKNOWN;
    if (special.has(id)) return GgufTokenType.CONTROL;
    if (addedIds.has(id)) return GgufTokenType.USER_DEFINED;
    if (/^<0x[0-9A-Fa-f]{2}>$/.test(token)) return GgufTokenType.BYTE;
    if (gapIds.has(id)) return GgufTokenType.UNUSED;
    return GgufTokenType.NORMAL;
  });
  const preTokenizers = flatten(tokenizer.pre_tokenizer, "pretokenizers");
  const metaspace = preTokenizers.find((part) => part.type === "Metaspace");
  const prepends = flatten(tokenizer.normalizer, "normalizers").some((part) => part.type === "Prepend");
  const addSpacePrefix =
    metaspace !== undefined
      ? metaspace.prepend_scheme !== "never" && metaspace.add_prefix_space !== false
      : prepends;
  const { specialTokens, addBos, addEos } = specialTokensOf(tokenizer, added, tokenizerConfig, modelConfig);
  const unk = tokens.indexOf(unknownContent ?? "<unk>");
  const chatTemplate =
    typeof tokenizerConfig.chat_template === "string" ? tokenizerConfig.chat_template : undefined;
  return {
    model: "llama",
    tokens,
    scores,
    tokenTypes,
    specialTokens: { ...specialTokens, ...(specialTokens.unk === undefined && unk >= 0 ? { unk } : {}) },
    addBos,
    addEos,
    addSpacePrefix,
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
    warnings: [
      ...normalizerWarnings(tokenizer),
      ...(metaspace?.prepend_scheme === "first"
        ? [
            'Metaspace prepend_scheme "first" adds ▁ only at the very start; llama.cpp also adds it after every special token and to text that already starts with a space',
          ]
        : []),
    ],
  };
}

/** Byte-level BPE (GPT-2 style, e.g. Qwen, Llama 3) as llama.cpp's `gpt2` model with its named pre-tokenizer. */
function byteLevelBpe(
  tokenizer: JsonObject,
  model: JsonObject,
  added: readonly AddedToken[],
  tokenizerConfig: JsonObject,
  modelConfig: JsonObject,
): GgufVocabulary {
  const pre = preTokenizerName(tokenizer.pre_tokenizer);
  const { tokens, addedIds, gapIds } = tokensById(model, added);
  const special = new Set(added.filter((token) => token.special).map((token) => token.id));
  const looksSpecial = (token: string) => token.startsWith("<|") && token.endsWith("|>");
  const tokenTypes = tokens.map((token, id) => {
    if (gapIds.has(id)) return GgufTokenType.UNUSED;
    if (!addedIds.has(id)) return GgufTokenType.NORMAL;
    return special.has(id) || looksSpecial(token) ? GgufTokenType.CONTROL : GgufTokenType.USER_DEFINED;
  });
  const { specialTokens, addBos, addEos } = specialTokensOf(tokenizer, added, tokenizerConfig, modelConfig);
  const chatTemplate =
    typeof tokenizerConfig.chat_template === "string" ? tokenizerConfig.chat_template : undefined;
  return {
    model: "gpt2",
    pre,
    tokens,
    tokenTypes,
    merges: mergeStrings(model),
    specialTokens,
    addBos,
    addEos,
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
    warnings: normalizerWarnings(tokenizer),
  };
}

/**
 * Reads a Hugging Face `tokenizer.json` (with its `tokenizer_config.json` and the model's `config.json`, both
 * optional) as a llama.cpp vocabulary: byte-level BPE (GPT-2 style: Qwen, Llama 3) becomes the `gpt2` model with
 * its merges and the name of its pre-tokenizer; SentencePiece-style BPE with byte fallback (Llama 2, Mistral)
 * becomes the `llama` model with scores derived from the merge ranks. Added tokens keep their ids: special ones
 * are CONTROL tokens, the others USER_DEFINED.
 * @throws GgufTokenizerError for other tokenizer models (WordPiece, Unigram) and unknown pre-tokenizers
 */
export function huggingFaceVocabulary(
  tokenizerJson: unknown,
  tokenizerConfigJson: unknown = {},
  modelConfigJson: unknown = {},
): GgufVocabulary {
  if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
    throw new GgufTokenizerError("tokenizer.json must be an object with a model");
  }
  const tokenizerConfig = isObject(tokenizerConfigJson) ? tokenizerConfigJson : {};
  const modelConfig = isObject(modelConfigJson) ? modelConfigJson : {};
  const model = tokenizerJson.model;
  const added = addedTokensOf(tokenizerJson);
  if (model.type !== "BPE") {
    throw new GgufTokenizerError(
      `tokenizer model ${describe(model.type)} is not supported (BPE only); convert it with llama.cpp's convert_hf_to_gguf.py`,
    );
  }
  const byteLevel =
    tokenizerTypeOf(tokenizerJson.decoder) === "ByteLevel" ||
    flatten(tokenizerJson.pre_tokenizer, "pretokenizers").some((part) => part.type === "ByteLevel");
  if (byteLevel) return byteLevelBpe(tokenizerJson, model, added, tokenizerConfig, modelConfig);
  if (model.byte_fallback === true)
    return sentencePieceBpe(tokenizerJson, model, added, tokenizerConfig, modelConfig);
  throw new GgufTokenizerError(
    "a BPE tokenizer that is neither byte-level nor SentencePiece-style with byte_fallback has no llama.cpp equivalent",
  );
}
