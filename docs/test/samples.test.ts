/**
 * Every ```ts sample of the guides runs here, in Node, against the built packages — so the guides cannot rot.
 * Samples are written as real programs with two documented placeholders that this test substitutes:
 * - `"./stories260k"`: the folder of the embedded stories260K model (`apps/peftjs/assets/stories260k/` in a
 *   clone), and `"./examples/…"`: the example files the site serves at `/examples/` (kept in
 *   `docs/test/fixtures/`, copied into `public/` by `scripts/prepare.mjs`);
 * - `"https://your.site/stories260k/"`: where a browser page finds the model; here a local HTTP server
 *   serving that folder, so `loadLlamaFromUrl` runs for real.
 * Each sample is written to `test/.samples/` (git-ignored; imports then resolve from the docs package) and
 * imported; a sample fails the test by throwing (samples check what the guide claims and throw otherwise).
 * Finally, all samples are type-checked together with the docs' tsconfig, so they show no type errors either.
 */
import { spawnSync } from "node:child_process";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CodeSample, readSamples } from "./markdown-samples.js";
import { type StaticServer, serveDirectory } from "./static-server.js";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const storiesFolder = fileURLToPath(new URL("../../apps/peftjs/assets/stories260k", import.meta.url));
const samplesFolder = `${docsRoot}test/.samples/`;

/** The guide pages whose ts samples must run. */
const pages = [
  "guide/what-is-peftjs.md",
  "guide/getting-started.md",
  "guide/concepts.md",
  "guide/convert-pissa.md",
  "guide/merging.md",
  "guide/many-adapters.md",
];

const samples: CodeSample[] = [];
for (const page of pages) samples.push(...(await readSamples(docsRoot, page, "ts")));

let server: StaticServer;

beforeAll(async () => {
  await rm(samplesFolder, { recursive: true, force: true });
  await mkdir(samplesFolder, { recursive: true });
  await writeFile(
    `${samplesFolder}tsconfig.json`,
    JSON.stringify({ extends: "../../tsconfig.json", include: ["*.ts"] }),
  );
  server = await serveDirectory(storiesFolder);
});

afterAll(async () => {
  await server?.close();
});

function substitute(code: string): string {
  return code
    .replaceAll('"./stories260k"', JSON.stringify(storiesFolder))
    .replaceAll('"./examples/', JSON.stringify(`${docsRoot}test/fixtures/`).slice(0, -1))
    .replaceAll('"https://your.site/stories260k/"', JSON.stringify(server.url));
}

describe("guide samples", () => {
  it("finds samples on every guide page", () => {
    const pagesWithSamples = new Set(samples.map((sample) => sample.page));
    expect([...pagesWithSamples].sort()).toEqual(
      pages.filter((page) => page !== "guide/what-is-peftjs.md").sort(),
    );
  });

  it.each(samples.map((sample) => [`${sample.page}:${sample.line}`, sample] as const))(
    "%s runs",
    async (_label, sample) => {
      const name = `${sample.page.replaceAll("/", "-").replace(/\.md$/, "")}-${sample.line}.ts`;
      const file = `${samplesFolder}${name}`;
      await writeFile(file, `${substitute(sample.code)}\nexport {};\n`);
      await import(pathToFileURL(file).href);
    },
  );

  it("type-checks every sample", () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", samplesFolder], { encoding: "utf8" });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  });
});
