/**
 * Prepares the generated parts of the docs site before `vitepress build`:
 * - `reference/<package>/`: the API of every package, rendered to markdown by typedoc from the packages'
 *   built declaration files (`dist/*.d.ts`, with their TSDoc), one folder per package;
 * - `public/stories260k/`: the embedded stories260K model (config, weights, tokenizer, LICENSE, and a one-shard
 *   `model.safetensors.index.json`), which the in-browser demo loads with `loadLlamaFromUrl`.
 * - `public/examples/pissa-peft/`: a PiSSA adapter trained by Python PEFT (from `test/fixtures/pissa-peft/`),
 *   which the guide "Converting a PEFT PiSSA adapter" uses.
 * All are git-ignored. Run after `turbo build` (the docs package depends on every @peftjs package, so turbo
 * builds them first).
 */

import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Application } from "typedoc";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));
const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));

/** Each package's public entry points (the `exports` map), as built declaration files. */
export const referencePackages = [
  { name: "io", title: "@peftjs/io", entries: ["index", "node"] },
  { name: "tensor", title: "@peftjs/tensor", entries: ["index", "testing"] },
  { name: "linalg", title: "@peftjs/linalg", entries: ["index"] },
  { name: "state", title: "@peftjs/state", entries: ["index", "node"] },
  { name: "adapters", title: "@peftjs/adapters", entries: ["index", "node"] },
  { name: "models", title: "@peftjs/models", entries: ["index", "node"] },
  { name: "gguf", title: "@peftjs/gguf", entries: ["index", "node"] },
];

async function generateReference(pkg) {
  const entryPoints = pkg.entries.map((entry) => `${repositoryRoot}packages/${pkg.name}/dist/${entry}.d.ts`);
  for (const entry of entryPoints) {
    if (!existsSync(entry))
      throw new Error(`${entry} is missing: run \`pnpm build\` (turbo) at the repository root first`);
  }
  const out = `${docsRoot}reference/${pkg.name}`;
  await rm(out, { recursive: true, force: true });
  const app = await Application.bootstrapWithPlugins({
    entryPoints,
    entryPointStrategy: "resolve",
    plugin: ["typedoc-plugin-markdown"],
    out,
    name: pkg.title,
    readme: "none",
    hideGenerator: true,
    disableSources: true,
    excludePrivate: true,
    excludeInternal: true,
    skipErrorChecking: true,
    logLevel: "Warn",
    entryFileName: "index",
    hidePageHeader: true,
    hideBreadcrumbs: true,
    useCodeBlocks: true,
    outputFileStrategy: "modules",
    tsconfig: `${docsRoot}scripts/typedoc.tsconfig.json`,
  });
  const project = await app.convert();
  if (project === undefined) throw new Error(`typedoc could not convert ${pkg.title}`);
  await app.generateOutputs(project);
  await retitle(pkg, out);
}

/** typedoc names multi-entry modules after their files ("index", "node"): give them their import paths. */
async function retitle(pkg, out) {
  if (pkg.entries.length === 1) {
    await rewrite(`${out}/index.md`, (text) => text.replace(/^# .*$/m, `# ${pkg.title}`));
    return;
  }
  const moduleTitle = (entry) => (entry === "index" ? pkg.title : `${pkg.title}/${entry}`);
  const fileOf = (entry) => (entry === "index" ? "index-1.md" : `${entry}.md`);
  await rewrite(`${out}/index.md`, (text) => {
    let result = text;
    for (const entry of pkg.entries)
      result = result.replace(
        `[${entry}](${fileOf(entry)})`,
        `[${moduleTitle(entry)}](./${fileOf(entry).replace(/\.md$/, "")})`,
      );
    return result;
  });
  for (const entry of pkg.entries) {
    await rewrite(`${out}/${fileOf(entry)}`, (text) => text.replace(/^# .*$/m, `# ${moduleTitle(entry)}`));
  }
}

async function rewrite(file, edit) {
  await writeFile(file, edit(await readFile(file, "utf8")));
}

async function copyStoriesModel() {
  const source = `${repositoryRoot}apps/peftjs/assets/stories260k/`;
  const target = `${docsRoot}public/stories260k/`;
  await mkdir(target, { recursive: true });
  for (const file of ["config.json", "model.safetensors", "tok512.bin", "LICENSE"]) {
    await copyFile(`${source}${file}`, `${target}${file}`);
  }
  // A one-shard index: `loadLlamaFromUrl` asks for it first, and a 404 would be a console error in browsers.
  const weights = await readFile(`${source}model.safetensors`);
  const headerLength = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLength).toString("utf8"));
  const names = Object.keys(header)
    .filter((name) => name !== "__metadata__")
    .sort();
  const index = {
    metadata: { total_size: weights.length - 8 - headerLength },
    weight_map: Object.fromEntries(names.map((name) => [name, "model.safetensors"])),
  };
  await writeFile(`${target}model.safetensors.index.json`, `${JSON.stringify(index, null, 2)}\n`);
}

/** The PEFT-made example adapters the guides use (kept in test/fixtures, byte for byte, away from the formatter). */
async function copyExamples() {
  const source = `${docsRoot}test/fixtures/pissa-peft/`;
  const target = `${docsRoot}public/examples/pissa-peft/`;
  for (const folder of ["adapter_init", "adapter_trained"]) {
    await mkdir(`${target}${folder}`, { recursive: true });
    for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
      await copyFile(`${source}${folder}/${file}`, `${target}${folder}/${file}`);
    }
  }
  for (const file of ["README.md", "LICENSE"]) await copyFile(`${source}${file}`, `${target}${file}`);
}

const started = Date.now();
await copyStoriesModel();
await copyExamples();
for (const pkg of referencePackages) await generateReference(pkg);
await writeFile(
  `${docsRoot}reference/index.md`,
  [
    "# API reference",
    "",
    "Generated by typedoc from the TSDoc of each package's published declaration files.",
    "",
    ...referencePackages.map((pkg) => `- [${pkg.title}](./${pkg.name}/)`),
    "",
  ].join("\n"),
);
console.log(`docs: reference and demo assets prepared in ${((Date.now() - started) / 1000).toFixed(1)} s`);
