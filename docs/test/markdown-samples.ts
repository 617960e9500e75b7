import { readFile } from "node:fs/promises";

/** One fenced code block of a markdown page. */
export interface CodeSample {
  /** The page, relative to `docs/`. */
  readonly page: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The block's text, without the fences. */
  readonly code: string;
}

/** Every fenced block of `language` (e.g. "ts") in the markdown text, with the line it starts on. */
export function extractSamples(page: string, markdown: string, language: string): CodeSample[] {
  const samples: CodeSample[] = [];
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const opening = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[index] as string);
    if (opening === null) continue;
    const fence = opening[2] as string;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !(lines[end] as string).trimStart().startsWith(fence)) {
      body.push(lines[end] as string);
      end++;
    }
    if (opening[3] === language) samples.push({ page, line: index + 1, code: body.join("\n") });
    index = end;
  }
  return samples;
}

/** {@link extractSamples} of a file. */
export async function readSamples(docsRoot: string, page: string, language: string): Promise<CodeSample[]> {
  return extractSamples(page, await readFile(`${docsRoot}${page}`, "utf8"), language);
}
