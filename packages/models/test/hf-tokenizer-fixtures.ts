/** Reads the Hugging Face tokenizer fixtures of `test/fixtures/hf-tokenizers/` (see its README). */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

export const tokenizerNames = ["qwen3", "sp_bpe"] as const;
export type TokenizerName = (typeof tokenizerNames)[number];

/** One encoding/decoding case of `cases.json`. */
export interface TokenizerCase {
  name: string;
  text: string;
  ids: number[];
  ids_special: number[];
  tokens: string[];
  decoded: string;
  decoded_skip: string;
}

/** One conversation of `chat.json`. */
export interface ChatCase {
  name: string;
  messages: { role: string; content: string }[];
  kwargs: { add_generation_prompt: boolean };
  rendered: string;
  ids: number[];
}

export const fixtureFolder = (name: TokenizerName) =>
  new URL(`./fixtures/hf-tokenizers/${name}/`, import.meta.url);

const readJson = (name: TokenizerName, file: string): unknown =>
  JSON.parse(readFileSync(new URL(file, fixtureFolder(name)), "utf8"));

/** sha256 of the original qwen3 tokenizer.json (source.json), checked after decompression. */
const qwen3TokenizerSha256 = "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4";

/** The bytes of `tokenizer.json` (qwen3's is stored gzip-compressed; its checksum is verified). */
export function tokenizerJsonBytes(name: TokenizerName): Uint8Array {
  if (name === "sp_bpe") return readFileSync(new URL("tokenizer.json", fixtureFolder(name)));
  const bytes = gunzipSync(readFileSync(new URL("tokenizer.json.gz", fixtureFolder(name))));
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== qwen3TokenizerSha256)
    throw new Error(`qwen3 tokenizer.json.gz decompresses to sha256 ${digest}`);
  return bytes;
}

export const tokenizerJson = (name: TokenizerName): unknown =>
  JSON.parse(new TextDecoder().decode(tokenizerJsonBytes(name)));
export const tokenizerConfigJson = (name: TokenizerName): Record<string, unknown> =>
  readJson(name, "tokenizer_config.json") as Record<string, unknown>;
export const tokenizerCases = (name: TokenizerName): TokenizerCase[] =>
  (readJson(name, "cases.json") as { cases: TokenizerCase[] }).cases;
export const chatFixture = (name: TokenizerName) =>
  readJson(name, "chat.json") as { chat_template: string; conversations: ChatCase[] };
