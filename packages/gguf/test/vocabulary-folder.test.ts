/**
 * Which tokenizer files a model folder's GGUF vocabulary comes from, and the typed refusal when none can be
 * read: a SentencePiece checkpoint with only `tokenizer.model` (its protobuf is not parsed) is named as such,
 * with the file that is missing and how to get it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { GgufTokenizerError } from "../src/index.js";
import { readVocabularyFromFolder } from "../src/node.js";

const folders: string[] = [];
afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

async function folderWith(files: Record<string, string>): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-vocabulary-"));
  folders.push(folder);
  for (const [name, content] of Object.entries(files)) await writeFile(join(folder, name), content);
  return folder;
}

describe("readVocabularyFromFolder refusals", () => {
  it("names tokenizer.model and the missing tokenizer.json for a SentencePiece-only checkpoint", async () => {
    const folder = await folderWith({ "config.json": "{}", "tokenizer.model": "\n\u0000" });
    const error = await readVocabularyFromFolder(folder, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GgufTokenizerError);
    expect((error as GgufTokenizerError).code).toBe("gguf_tokenizer");
    expect((error as Error).message).toMatch(
      /has no tokenizer\.json .*a SentencePiece tokenizer\.model alone is not read: save the tokenizer with transformers to get tokenizer\.json/,
    );
  });

  it("says what it looked for when there is no tokenizer at all", async () => {
    const folder = await folderWith({ "config.json": "{}" });
    const error = await readVocabularyFromFolder(folder, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GgufTokenizerError);
    expect((error as Error).message).toMatch(/no tokenizer\.json and no llama2\.c tokenizer/);
    expect((error as Error).message).not.toMatch(/tokenizer\.model/);
  });
});
