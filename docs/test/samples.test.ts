/**
 * Every ```ts sample of the guides runs here, in Node, against the built packages — so the guides cannot rot.
 * Samples are written as real programs with two documented placeholders that this test substitutes:
 * - `"./stories260k"`: the folder of the embedded stories260K model (`apps/peftjs/assets/stories260k/` in a
 *   clone), and `"./examples/…"`: the example files the site serves at `/examples/` (kept in
 *   `docs/test/fixtures/`, copied into `public/` by `scripts/prepare.mjs`);
 * - `"https://your.site/stories260k/"`: where a browser page finds the model; here a local HTTP server
 *   serving that folder, so `loadModelFromUrl` runs for real;
 * - `"./my-adapter"`: a folder a sample writes, here under `test/.samples/`;
 * - `"./tiny-llama"`: a tiny Llama with random weights and the sp-bpe tokenizer, written under
 *   `test/.samples/` by `tiny-hub-model.ts`, the stand-in the fine-tuning guide serves from a local Hub.
 * Each sample is written to `test/.samples/` (git-ignored; imports then resolve from the docs package) and
 * imported, with what it prints captured. Samples read as samples: they print what the guide claims, and the
 * checks in `sample-checks.ts` (one per sample, keyed by page and position) assert those claims on the
 * printed lines. Finally, all samples are type-checked together, with `verbatimModuleSyntax` and
 * `erasableSyntaxOnly`, so they show no type errors and run under Node's type stripping as the installation
 * page says.
 *
 * The pages are found by listing `docs/guide/*.md` (and `docs/index.md`), so a new page is covered without
 * touching this file. A block fenced ```ts browser is the only kind left out: a page uses it for code that
 * needs a browser, and says so (the Web Worker guide's are bundled and run in Chromium by
 * `browser-worker.test.ts`). The same samples also run from the packed tarballs, outside the workspace, in
 * `tools/packed-install/test/docs-samples.test.ts`, with the same checks. Samples share one process: the backend a sample selects is reset afterwards.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inspect } from "node:util";
import { type StaticServer, serveDirectory } from "@peftjs/browser-testing";
import { getBackend, setBackend } from "@peftjs/tensor";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CodeSample, extractSamples, fenceLanguages, readSamples } from "./markdown-samples.js";
import { sampleChecks, sampleKey } from "./sample-checks.js";
import { writeTinyHubModel } from "./tiny-hub-model.js";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const storiesFolder = fileURLToPath(new URL("../../apps/peftjs/assets/stories260k", import.meta.url));
const samplesFolder = `${docsRoot}test/.samples/`;

/** Every guide page and the landing page, relative to `docs/`. */
const pages = [
  "index.md",
  ...(await readdir(`${docsRoot}guide`))
    .filter((file) => file.endsWith(".md"))
    .sort()
    .map((file) => `guide/${file}`),
];

const samples: (CodeSample & { key: string })[] = [];
for (const page of pages) {
  const onPage = await readSamples(docsRoot, page, "ts");
  samples.push(...onPage.map((sample, index) => ({ ...sample, key: sampleKey(page, index + 1) })));
}

/** The fence languages that are TypeScript or JavaScript: each such block must run (`ts`) or be browser-only. */
const scriptLanguage = /^(ts|typescript|tsx|js|javascript|mjs|jsx)\b/;

let server: StaticServer;
let initialBackend: string;

beforeAll(async () => {
  await rm(samplesFolder, { recursive: true, force: true });
  await mkdir(samplesFolder, { recursive: true });
  await writeFile(
    `${samplesFolder}tsconfig.json`,
    JSON.stringify({
      extends: "../../tsconfig.json",
      compilerOptions: { verbatimModuleSyntax: true, erasableSyntaxOnly: true },
      include: ["*.ts"],
    }),
  );
  await writeTinyHubModel(`${samplesFolder}tiny-llama`, `${docsRoot}test/fixtures/sp-bpe-tokenizer`);
  server = await serveDirectory(storiesFolder);
  initialBackend = getBackend();
});

afterEach(async () => {
  if (getBackend() !== initialBackend) await setBackend(initialBackend);
});

afterAll(async () => {
  await server?.close();
});

function substitute(code: string): string {
  return code
    .replaceAll('"./my-adapter"', JSON.stringify(`${samplesFolder}my-adapter`))
    .replaceAll('"./tiny-llama"', JSON.stringify(`${samplesFolder}tiny-llama`))
    .replaceAll('"./stories260k/', JSON.stringify(`${storiesFolder}/`).slice(0, -1))
    .replaceAll('"./stories260k"', JSON.stringify(storiesFolder))
    .replaceAll('"./examples/', JSON.stringify(`${docsRoot}test/fixtures/`).slice(0, -1))
    .replaceAll('"https://your.site/stories260k/"', JSON.stringify(server.url));
}

describe("guide samples", () => {
  it("finds the guide pages and their samples", () => {
    expect(pages).toEqual(expect.arrayContaining(["index.md", "guide/getting-started.md", "guide/state.md"]));
    expect(samples.some((sample) => sample.page === "guide/performance.md")).toBe(true);
  });

  it("extracts exactly the ts blocks, indented ones too", () => {
    const markdown = [
      "# Page",
      "```ts",
      "const a = 1;",
      "```",
      "- a list item:",
      "",
      "  ```ts",
      "  const b = 2;",
      "  ```",
      "```ts browser",
      "document.title;",
      "```",
      "```sh",
      "pnpm build",
      "```",
    ].join("\n");
    expect(extractSamples("page.md", markdown, "ts")).toEqual([
      { page: "page.md", line: 2, code: "const a = 1;" },
      { page: "page.md", line: 7, code: "  const b = 2;" },
    ]);
    expect(fenceLanguages(markdown)).toEqual(["ts", "ts", "ts browser", "sh"]);
  });

  it("leaves no TypeScript or JavaScript block out but those fenced ts browser", async () => {
    for (const page of pages) {
      const languages = fenceLanguages(await readFile(`${docsRoot}${page}`, "utf8"));
      const skipped = languages.filter(
        (language) => scriptLanguage.test(language) && language !== "ts" && language !== "ts browser",
      );
      expect(skipped, page).toEqual([]);
    }
  });

  it("keeps every code line of the guides within 110 columns", async () => {
    for (const page of [...pages, "demo.md"]) {
      const markdown = await readFile(`${docsRoot}${page}`, "utf8");
      const languages = new Set(fenceLanguages(markdown));
      const blocks = [...languages].map((language) => extractSamples(page, markdown, language));
      const long = blocks
        .flat()
        .flatMap((sample) => sample.code.split("\n"))
        .filter((line) => [...line].length > 110);
      expect(long, page).toEqual([]);
    }
  });

  it("has a check for every sample that makes a claim, and no check without its sample", () => {
    const keys = new Set(samples.map((sample) => sample.key));
    expect(Object.keys(sampleChecks).filter((key) => !keys.has(key))).toEqual([]);
    expect(Object.keys(sampleChecks).length).toBeGreaterThan(20);
  });

  it.each(samples.map((sample) => [`${sample.key} (line ${sample.line})`, sample] as const))(
    "%s runs and prints what the page says",
    async (_label, sample) => {
      const name = `${sample.page.replaceAll("/", "-").replace(/\.md$/, "")}-${sample.line}.ts`;
      const file = `${samplesFolder}${name}`;
      await writeFile(file, `${substitute(sample.code)}\nexport {};\n`);
      const printed: string[] = [];
      const log = console.log;
      console.log = (...values: unknown[]) => {
        printed.push(values.map((value) => (typeof value === "string" ? value : inspect(value))).join(" "));
      };
      try {
        await import(pathToFileURL(file).href);
      } finally {
        console.log = log;
      }
      const output = printed.join("\n");
      await writeFile(`${file.replace(/\.ts$/, "")}.out`, `${output}\n`);
      sampleChecks[sample.key]?.(output);
    },
  );

  it("type-checks every sample", () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", samplesFolder], { encoding: "utf8" });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  });
});
