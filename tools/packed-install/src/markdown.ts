/** One fenced code block of a markdown file. */
export interface CodeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string after the fence (e.g. `ts`, `sh`). */
  readonly language: string;
  /** The block's text, without the fences. */
  readonly code: string;
}

/** Every fenced code block of a markdown text, in order (``` and ~~~ fences, indented ones too). */
export function extractCodeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const opening = /^\s*(`{3,}|~{3,})(.*)$/.exec(lines[index] as string);
    if (opening === null) continue;
    const fence = opening[1] as string;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !(lines[end] as string).trimStart().startsWith(fence)) {
      body.push(lines[end] as string);
      end++;
    }
    blocks.push({ line: index + 1, language: (opening[2] as string).trim(), code: body.join("\n") });
    index = end;
  }
  return blocks;
}
