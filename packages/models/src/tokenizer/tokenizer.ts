/** Ids of the tokens that have a role, as the tokenizer's files declare them. */
export interface SpecialTokenIds {
  /** Beginning of sequence, if the tokenizer has one. */
  readonly bos: number | undefined;
  /** End of sequence (generation stops at any of them); possibly empty. */
  readonly eos: readonly number[];
  /** Padding, if any. */
  readonly pad: number | undefined;
  /** Unknown token, if any. */
  readonly unk: number | undefined;
}

/** Options of {@link Tokenizer.encode}. */
export interface TokenizerEncodeOptions {
  /**
   * Add the special tokens the tokenizer's post-processor adds (transformers' `add_special_tokens`): BOS for
   * Llama 2 / Mistral / llama2.c style tokenizers, nothing for Qwen's. Default `true`, as in transformers.
   */
  readonly addSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface TokenizerDecodeOptions {
  /** Leave out special tokens (BOS, EOS, `<|im_start|>`, ...). Default `true`. */
  readonly skipSpecialTokens?: boolean;
}

/**
 * Text to token ids and back: the seam between text and models. Everything outside a tokenizer learns token
 * ids (BOS, EOS, padding) from {@link Tokenizer.specialTokens}, never from constants.
 */
export interface Tokenizer {
  /** Number of ids the tokenizer can produce (the model's vocabulary may be larger, never smaller). */
  readonly vocabSize: number;
  /** The ids of BOS, EOS, padding and unknown. */
  readonly specialTokens: SpecialTokenIds;
  /** Encodes text as transformers' `tokenizer.encode(text, add_special_tokens=...)` does. */
  encode(text: string, options?: TokenizerEncodeOptions): number[];
  /** Decodes ids to text as transformers' `tokenizer.decode(ids, skip_special_tokens=...)` does. */
  decode(ids: readonly number[], options?: TokenizerDecodeOptions): string;
  /** The token string of `id` (e.g. `"▁the"`, `"Ġthe"`, `"<0x0A>"`), or `undefined` outside the vocabulary. */
  idToToken(id: number): string | undefined;
}
