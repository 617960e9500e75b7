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

/**
 * Every fenced block whose info string is exactly `language` (e.g. "ts") in the markdown text, with the line it
 * starts on. A longer info string such as "ts browser" does not match: pages use it for samples that only a
 * browser can run.
 */
export function extractSamples(page: string, markdown: string, language: string): CodeSample[] {
  const samples: CodeSample[] = [];
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const opening = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[index] as string);
    if (opening === null) continue;
    const fence = opening[2] as string;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !(lines[end] as string).trimStart().startsWith(fence)) {
      body.push(lines[end] as string);
      end++;
    }
    if ((opening[3] as string).trim() === language)
      samples.push({ page, line: index + 1, code: body.join("\n") });
    index = end;
  }
  return samples;
}

/** The info strings of every fenced block in the markdown text (e.g. "ts", "ts browser", "sh", ""). */
export function fenceLanguages(markdown: string): string[] {
  const languages: string[] = [];
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const opening = /^\s*(`{3,}|~{3,})(.*)$/.exec(lines[index] as string);
    if (opening === null) continue;
    languages.push((opening[2] as string).trim());
    const fence = opening[1] as string;
    index++;
    while (index < lines.length && !(lines[index] as string).trimStart().startsWith(fence)) index++;
  }
  return languages;
}

/** {@link extractSamples} of a file. */
export async function readSamples(docsRoot: string, page: string, language: string): Promise<CodeSample[]> {
  return extractSamples(page, await readFile(`${docsRoot}${page}`, "utf8"), language);
}
