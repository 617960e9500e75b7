import { Tokenizer as LibraryTokenizer } from "@huggingface/tokenizers";
import { TokenIdError, TokenizerFormatError } from "../errors.js";
import { withExactByteFallback } from "./byte-fallback-decoder.js";
import {
  type ChatMessage,
  type ChatTemplateOptions,
  renderChatTemplate,
  selectChatTemplate,
} from "./chat-template.js";
import type {
  SpecialTokenIds,
  Tokenizer,
  TokenizerDecodeOptions,
  TokenizerEncodeOptions,
} from "./tokenizer.js";
import { type ChatTemplateSet, parseTokenizerConfig, type TokenizerConfig } from "./tokenizer-config.js";

/** The files behind a {@link HuggingFaceTokenizer}, parsed JSON as found in a model folder. */
export interface HuggingFaceTokenizerFiles {
  /** `tokenizer.json` (required). */
  readonly tokenizer: unknown;
  /** `tokenizer_config.json`: role tokens, `add_bos_token`/`add_eos_token`, the chat template. */
  readonly tokenizerConfig?: unknown;
  /** `special_tokens_map.json` (older repositories); its role tokens override tokenizer_config's. */
  readonly specialTokensMap?: unknown;
  /** `chat_template.jinja` (transformers ≥ 4.43 saves the template there); it overrides tokenizer_config's. */
  readonly chatTemplate?: ChatTemplateSet;
  /**
   * The `eos_token_id`s generation stops at (from `generation_config.json`, else `config.json`); they join the
   * tokenizer's own `eos_token` in {@link SpecialTokenIds.eos}.
   */
  readonly generationEosTokenIds?: readonly number[];
  /** Names the source in error messages (a folder, a URL, a Hub id). */
  readonly description?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) behind the {@link Tokenizer}
 * interface, encoding and decoding through `@huggingface/tokenizers` with transformers' semantics:
 *
 * - `encode(text)` adds what transformers 5 adds: the tokenizer.json post-processor's special tokens, or, when
 *   tokenizer_config.json states `add_bos_token`/`add_eos_token`, BOS/EOS by those flags (transformers then
 *   rebuilds the post-processor from them).
 * - `decode` keeps Rust's byte-fallback semantics (see `byte-fallback-decoder.ts`), decodes `[]` to `""`, and
 *   applies `clean_up_tokenization_spaces` only when the config asks (transformers' default is false, the
 *   library's true).
 * - Special-token ids come from the config's role tokens; EOS also from the model's generation config.
 * - {@link applyChatTemplate} / {@link encodeChat} render and tokenize conversations as `apply_chat_template`.
 */
export class HuggingFaceTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokenIds;
  /** The parsed `tokenizer_config.json` (role token strings, flags, the raw object). */
  readonly config: TokenizerConfig;
  /** The chat template(s): `chat_template.jinja` if given, else tokenizer_config's `chat_template`. */
  readonly chatTemplate: ChatTemplateSet | undefined;
  /** Names the source in error messages. */
  readonly description: string;
  private readonly library: LibraryTokenizer;

  private constructor(files: HuggingFaceTokenizerFiles) {
    this.description = files.description ?? "tokenizer.json";
    if (!isRecord(files.tokenizer) || !isRecord(files.tokenizer.model)) {
      throw new TokenizerFormatError(`${this.description} is not a tokenizer.json (no "model" object)`);
    }
    this.config = parseTokenizerConfig(files.tokenizerConfig, files.specialTokensMap, this.description);
    this.chatTemplate = files.chatTemplate ?? this.config.chatTemplate;
    try {
      this.library = new LibraryTokenizer(files.tokenizer, {
        ...this.config.raw,
        // transformers' default when the config does not say; the library would default to true.
        clean_up_tokenization_spaces: this.config.cleanUpTokenizationSpaces,
      });
    } catch (error) {
      throw new TokenizerFormatError(`${this.description} cannot be read: ${(error as Error).message}`);
    }
    this.library.decoder = withExactByteFallback(this.library.decoder);
    let largestId = -1;
    for (const id of this.library.get_vocab(true).values()) largestId = Math.max(largestId, id);
    this.vocabSize = largestId + 1;
    const roles = this.config.specialTokenStrings;
    const tokenEos = this.roleId(roles.eos, "eos_token");
    const eos = [...(files.generationEosTokenIds ?? [])];
    if (tokenEos !== undefined && !eos.includes(tokenEos)) eos.push(tokenEos);
    for (const id of eos) this.checkId(id);
    this.specialTokens = Object.freeze({
      bos: this.roleId(roles.bos, "bos_token"),
      eos: Object.freeze(eos),
      pad: this.roleId(roles.pad, "pad_token"),
      unk: this.roleId(roles.unk, "unk_token") ?? this.modelUnknownTokenId(files.tokenizer.model),
    });
  }

  /**
   * Builds a tokenizer from parsed files (in a browser: `await (await fetch(url)).json()`).
   *
   * @throws TokenizerFormatError for a malformed file, a role token that is not in the vocabulary, or an EOS id
   *   outside it.
   */
  static fromFiles(files: HuggingFaceTokenizerFiles): HuggingFaceTokenizer {
    return new HuggingFaceTokenizer(files);
  }

  private roleId(token: string | undefined, field: string): number | undefined {
    if (token === undefined) return undefined;
    const id = this.library.token_to_id(token);
    if (id === undefined) {
      throw new TokenizerFormatError(
        `${this.description}: ${field} ${JSON.stringify(token)} is not in the vocabulary of tokenizer.json`,
      );
    }
    return id;
  }

  /** tokenizer.json's `model.unk_token` (the BPE/WordPiece fallback), when the config names no unk_token. */
  private modelUnknownTokenId(model: Record<string, unknown>): number | undefined {
    const token = model.unk_token;
    return typeof token === "string" ? this.library.token_to_id(token) : undefined;
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenIdError(
        `token id ${id} is outside the vocabulary [0, ${this.vocabSize}) of ${this.description}`,
      );
    }
  }

  encode(text: string, options: TokenizerEncodeOptions = {}): number[] {
    const addSpecialTokens = options.addSpecialTokens ?? true;
    const { addBosToken, addEosToken } = this.config;
    if (!addSpecialTokens || (addBosToken === undefined && addEosToken === undefined)) {
      return this.library.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    }
    // transformers 5 replaces the post-processor with TemplateProcessing "BOS? $A EOS?" from the flags.
    const ids = this.library.encode(text, { add_special_tokens: false }).ids;
    const { bos } = this.specialTokens;
    const eos = this.roleId(this.config.specialTokenStrings.eos, "eos_token");
    if (addBosToken === true && bos !== undefined) ids.unshift(bos);
    if (addEosToken === true && eos !== undefined) ids.push(eos);
    return ids;
  }

  decode(ids: readonly number[], options: TokenizerDecodeOptions = {}): string {
    for (const id of ids) this.checkId(id);
    // Rust drops ids that have no token (holes in a vocabulary); the library would print its unk token.
    const known = ids.filter((id) => this.library.id_to_token(id) !== undefined);
    if (known.length === 0) return "";
    return this.library.decode(known, { skip_special_tokens: options.skipSpecialTokens ?? true });
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) ? this.library.id_to_token(id) : undefined;
  }

  /** The id of a token string (`"<|im_end|>"`, `"Ġthe"`), or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.library.token_to_id(token);
  }

  /**
   * Renders a conversation with the chat template as transformers' `apply_chat_template(messages,
   * tokenize=False, ...)` does.
   *
   * @throws ChatTemplateNotFoundError when the tokenizer has no template and none is passed; the errors of
   *   {@link renderChatTemplate}.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const template = selectChatTemplate(
      this.chatTemplate,
      options.chatTemplate,
      options.tools !== undefined,
      this.description,
    );
    return renderChatTemplate(template, messages, this.config.specialTokenStrings, options);
  }

  /**
   * The token ids of a conversation, as `apply_chat_template(messages, tokenize=True)`: the rendering encoded
   * without adding special tokens again (the template writes them).
   */
  encodeChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }
}
