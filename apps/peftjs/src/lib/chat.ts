/**
 * Conversations on the command line: reading a messages file, rendering it with the model's chat template
 * (as transformers' `apply_chat_template(messages, add_generation_prompt=True, tokenize=True)`), and generating
 * a reply that stops at the model's EOS ids and can be streamed as it is decoded.
 */
import { readFile } from "node:fs/promises";
import {
  type CausalLM,
  type ChatMessage,
  generate,
  HuggingFaceTokenizer,
  type Tokenizer,
} from "@peftjs/models";
import { CliUsageError } from "../cli-error.js";
import { checkIdsFitModel, decodeModelIds } from "./model-tokenizer.js";

/** The text of the file a flag names. @throws CliUsageError when it cannot be read. */
export async function readTextFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new CliUsageError(`--${flag} ${path} cannot be read: ${(error as Error).message}`);
  }
}

/**
 * Reads a messages file: a JSON array of `{"role": string, "content": string or list}` objects (further
 * fields, e.g. `tool_calls`, are passed to the template as they are).
 * @throws CliUsageError naming the flag, the file and the first bad message
 */
export async function readMessagesFile(flag: string, path: string): Promise<ChatMessage[]> {
  const text = await readTextFile(flag, path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliUsageError(`--${flag} ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(json))
    throw new CliUsageError(`--${flag} ${path} must hold a JSON array of {role, content}`);
  json.forEach((message, index) => {
    const valid =
      typeof message === "object" &&
      message !== null &&
      typeof message.role === "string" &&
      (typeof message.content === "string" || Array.isArray(message.content));
    if (!valid) {
      throw new CliUsageError(
        `--${flag} ${path}: message ${index} must be {"role": string, "content": string or list}, got ${JSON.stringify(message)}`,
      );
    }
  });
  return json as ChatMessage[];
}

/** The tokenizer as one with a chat template. @throws CliUsageError for llama2.c's tokenizer (it has none). */
export function chatTokenizer(tokenizer: Tokenizer, description: string): HuggingFaceTokenizer {
  if (!(tokenizer instanceof HuggingFaceTokenizer)) {
    throw new CliUsageError(
      `the tokenizer of ${description} (llama2.c) has no chat template: chats need a model with tokenizer.json`,
    );
  }
  return tokenizer;
}

/**
 * The ids the model continues for a reply: the conversation rendered with the chat template and the header
 * of an assistant turn, tokenized without adding special tokens again (the template writes them).
 */
export function chatPromptIds(tokenizer: HuggingFaceTokenizer, messages: readonly ChatMessage[]): number[] {
  return tokenizer.encodeChat(messages, { addGenerationPrompt: true });
}

/**
 * The ids generation stops at: the tokenizer's EOS ids (generation_config.json's `eos_token_id`, else
 * config.json's, plus tokenizer_config.json's `eos_token`) together with the model config's.
 */
export function stopTokenIds(model: CausalLM, tokenizer: Tokenizer): number[] {
  return [...new Set([...tokenizer.specialTokens.eos, ...model.config.eosTokenIds])];
}

/** Options of {@link generateReply}. */
export interface ReplyOptions {
  /** The most new tokens (also bounded by `max_position_embeddings`). */
  readonly maxNewTokens: number;
  /** When true, `maxNewTokens` is lowered to what fits the model's context instead of being an error. */
  readonly fitContext?: boolean;
  readonly temperature: number;
  readonly seed: number;
  /** Receives the reply's text piece by piece as it is decoded (complete characters only). */
  readonly onText?: (piece: string) => void;
}

/** A generated reply. */
export interface Reply {
  /** The new ids, the stop token (if one was reached) included. */
  readonly tokens: number[];
  /** The reply's text: the new ids decoded without special tokens. */
  readonly text: string;
  /** Whether generation ended at a stop id (otherwise it ran out of tokens). */
  readonly stopped: boolean;
}

/**
 * Generates a reply to `promptIds` with the model's key/value cache, stopping at {@link stopTokenIds}. The
 * text is decoded again after every token and only the part past what was already shown is passed on, held
 * back while it ends in an incomplete UTF-8 sequence (U+FFFD) — so byte-fallback tokens stream correctly.
 */
export async function generateReply(
  model: CausalLM,
  tokenizer: Tokenizer,
  promptIds: readonly number[],
  options: ReplyOptions,
): Promise<Reply> {
  checkIdsFitModel(promptIds, model.config.vocabSize, tokenizer, "the prompt");
  const room = model.config.maxPositionEmbeddings - promptIds.length + 1;
  const maxNewTokens = options.fitContext ? Math.min(options.maxNewTokens, room) : options.maxNewTokens;
  if (maxNewTokens < 1) {
    throw new CliUsageError(
      `the prompt has ${promptIds.length} tokens, the model's whole context (max_position_embeddings ${model.config.maxPositionEmbeddings}); shorten the conversation`,
    );
  }
  const stopTokens = stopTokenIds(model, tokenizer);
  const generated: number[] = [];
  let shown = "";
  const tokens = await generate(model, promptIds, {
    maxNewTokens,
    temperature: options.temperature,
    seed: options.seed,
    stopTokens,
    onToken: (token) => {
      generated.push(token);
      if (options.onText === undefined) return;
      const text = decodeModelIds(tokenizer, generated);
      if (text.endsWith("\uFFFD") || !text.startsWith(shown)) return;
      options.onText(text.slice(shown.length));
      shown = text;
    },
  });
  const text = decodeModelIds(tokenizer, tokens);
  if (options.onText !== undefined && text.startsWith(shown) && text.length > shown.length) {
    options.onText(text.slice(shown.length));
  }
  const last = tokens.at(-1);
  return { tokens, text, stopped: last !== undefined && stopTokens.includes(last) };
}
