import { loadTokenizerFromSource, type Tokenizer } from "@peftjs/models";
import { CliUsageError } from "../cli-error.js";
import { chatTokenizer, readMessagesFile, readTextFile } from "../lib/chat.js";
import { optionalString } from "../lib/cli-options.js";
import { hubFlagOptions, modelLocation, openModelLocation } from "../lib/model-location.js";
import type { Command, FlagValues } from "./command.js";

/** What `peftjs tokenize --json` prints. */
export interface TokenizeReport {
  ids: number[];
  tokens: string[];
}

/**
 * C0 and C1 control characters, DEL, and the line/paragraph separators: escaped in the output so a token can
 * never move the cursor, clear the screen or start an escape sequence.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point (to escape them).
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const namedEscapes: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeControlCharacters(text: string): string {
  return text.replace(
    controlCharacters,
    (character) => namedEscapes[character] ?? `\\u${character.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/** JSON with the characters JSON.stringify leaves raw (DEL, C1, U+2028/9) escaped as well. */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (character) => `\\u${character.codePointAt(0)!.toString(16).padStart(4, "0")}`,
  );
}

/** Exactly one of `flags` must be given; returns it. */
function oneOf(values: FlagValues, flags: readonly string[]): string {
  const given = flags.filter((flag) => values[flag] !== undefined);
  if (given.length !== 1) {
    throw new CliUsageError(
      `give exactly one of ${flags.map((flag) => `--${flag}`).join(", ")}${given.length > 1 ? ` (got ${given.map((flag) => `--${flag}`).join(" and ")})` : ""}`,
    );
  }
  return given[0]!;
}

async function tokenIds(
  tokenizer: Tokenizer,
  values: FlagValues,
  input: string,
  description: string,
): Promise<number[]> {
  const addSpecialTokens = values["no-special"] !== true;
  if (input === "text") return tokenizer.encode(optionalString(values, "text") ?? "", { addSpecialTokens });
  if (input === "file") {
    return tokenizer.encode(await readTextFile("file", optionalString(values, "file")!), {
      addSpecialTokens,
    });
  }
  const chat = chatTokenizer(tokenizer, description);
  const messages = await readMessagesFile("chat", optionalString(values, "chat")!);
  // As apply_chat_template(tokenize=True): the template writes the special tokens, none are added again.
  return chat.encodeChat(messages, { addGenerationPrompt: values["generation-prompt"] === true });
}

/** `peftjs tokenize`: token ids and token strings of a text, a file or a chat conversation. */
export const tokenizeCommand: Command = {
  summary: "print the token ids and tokens of a text, a file or a chat (tokenizer.json or tok512.bin)",
  help: `Usage: peftjs tokenize (--model M | --tokenizer M) (--text T | --file F | --chat FILE.json [--generation-prompt])
                       [--no-special] [--json]

Encodes as transformers' tokenizer.encode does: with the special tokens the tokenizer adds (BOS for Llama 2 /
Mistral style tokenizers, none for Qwen's) unless --no-special. --chat renders a JSON array of
{"role", "content"} messages with the model's chat template and tokenizes the rendering without adding
special tokens again, as apply_chat_template(tokenize=True).

M is a folder (tokenizer.json + tokenizer_config.json, or llama2.c's tok512.bin), "embedded" (stories260K),
or a Hugging Face Hub id org/name[@revision], downloaded once into the Hugging Face cache (HF_HUB_CACHE /
HF_HOME, shared with Python; HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured).

Options:
  --model M             a model folder or Hub id (its tokenizer is used)
  --tokenizer M         a tokenizer folder or Hub id (same as --model)
  --text T              the text to encode
  --file F              encode the contents of this UTF-8 file
  --chat FILE.json      a JSON array of {"role", "content"} messages
  --generation-prompt   with --chat: end with the header of an assistant turn
  --no-special          do not add the tokenizer's special tokens (text and file)
  --json                print {"ids": [...], "tokens": [...]}
  --token TOKEN         Hub access token for private or gated repositories (default HF_TOKEN)
  --offline             read Hub ids from the cache only (default HF_HUB_OFFLINE=1)`,
  options: {
    model: { type: "string" },
    tokenizer: { type: "string" },
    text: { type: "string" },
    file: { type: "string" },
    chat: { type: "string" },
    "generation-prompt": { type: "boolean" },
    "no-special": { type: "boolean" },
    json: { type: "boolean" },
    ...hubFlagOptions,
  },
  files: {
    flags: {
      model: { kind: "model" },
      tokenizer: { kind: "model" },
      file: { kind: "input" },
      chat: { kind: "input" },
    },
  },
  async run(values) {
    const flag = oneOf(values, ["model", "tokenizer"]);
    const input = oneOf(values, ["text", "file", "chat"]);
    if (values["generation-prompt"] === true && input !== "chat") {
      throw new CliUsageError("--generation-prompt applies to --chat only");
    }
    const location = modelLocation(values, flag);
    const source = await openModelLocation(location);
    const tokenizer = await loadTokenizerFromSource(source);
    const ids = await tokenIds(tokenizer, values, input, source.description);
    const tokens = ids.map((id) => tokenizer.idToToken(id) ?? "");
    if (values.json) {
      console.log(safeJson({ ids, tokens } satisfies TokenizeReport));
      return;
    }
    console.log(`${ids.length} tokens`);
    const width = String(Math.max(0, ...ids)).length;
    for (const [index, id] of ids.entries()) {
      console.log(`${String(id).padStart(width)}  ${escapeControlCharacters(tokens[index]!)}`);
    }
  },
};
