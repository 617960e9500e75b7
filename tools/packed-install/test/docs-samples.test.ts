/**
 * The documentation's samples as a user runs them: every ```ts block of `docs/index.md` and `docs/guide/*.md`
 * (the blocks `docs/test/samples.test.ts` runs inside the workspace) is type-checked and run from a fresh
 * project where only the packed tarballs are installed — so a sample that works only because the workspace
 * resolves a package's sources, a missing export, or a dependency left out of a manifest fails here.
 *
 * The project is laid out as the pages tell a reader: `stories260k/` made with `npx peftjs embedded`, the
 * site's `/examples/` files in `examples/` (copied from `docs/test/fixtures/`), the fine-tuning guide's tiny
 * model in `tiny-llama/` (made by the docs' own `tiny-hub-model.ts`), and `https://your.site/stories260k/`
 * served from the project by a local server — the only change made to a sample's code. Third-party packages
 * that a sample imports (`node-llama-cpp` on the GGUF page, `vite` for a config) are installed at the
 * version the workspace pins. Each sample runs in its own Node process, one after another in page order (later samples may
 * read what earlier ones wrote, e.g. `./my-adapter`), and what it prints must pass the same check as in the
 * workspace (`docs/test/sample-checks.ts`).
 */
import { cp, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type StaticServer, serveDirectory } from "@peftjs/browser-testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sampleChecks, sampleKey } from "../../../docs/test/sample-checks.js";
import { writeTinyHubModel } from "../../../docs/test/tiny-hub-model.js";
import {
  createPackedProject,
  extractCodeBlocks,
  type PackedProject,
  packPackages,
  workspaceRoot,
} from "../src/index.js";

const docsRoot = join(workspaceRoot, "docs");
const pages = [
  "index.md",
  ...(await readdir(join(docsRoot, "guide")))
    .filter((file) => file.endsWith(".md"))
    .sort()
    .map((file) => `guide/${file}`),
];

interface Sample {
  readonly key: string;
  readonly file: string;
  readonly line: number;
  readonly code: string;
}

const samples: Sample[] = [];
for (const page of pages) {
  const blocks = extractCodeBlocks(await readFile(join(docsRoot, page), "utf8")).filter(
    (block) => block.language === "ts",
  );
  for (const [index, block] of blocks.entries()) {
    const file = `${page.replace("/", "-").replace(/\.md$/, "")}-${index + 1}`;
    samples.push({ key: sampleKey(page, index + 1), file, line: block.line, code: block.code });
  }
}

/**
 * Packages a sample imports that are neither peftjs's nor Node's, at the version the workspace pins (the docs
 * package's, else the browser-testing harness's, e.g. `vite`).
 */
async function thirdPartyImports(): Promise<string[]> {
  const pinned: Record<string, string> = {};
  for (const folder of ["tools/browser-testing", "docs"]) {
    const manifest = JSON.parse(await readFile(join(workspaceRoot, folder, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    Object.assign(pinned, manifest.dependencies, manifest.devDependencies);
  }
  const names = new Set(
    samples.flatMap((sample) =>
      [...sample.code.matchAll(/^import [^;]*? from "([^"]+)";$/gm)]
        .map((match) => match[1] as string)
        .filter((name) => !/^(@peftjs\/|peftjs$|node:|\.)/.test(name))
        .map((name) => (name.startsWith("@") ? name.split("/").slice(0, 2) : name.split("/").slice(0, 1)))
        .map((parts) => parts.join("/")),
    ),
  );
  // Optional peer dependencies a page tells the reader to install (the backends page: gpu.js).
  const texts = await Promise.all(pages.map((page) => readFile(join(docsRoot, page), "utf8")));
  for (const [, name] of texts.join("\n").matchAll(/`npm install (gpu\.js)@[\d.]+`/g)) names.add(name!);
  return [...names].sort().map((name) => {
    const version = pinned[name];
    if (version === undefined)
      throw new Error(`a docs sample imports ${name}, which docs/package.json lacks`);
    return `${name}@${version}`;
  });
}

let project: PackedProject;
let server: StaticServer;

beforeAll(async () => {
  project = await createPackedProject(await packPackages());
  const extra = await thirdPartyImports();
  if (extra.length > 0) {
    const installed = project.exec("npm", [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      ...extra,
    ]);
    expect(installed.code, installed.stderr).toBe(0);
  }
  const prepared = project.exec("npx", ["--offline", "peftjs", "embedded", "--out", "stories260k"]);
  expect(prepared.code, prepared.stderr).toBe(0);
  await cp(join(docsRoot, "test/fixtures"), join(project.directory, "examples"), { recursive: true });
  await writeTinyHubModel(
    join(project.directory, "tiny-llama"),
    join(docsRoot, "test/fixtures/sp-bpe-tokenizer"),
  );
  server = await serveDirectory(join(project.directory, "stories260k"));
  for (const sample of samples) {
    const code = sample.code.replaceAll('"https://your.site/stories260k/"', JSON.stringify(server.url));
    await project.writeFile(`${sample.file}.mts`, `${code}\nexport {};\n`);
  }
  // One compiler run for every sample, with the settings the installation page recommends for type stripping.
  // skipLibCheck: node-llama-cpp's own declarations do not compile strictly (peftjs's are checked, strictly,
  // by readmes.test.ts).
  project.compile(
    samples.map((sample) => `${sample.file}.mts`),
    {
      verbatimModuleSyntax: true,
      erasableSyntaxOnly: true,
      skipLibCheck: true,
      lib: ["es2022", "dom", "dom.iterable"],
    },
  );
});

afterAll(async () => {
  await server?.close();
  await project?.dispose();
});

describe("docs samples, from the packed packages", () => {
  it("finds the guide pages' samples", () => {
    expect(pages).toEqual(expect.arrayContaining(["index.md", "guide/getting-started.md"]));
    expect(samples.length).toBeGreaterThan(20);
  });

  it.each(samples.map((sample) => [`${sample.key} (line ${sample.line})`, sample] as const))(
    "%s runs and prints what the page says",
    async (_label, sample) => {
      const { stdout } = await project.run(`${sample.file}.mjs`);
      sampleChecks[sample.key]?.(stdout.replace(/\n$/, ""));
    },
  );
});
