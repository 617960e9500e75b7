import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const sourceFolder = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Every module reachable from `entry` through relative imports, with the bare specifiers each one imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [resolve(sourceFolder, entry)];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (graph.has(file)) continue;
    const text = readFileSync(file, "utf8");
    const specifiers = [...text.matchAll(/(?:import|export)[^"';]*?from\s+"([^"]+)"/g)].map(
      (match) => match[1] as string,
    );
    graph.set(
      file,
      specifiers.filter((specifier) => !specifier.startsWith(".")),
    );
    for (const specifier of specifiers.filter((item) => item.startsWith("."))) {
      pending.push(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
    }
  }
  return graph;
}

it("the main entry reaches no Node builtin and no other package (browser-safe, zero dependencies)", () => {
  const graph = importGraph("index.ts");
  expect(graph.size).toBeGreaterThan(10);
  for (const [file, bare] of graph) expect(bare, file).toEqual([]);
  expect([...graph.keys()].some((file) => file.includes(`${join("src", "node")}`))).toBe(false);
});

it("the node entry imports only node: builtins", () => {
  for (const [file, bare] of importGraph("node.ts")) {
    for (const specifier of bare) expect(specifier, file).toMatch(/^node:/);
  }
});
