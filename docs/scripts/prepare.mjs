/**
 * Prepares the generated parts of the docs site before `vitepress build` (all git-ignored):
 * - `reference/`: one page per exported symbol of every package, from the built declaration files
 *   (`scripts/reference.mjs`), with the sidebar it needs;
 * - `generated/`: the "What fits" tables from the code's registries (`scripts/what-fits.mjs`) and the
 *   changelog from changesets (`scripts/changelog.mjs`), included by `guide/what-fits.md` and `changelog.md`;
 * - `public/stories260k/`: the embedded stories260K model (config, weights, tokenizer, LICENSE, and a one-shard
 *   `model.safetensors.index.json`), which the in-browser demo loads with `loadModelFromUrl`;
 * - `public/examples/`: the adapters Python PEFT trained for stories260K (from `test/fixtures/`), which the
 *   guides load, and the generated `notes.jsonl` the fine-tuning guide trains on.
 * Run after `turbo build` (the docs package depends on every @peftjs package, so turbo builds them first).
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { generateChangelog } from "./changelog.mjs";
import { generateReference } from "./reference.mjs";
import { generateWhatFits } from "./what-fits.mjs";
import { repositoryRoot } from "./workspace-packages.mjs";

const docsRoot = fileURLToPath(new URL("../", import.meta.url));

async function copyStoriesModel() {
  const source = `${repositoryRoot}apps/peftjs/assets/stories260k/`;
  const target = `${docsRoot}public/stories260k/`;
  await mkdir(target, { recursive: true });
  for (const file of ["config.json", "model.safetensors", "tok512.bin", "LICENSE"]) {
    await copyFile(`${source}${file}`, `${target}${file}`);
  }
  // A one-shard index: `loadModelFromUrl` asks for it first, and a 404 would be a console error in browsers.
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
  const examples = {
    "pissa-peft": ["adapter_init", "adapter_trained"],
    "lora-peft": ["adapter_trained"],
  };
  for (const [example, folders] of Object.entries(examples)) {
    const source = `${docsRoot}test/fixtures/${example}/`;
    const target = `${docsRoot}public/examples/${example}/`;
    for (const folder of folders) {
      await mkdir(`${target}${folder}`, { recursive: true });
      for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
        await copyFile(`${source}${folder}/${file}`, `${target}${folder}/${file}`);
      }
    }
    for (const file of ["README.md", "LICENSE"]) await copyFile(`${source}${file}`, `${target}${file}`);
  }
  // The generated stories the fine-tuning guide trains on.
  await copyFile(`${docsRoot}test/fixtures/notes.jsonl`, `${docsRoot}public/examples/notes.jsonl`);
}

const started = Date.now();
await copyStoriesModel();
await copyExamples();
const reference = await generateReference(docsRoot);
if (reference.missing.length > 0) {
  console.warn(
    `docs: "most used" names no package exports: ${reference.missing.join(", ")} (scripts/reference.mjs)`,
  );
}
const symbols = JSON.parse(await readFile(`${docsRoot}reference/symbols.json`, "utf8")).symbols;
await generateWhatFits(docsRoot, (name) => symbols.find((symbol) => symbol.name === name)?.link);
await generateChangelog(docsRoot);
console.log(
  `docs: ${reference.symbols} reference pages, what-fits tables, changelog and demo assets prepared in ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s`,
);
