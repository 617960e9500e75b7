/**
 * The tables of the "What fits" page, generated from the code's registries at build time so that they never
 * fall behind it: init methods from `@peftjs/adapters`' init registry (and which of PEFT's `init_lora_weights`
 * values each handles) and its LoRA variants, model architectures from `@peftjs/models`' architecture registry,
 * tokenizers from the tokenizer classes `@peftjs/models` exports, backends from `@peftjs/tensor`'s registry.
 * Written to `generated/` (git-ignored, excluded from the pages), which `guide/what-fits.md` includes.
 */
import { mkdir, writeFile } from "node:fs/promises";
import * as adapters from "@peftjs/adapters";
import * as models from "@peftjs/models";
import * as tensor from "@peftjs/tensor";

/** PEFT 0.21's `init_lora_weights` values (LoraConfig's documentation), with K = 4 for the iteration count. */
export const peftInitValues = [
  true,
  false,
  "gaussian",
  "pissa",
  "pissa_niter_4",
  "olora",
  "eva",
  "corda",
  "loftq",
];

const yesNo = (value) => (value ? "yes" : "no");
const code = (value) => `\`${typeof value === "string" ? JSON.stringify(value) : String(value)}\``;
const table = (header, rows) =>
  [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");

/** The init method that handles a PEFT init value, or undefined. */
function initMethodOf(init) {
  try {
    return adapters.initMethodFor(init).name;
  } catch {
    return undefined;
  }
}

/** The rows each table holds, as plain data (the docs test compares them with the registries). */
export function whatFitsData() {
  if (typeof adapters.listInitMethods !== "function" || typeof adapters.listLoraVariants !== "function")
    throw new Error("@peftjs/adapters no longer exports its registries: update docs/scripts/what-fits.mjs");
  // The built-in init methods, in the order src/inits/index.ts lists them (PEFT's default first).
  const initMethods = adapters.listInitMethods().map((method) => ({
    name: method.name,
    description: method.description,
    readsBaseWeight: method.readsBaseWeight,
    movesBaseWeight: method.movesBaseWeight,
    inits: peftInitValues.filter((init) => initMethodOf(init) === method.name),
  }));
  const unsupportedInits = peftInitValues.filter((init) => initMethodOf(init) === undefined);
  const variants = adapters.listLoraVariants().map((variant) => ({
    name: variant.name,
    description: variant.description,
    configField: variant.configField ?? null,
  }));
  const architectures = [...models.listArchitectures()];
  const tokenizers = Object.entries(models)
    .filter(([name, value]) => /Tokenizer$/.test(name) && typeof value === "function")
    .map(([name]) => name)
    .sort();
  const backends = tensor
    .listBackends()
    .map((backend) => ({ name: backend.name, priority: backend.priority }))
    .sort((a, b) => b.priority - a.priority);
  return { initMethods, variants, unsupportedInits, architectures, tokenizers, backends };
}

/**
 * Writes the tables into `<docsRoot>generated/`; `linkOf(name)` gives a symbol's reference page, if any.
 */
export async function generateWhatFits(docsRoot, linkOf) {
  const data = whatFitsData();
  const folder = `${docsRoot}generated/`;
  await mkdir(folder, { recursive: true });
  await writeFile(
    `${folder}adapter-methods.md`,
    `${table(
      [
        "init method",
        "PEFT `init_lora_weights`",
        "reads W",
        "moves part of W into the adapter",
        "what it is",
      ],
      data.initMethods.map((method) => [
        `\`${method.name}\``,
        method.inits.map(code).join(", ") || "—",
        yesNo(method.readsBaseWeight),
        method.movesBaseWeight ? "yes: overlay mode, residual mode or conversion" : "no",
        method.description,
      ]),
    )}\n\nRefused with \`UnsupportedLoraOptionError\` (PEFT has them, peftjs does not yet): ${
      data.unsupportedInits.map(code).join(", ") || "none"
    }.\n\nLoRA variants (how the adapter's parameters act in a layer, selected by a config field): ${data.variants
      .map(
        (variant) =>
          `\`${variant.name}\` (${variant.configField === null ? "the default" : `\`${variant.configField}\``}: ${variant.description})`,
      )
      .join(", ")}.\n`,
  );
  await writeFile(
    `${folder}architectures.md`,
    `${table(
      ["`model_type` (config.json)", "loads"],
      data.architectures.map((type) => [
        `\`${type}\``,
        "config.json + safetensors weights (one file or shards)",
      ]),
    )}\n`,
  );
  await writeFile(
    `${folder}tokenizers.md`,
    `${table(
      ["tokenizer", "import"],
      data.tokenizers.map((name) => [
        linkOf(name) === undefined ? `\`${name}\`` : `[\`${name}\`](${linkOf(name)})`,
        "`@peftjs/models`",
      ]),
    )}\n`,
  );
  await writeFile(
    `${folder}backends.md`,
    `${table(
      ["backend", "priority under `auto`"],
      data.backends.map((backend) => [`\`${backend.name}\``, String(backend.priority)]),
    )}\n`,
  );
  await writeFile(`${folder}what-fits.json`, `${JSON.stringify(data, null, 1)}\n`);
  return data;
}
