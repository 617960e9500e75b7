/**
 * The packages as a user gets them: every publishable package is packed, its tarball npm-installed into a
 * fresh project outside the workspace, and there
 * - every ```ts block of every package README is type-checked and run, once as an ES module and once as
 *   CommonJS (its statements wrapped in an async function, since CommonJS has no top-level await);
 * - `instanceof` holds across the entries of each package (`./node`, `./testing`) in both module systems;
 * - the subpath entries type-check under `moduleResolution: node10` (`typesVersions`);
 * - each README says how to install the package and links only to absolute URLs (the tarball has no repo).
 *
 * READMEs follow the user's path: `stories260k/` is made with `npx peftjs embedded --out stories260k`, as the
 * READMEs say, and `https://your.site/` is served from the project folder by a local server.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type StaticServer, serveDirectory } from "@peftjs/browser-testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createPackedProject,
  extractCodeBlocks,
  type PackedPackage,
  type PackedProject,
  packPackages,
  workspaceRoot,
} from "../src/index.js";

const readmes = ["packages", "apps"].flatMap((group) =>
  readdirSync(join(workspaceRoot, group)).map((name) => join(group, name)),
);
const publishable = readmes.filter(
  (folder) => !JSON.parse(readFileSync(join(workspaceRoot, folder, "package.json"), "utf8")).private,
);

interface Sample {
  readonly id: string;
  readonly readme: string;
  readonly line: number;
  readonly code: string;
}

const samples: Sample[] = publishable.flatMap((folder) =>
  extractCodeBlocks(readFileSync(join(workspaceRoot, folder, "README.md"), "utf8"))
    .filter((block) => block.language === "ts")
    .map((block, index) => ({
      id: `${folder.replace("/", "-")}-${index + 1}`,
      readme: `${folder}/README.md`,
      line: block.line,
      code: block.code,
    })),
);

/** The same program as CommonJS: imports stay on top, the statements run in an async function. */
function asCommonJs(code: string): string {
  const lines = code.split("\n");
  const imports: string[] = [];
  const body: string[] = [];
  let inImport = false;
  for (const line of lines) {
    if (inImport || /^import\s/.test(line)) {
      imports.push(line);
      inImport = !/from\s+["'][^"']+["'];?\s*$/.test(line) && !/^import\s+["']/.test(line);
    } else body.push(line);
  }
  return `${imports.join("\n")}\n\n(async () => {\n${body.join("\n")}\n})().catch((error: unknown) => {\n  console.error(error);\n  process.exit(1);\n});\n`;
}

/** For each package: code that throws unless an object made by one entry is an instance of another's class. */
const entryChecks: Record<string, { imports: string; body: string }> = {
  io: {
    imports: `import { FileSystemError, PeftjsError } from "@peftjs/io";\nimport { readJsonFile } from "@peftjs/io/node";`,
    body: `const error = await readJsonFile("missing.json").catch((caught: unknown) => caught);
if (!(error instanceof FileSystemError) || !(error instanceof PeftjsError)) throw new Error("io: not the main entry's class");`,
  },
  models: {
    imports: `import { LlamaForCausalLM } from "@peftjs/models";\nimport { loadModel } from "@peftjs/models/node";`,
    body: `const model = await loadModel("stories260k");
if (!(model instanceof LlamaForCausalLM)) throw new Error("models: loadModel's model is not the main entry's LlamaForCausalLM");`,
  },
  adapters: {
    imports: `import { LoraConfigError } from "@peftjs/adapters";\nimport { loadPeftAdapter } from "@peftjs/adapters/node";\nimport { PeftjsError, serialize } from "@peftjs/io";\nimport { writeFileSync, mkdirSync } from "node:fs";`,
    body: `mkdirSync("bad-adapter", { recursive: true });
writeFileSync("bad-adapter/adapter_config.json", JSON.stringify({ peft_type: "LORA", r: -1 }));
writeFileSync("bad-adapter/adapter_model.safetensors", serialize({}));
const error = await loadPeftAdapter("bad-adapter").catch((caught: unknown) => caught);
if (!(error instanceof LoraConfigError) || !(error instanceof PeftjsError)) throw new Error("adapters: not the main entry's class: " + String(error));`,
  },
  state: {
    imports: `import { WeightStore } from "@peftjs/state";\nimport { readSnapshotFile, writeSnapshotFile } from "@peftjs/state/node";\nimport { readSafetensorsFile } from "@peftjs/io/node";`,
    body: `const store = WeightStore.from((await readSafetensorsFile("stories260k/model.safetensors")).tensors);
await writeSnapshotFile("snapshot.safetensors", store.snapshot("s"));
const again = WeightStore.fromSnapshot(await readSnapshotFile("snapshot.safetensors"));
if (!(again instanceof WeightStore) || again.modelFingerprint() !== store.modelFingerprint()) throw new Error("state: snapshot round trip");`,
  },
  gguf: {
    imports: `import { GgufFormatError } from "@peftjs/gguf";\nimport { openGgufFile } from "@peftjs/gguf/node";\nimport { PeftjsError } from "@peftjs/io";\nimport { writeFileSync } from "node:fs";`,
    body: `writeFileSync("not.gguf", "not a gguf file at all");
const error = await openGgufFile("not.gguf").catch((caught: unknown) => caught);
if (!(error instanceof GgufFormatError) || !(error instanceof PeftjsError)) throw new Error("gguf: not the main entry's class: " + String(error));`,
  },
  tensor: {
    imports: `import { Tensor, tensor } from "@peftjs/tensor";\nimport * as testing from "@peftjs/tensor/testing";`,
    body: `const made = tensor([1, 2], [2]);
if (!(made instanceof Tensor)) throw new Error("tensor: not a Tensor");
if (Object.keys(testing).length === 0) throw new Error("tensor/testing: empty entry");`,
  },
};

let packed: PackedPackage[];
let project: PackedProject;
let server: StaticServer;

beforeAll(async () => {
  packed = await packPackages();
  project = await createPackedProject(packed);
  const prepared = project.exec("npx", ["--offline", "peftjs", "embedded", "--out", "stories260k"]);
  expect(prepared.code, prepared.stderr).toBe(0);
  server = await serveDirectory(project.directory);
  const substitute = (code: string) => code.replaceAll("https://your.site/", server.url);
  const files: string[] = [];
  for (const sample of samples) {
    await project.writeFile(`${sample.id}.mts`, substitute(sample.code));
    await project.writeFile(`${sample.id}.cts`, asCommonJs(substitute(sample.code)));
    files.push(`${sample.id}.mts`, `${sample.id}.cts`);
  }
  for (const [name, check] of Object.entries(entryChecks)) {
    const esm = `${check.imports}\n\n${check.body}\n`;
    await project.writeFile(`entries-${name}.mts`, esm);
    await project.writeFile(`entries-${name}.cts`, asCommonJs(esm));
    files.push(`entries-${name}.mts`, `entries-${name}.cts`);
  }
  // One compiler run for everything (type errors in any README block fail here, naming the file and line).
  project.compile(files);
});

afterAll(async () => {
  await server?.close();
  await project?.dispose();
});

describe("package READMEs, from the packed packages", () => {
  it("finds every publishable package and its ts blocks", () => {
    const names = publishable.map(
      (folder) => JSON.parse(readFileSync(join(workspaceRoot, folder, "package.json"), "utf8")).name,
    );
    expect(packed.map((entry) => entry.name).sort()).toEqual(names.sort());
    expect(names).toEqual(
      expect.arrayContaining(["@peftjs/io", "@peftjs/models", "@peftjs/adapters", "peftjs"]),
    );
    expect(samples.length).toBeGreaterThanOrEqual(10);
  });

  it.each(publishable)("%s/README.md says how to install it and links only to absolute URLs", (folder) => {
    const readme = readFileSync(join(workspaceRoot, folder, "README.md"), "utf8");
    const { name } = JSON.parse(readFileSync(join(workspaceRoot, folder, "package.json"), "utf8"));
    expect(readme).toMatch(new RegExp(`npm install (-g )?${name.replace("/", "\\/")}\\b`));
    const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)]
      .map((match) => match[1] as string)
      .filter((target) => !/^(https?:|#)/.test(target));
    expect(relative).toEqual([]);
  });

  it.each(samples.map((sample) => [`${sample.readme}:${sample.line}`, sample] as const))(
    "runs %s as an ES module and as CommonJS",
    async (_label, sample) => {
      await project.run(`${sample.id}.mjs`);
      await project.run(`${sample.id}.cjs`);
    },
  );
});

describe("entries of the packed packages", () => {
  it.each(Object.keys(entryChecks))(
    "%s: instanceof holds across entries in ESM and CommonJS",
    async (name) => {
      await project.run(`entries-${name}.mjs`);
      await project.run(`entries-${name}.cjs`);
    },
  );

  it("resolves the subpath entries' types under moduleResolution node10 (typesVersions)", async () => {
    await project.writeFile(
      "node10.ts",
      [
        `import { readJsonFile } from "@peftjs/io/node";`,
        `import { loadModel } from "@peftjs/models/node";`,
        `import { loadPeftAdapter } from "@peftjs/adapters/node";`,
        `import { readSnapshotFile } from "@peftjs/state/node";`,
        `import * as testing from "@peftjs/tensor/testing";`,
        `import { openGgufFile } from "@peftjs/gguf/node";`,
        `export const used = [readJsonFile, loadModel, loadPeftAdapter, readSnapshotFile, testing, openGgufFile];`,
      ].join("\n"),
    );
    project.compile(["node10.ts"], {
      module: "commonjs",
      moduleResolution: "node10",
      noEmit: true,
      outDir: "node10",
    });
  });
});
