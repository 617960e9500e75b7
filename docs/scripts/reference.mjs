/**
 * The API reference: one page per exported symbol of every package entry, rendered by typedoc (with
 * typedoc-plugin-markdown) from the packages' built declaration files and their TSDoc, plus
 * - on each symbol page, the import line and a link to the declaration in the repository's sources;
 * - per package, an index of its entry points; per entry, typedoc's list of every symbol by kind;
 * - `reference/index.md`: the most used symbols first, then the packages;
 * - `reference/sidebar.json`: the sidebar (package → entry → kind → symbol) that `.vitepress/config.ts` reads.
 * Everything is derived from the packages as built, so renamed or new exports need no edit here; a "most
 * used" name that no package exports any more is reported (and the docs test fails on it).
 */
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Application } from "typedoc";
import { sourceLocations } from "./source-locations.mjs";
import { repositoryRoot, repositoryUrl, sourceBranch, workspacePackages } from "./workspace-packages.mjs";

/** The symbols most readers look for first, in reading order, with what each is for. */
export const mostUsed = [
  ["LoraModel", "adapters on a model: add, load, activate, merge, save"],
  ["createLoraConfig", "an adapter configuration with PEFT's field names and defaults"],
  ["train", "fine-tune the trainable adapter tensors with AdamW"],
  ["loadModel", "load a model folder in Node (any registered model_type)"],
  ["loadModelFromUrl", "load a model over HTTP in the browser"],
  ["generate", "generate tokens (greedy or sampled, with a KV cache)"],
  ["loadPeftAdapter", "read a PEFT adapter folder in Node"],
  ["savePeftAdapter", "write a PEFT adapter folder in Node"],
  ["encodePeftAdapter", "an adapter folder's two files as bytes (browsers)"],
  ["convertToLora", "convert a trained PiSSA/OLoRA adapter to plain LoRA"],
  ["setBackend", "choose the compute backend (auto, wasm, gpu, js)"],
];

/** typedoc's reflection kinds of the pages it writes, by the folder it writes them to. */
const kindTitles = {
  classes: "Classes",
  interfaces: "Interfaces",
  functions: "Functions",
  "type-aliases": "Types",
  variables: "Constants",
  enumerations: "Enumerations",
};

/** The first paragraph of a reflection's TSDoc comment, as plain text. */
function summaryOf(reflection) {
  const comment = reflection.comment ?? reflection.signatures?.[0]?.comment;
  const text = (comment?.summary ?? []).map((part) => part.text).join("");
  return text
    .split(/\n\s*\n/)[0]
    .replace(/\s+/g, " ")
    .trim();
}

async function markdownFiles(folder, prefix = "") {
  const files = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory()) files.push(...(await markdownFiles(`${folder}/${entry.name}`, `${path}/`)));
    else if (entry.name.endsWith(".md")) files.push(path);
  }
  return files;
}

/**
 * VitePress's heading ids (`@mdit-vue/shared`'s slugify): typedoc writes `#rank_pattern` where VitePress
 * makes the id `rank-pattern`, so in-page links are rewritten to VitePress's form.
 */
export function vitepressSlug(text) {
  return (
    text
      .normalize("NFKD")
      .replace(/[\u0300-\u036F]/g, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: VitePress strips control characters; so do we
      .replace(/[\u0000-\u001f]/g, "")
      .replace(/[\s~`!@#$%^&*()\-_+=[\]{}|\\;:"'“”‘’<>,.?/]+/g, "-")
      .replace(/-{2,}/g, "-")
      .replace(/^-+|-+$/g, "")
      .replace(/^(\d)/, "_$1")
      .toLowerCase()
  );
}

const fixAnchors = (text) =>
  text.replace(/\]\(([^)#\s]*)#([^)\s]+)\)/g, (_, path, anchor) => `](${path}#${vitepressSlug(anchor)})`);

async function rewrite(file, edit) {
  await writeFile(file, edit(await readFile(file, "utf8")));
}

/** Renders one package into `reference/<folder>/` and returns what the index and the sidebar need. */
async function renderPackage(pkg, out, locations) {
  await rm(out, { recursive: true, force: true });
  const app = await Application.bootstrapWithPlugins({
    entryPoints: pkg.entries.map((entry) => entry.declarations),
    entryPointStrategy: "resolve",
    plugin: ["typedoc-plugin-markdown"],
    out,
    name: pkg.name,
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
    outputFileStrategy: "members",
    tsconfig: `${repositoryRoot}docs/scripts/typedoc.tsconfig.json`,
  });
  const project = await app.convert();
  if (project === undefined) throw new Error(`typedoc could not convert ${pkg.name}`);
  await app.generateOutputs(project);

  // With one entry typedoc writes its symbols at the top; with several, one folder per entry file name.
  const single = pkg.entries.length === 1;
  const entryFolder = (entry) =>
    single ? "" : `${entry.declarations.replace(/^.*\/dist\//, "").replace(/\.d\.ts$/, "")}/`;
  const moduleOf = (entry) =>
    single ? project : project.children.find((child) => `${child.name}/` === entryFolder(entry));
  const files = await markdownFiles(out);
  for (const file of files) await rewrite(`${out}/${file}`, fixAnchors);
  const entries = [];
  for (const entry of pkg.entries) {
    const folder = entryFolder(entry);
    const module = moduleOf(entry);
    const located = locations.get(entry.source) ?? new Map();
    const symbols = [];
    for (const file of files.filter((path) => path.startsWith(folder) && path !== `${folder}index.md`)) {
      const [kindFolder, fileName] = file.slice(folder.length).split("/");
      if (fileName === undefined || !(kindFolder in kindTitles)) continue;
      const name = fileName.replace(/\.md$/, "");
      const reflection = module?.children?.find((child) => child.name === name);
      const location = located.get(name);
      symbols.push({
        name,
        kind: kindFolder,
        link: `/reference/${pkg.folder}/${file.replace(/\.md$/, "")}`,
        summary: reflection === undefined ? "" : summaryOf(reflection),
        source: location,
      });
      await rewrite(`${out}/${file}`, (text) => {
        const lines = [`\`\`\`ts\nimport { ${name} } from "${entry.importPath}";\n\`\`\``];
        if (location !== undefined) {
          const url = `${repositoryUrl}/blob/${sourceBranch}/${location.file}#L${location.line}`;
          lines.push(`Source: [${location.file}:${location.line}](${url})`);
        }
        return text.replace(/^(# .*\n)/m, `$1\n${lines.join("\n\n")}\n`);
      });
    }
    await rewrite(`${out}/${folder}index.md`, (text) => text.replace(/^# .*$/m, `# ${entry.importPath}`));
    entries.push({ importPath: entry.importPath, link: `/reference/${pkg.folder}/${folder}`, symbols });
  }
  if (!single) {
    await writeFile(
      `${out}/index.md`,
      [
        `# ${pkg.name}`,
        "",
        pkg.description,
        "",
        "| import | symbols |",
        "| --- | --- |",
        ...entries.map((entry) => `| [\`${entry.importPath}\`](${entry.link}) | ${entry.symbols.length} |`),
        "",
      ].join("\n"),
    );
  }
  return { name: pkg.name, folder: pkg.folder, entries };
}

function sidebarOf(rendered) {
  const kindGroups = (symbols) =>
    Object.entries(kindTitles)
      .map(([kind, text]) => ({
        text,
        collapsed: true,
        items: symbols
          .filter((symbol) => symbol.kind === kind)
          .map((symbol) => ({ text: symbol.name, link: symbol.link })),
      }))
      .filter((group) => group.items.length > 0);
  return [
    { text: "Overview", link: "/reference/" },
    ...rendered.map((pkg) => ({
      text: pkg.name,
      collapsed: true,
      link: `/reference/${pkg.folder}/`,
      items:
        pkg.entries.length === 1
          ? kindGroups(pkg.entries[0].symbols)
          : pkg.entries.map((entry) => ({
              text: entry.importPath,
              collapsed: true,
              link: entry.link,
              items: kindGroups(entry.symbols),
            })),
    })),
  ];
}

/**
 * Writes `reference/` under `docsRoot`.
 * @returns {Promise<{ missing: string[], symbols: number }>} most-used names no package exports, symbol count
 */
export async function generateReference(docsRoot) {
  const packages = await workspacePackages();
  const locations = sourceLocations(packages.flatMap((pkg) => pkg.entries.map((entry) => entry.source)));
  const rendered = [];
  for (const pkg of packages) {
    rendered.push(await renderPackage(pkg, `${docsRoot}reference/${pkg.folder}`, locations));
  }
  const all = rendered.flatMap((pkg) =>
    pkg.entries.flatMap((entry) =>
      entry.symbols.map((symbol) => ({ ...symbol, importPath: entry.importPath })),
    ),
  );
  const found = mostUsed.map(([name, purpose]) => ({
    name,
    purpose,
    symbol: all.find((s) => s.name === name),
  }));
  const missing = found.filter((entry) => entry.symbol === undefined).map((entry) => entry.name);
  await writeFile(
    `${docsRoot}reference/index.md`,
    [
      "# API reference",
      "",
      "Every exported symbol of every package, one page each, generated from the TSDoc of the packages'",
      "published declaration files; each page links to its source. Search (`/` or Ctrl K) finds any of them.",
      "",
      "## Most used",
      "",
      "| symbol | import from | for |",
      "| --- | --- | --- |",
      ...found
        .filter((entry) => entry.symbol !== undefined)
        .map(
          ({ name, purpose, symbol }) =>
            `| [\`${name}\`](${symbol.link}) | \`${symbol.importPath}\` | ${purpose} |`,
        ),
      "",
      "## Packages",
      "",
      "| package | entry points | symbols |",
      "| --- | --- | --- |",
      ...rendered.map(
        (pkg) =>
          `| [${pkg.name}](/reference/${pkg.folder}/) | ${pkg.entries
            .map((entry) => `[\`${entry.importPath}\`](${entry.link})`)
            .join(", ")} | ${pkg.entries.reduce((sum, entry) => sum + entry.symbols.length, 0)} |`,
      ),
      "",
    ].join("\n"),
  );
  await writeFile(`${docsRoot}reference/sidebar.json`, `${JSON.stringify(sidebarOf(rendered), null, 1)}\n`);
  await writeFile(
    `${docsRoot}reference/symbols.json`,
    `${JSON.stringify({ mostUsed: found.map((entry) => entry.name), missing, symbols: all }, null, 1)}\n`,
  );
  return { missing, symbols: all.length };
}
