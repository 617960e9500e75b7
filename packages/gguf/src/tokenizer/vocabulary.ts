import { GgufTokenizerError } from "../errors.js";
import { type GgufMetadata, GgufMetadataBuilder } from "../format/metadata.js";

/** llama.cpp's token types (`tokenizer.ggml.token_type`, `LLAMA_TOKEN_TYPE_*`). */
export const GgufTokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** The ids of tokens with a role; any may be absent. */
export interface GgufSpecialTokens {
  /** Beginning of sequence. */
  readonly bos?: number;
  /** End of sequence. */
  readonly eos?: number;
  /** Unknown token. */
  readonly unk?: number;
  /** Padding. */
  readonly pad?: number;
}

/**
 * A vocabulary as llama.cpp's tokenizers take it: the `llama` model (SentencePiece-style: pieces with `▁`,
 * greedy merges by score, byte fallback) or the `gpt2` model (byte-level BPE: merges by rank after a named
 * pre-tokenizer regex).
 */
export interface GgufVocabulary {
  /** `tokenizer.ggml.model`. */
  readonly model: "llama" | "gpt2";
  /** `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp implements under this name (gpt2 only). */
  readonly pre?: string;
  /** Token strings by id (must be unique and non-empty). */
  readonly tokens: readonly string[];
  /** Per-token types ({@link GgufTokenType}). */
  readonly tokenTypes: readonly number[];
  /** Per-token scores (llama model: higher merges first). */
  readonly scores?: ArrayLike<number>;
  /** Merges `"left right"` in rank order (gpt2 model). */
  readonly merges?: readonly string[];
  /** Ids of BOS, EOS, unknown and padding. */
  readonly specialTokens: GgufSpecialTokens;
  /** Whether to prepend BOS when tokenizing. */
  readonly addBos: boolean;
  /** Whether to append EOS when tokenizing. */
  readonly addEos: boolean;
  /** llama model: whether to prepend a space (SentencePiece's dummy prefix). */
  readonly addSpacePrefix?: boolean;
  /** The Jinja chat template, if the tokenizer has one. */
  readonly chatTemplate?: string;
  /** Behaviours of the source tokenizer that llama.cpp's tokenizer does not reproduce (e.g. a normalizer). */
  readonly warnings: readonly string[];
}

/**
 * The `tokenizer.*` metadata of a vocabulary, padded to `vocabSize` tokens with `[PAD<id>]` unused tokens as
 * llama.cpp's converter pads (the embedding may have more rows than the tokenizer has tokens).
 * @throws GgufTokenizerError for a vocabulary larger than `vocabSize`, duplicate or empty token strings (llama.cpp
 *   aborts on duplicates), special ids outside the vocabulary, or inconsistent array lengths
 */
export function vocabularyMetadata(vocabulary: GgufVocabulary, vocabSize: number): GgufMetadata {
  const { tokens, tokenTypes, scores } = vocabulary;
  if (tokens.length > vocabSize) {
    throw new GgufTokenizerError(
      `the tokenizer has ${tokens.length} tokens but the model's vocab_size is ${vocabSize}`,
    );
  }
  if (tokenTypes.length !== tokens.length || (scores !== undefined && scores.length !== tokens.length)) {
    throw new GgufTokenizerError(
      `${tokens.length} tokens but ${tokenTypes.length} token types${scores === undefined ? "" : ` and ${scores.length} scores`}`,
    );
  }
  const paddedTokens = [...tokens];
  const paddedTypes = [...tokenTypes];
  const paddedScores = scores === undefined ? undefined : Array.from(scores);
  for (let id = tokens.length; id < vocabSize; id++) {
    paddedTokens.push(`[PAD${id}]`);
    paddedTypes.push(GgufTokenType.UNUSED);
    paddedScores?.push(0);
  }
  const seen = new Map<string, number>();
  for (const [id, token] of paddedTokens.entries()) {
    if (token === "") throw new GgufTokenizerError(`token ${id} is the empty string`);
    const previous = seen.get(token);
    if (previous !== undefined) {
      throw new GgufTokenizerError(
        `tokens ${previous} and ${id} are both ${JSON.stringify(token)}; llama.cpp needs unique tokens`,
      );
    }
    seen.set(token, id);
  }
  for (const [role, id] of Object.entries(vocabulary.specialTokens)) {
    if (id !== undefined && (!Number.isInteger(id) || id < 0 || id >= vocabSize)) {
      throw new GgufTokenizerError(`the ${role} token id ${id} is outside the vocabulary of ${vocabSize}`);
    }
  }
  const metadata = new GgufMetadataBuilder().string("tokenizer.ggml.model", vocabulary.model);
  if (vocabulary.pre !== undefined) metadata.string("tokenizer.ggml.pre", vocabulary.pre);
  metadata.stringArray("tokenizer.ggml.tokens", paddedTokens);
  if (paddedScores !== undefined) metadata.float32Array("tokenizer.ggml.scores", paddedScores);
  metadata.int32Array("tokenizer.ggml.token_type", paddedTypes);
  if (vocabulary.merges !== undefined) metadata.stringArray("tokenizer.ggml.merges", vocabulary.merges);
  const roles: Record<keyof GgufSpecialTokens, string> = {
    bos: "tokenizer.ggml.bos_token_id",
    eos: "tokenizer.ggml.eos_token_id",
    unk: "tokenizer.ggml.unknown_token_id",
    pad: "tokenizer.ggml.padding_token_id",
  };
  for (const [role, key] of Object.entries(roles) as [keyof GgufSpecialTokens, string][]) {
    const id = vocabulary.specialTokens[role];
    if (id !== undefined) metadata.uint32(key, id);
  }
  metadata
    .bool("tokenizer.ggml.add_bos_token", vocabulary.addBos)
    .bool("tokenizer.ggml.add_eos_token", vocabulary.addEos);
  if (vocabulary.addSpacePrefix !== undefined)
    metadata.bool("tokenizer.ggml.add_space_prefix", vocabulary.addSpacePrefix);
  if (vocabulary.chatTemplate !== undefined)
    metadata.string("tokenizer.chat_template", vocabulary.chatTemplate);
  return metadata.build();
}
