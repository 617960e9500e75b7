/**
 * The tables of the "What fits" page, generated from the code's registries at build time so that they never
 * fall behind it: adapter methods from `@peftjs/adapters`' variant registry (and which of PEFT's
 * `init_lora_weights` values each handles), model architectures from `@peftjs/models`' architecture registry,
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

/** The variant that handles a PEFT init value, or undefined. */
function variantOf(init) {
  try {
    return adapters.variantForInit(init).name;
  } catch {
    return undefined;
  }
}

/** The rows each table holds, as plain data (the docs test compares them with the registries). */
export function whatFitsData() {
  if (typeof adapters.listAdapterVariants !== "function")
    throw new Error(
      "@peftjs/adapters no longer exports listAdapterVariants: update docs/scripts/what-fits.mjs",
    );
  // The registry lists the newest registration first; the table reads in registration order (LoRA first).
  const variants = [...adapters.listAdapterVariants()].reverse().map((variant) => ({
    name: variant.name,
    description: variant.description,
    readsBaseWeight: variant.readsBaseWeight,
    movesBaseWeight: variant.movesBaseWeight,
    inits: peftInitValues.filter((init) => variantOf(init) === variant.name),
  }));
  const unsupportedInits = peftInitValues.filter((init) => variantOf(init) === undefined);
  // Before the model_type registry existed, the one architecture was Llama (parseLlamaConfig).
  const architectures =
    typeof models.listArchitectures === "function" ? [...models.listArchitectures()] : ["llama"];
  const tokenizers = Object.entries(models)
    .filter(([name, value]) => /Tokenizer$/.test(name) && typeof value === "function")
    .map(([name]) => name)
    .sort();
  const backends = tensor
    .listBackends()
    .map((backend) => ({ name: backend.name, priority: backend.priority }))
    .sort((a, b) => b.priority - a.priority);
  return { variants, unsupportedInits, architectures, tokenizers, backends };
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
        "method (variant)",
        "PEFT `init_lora_weights`",
        "reads W",
        "moves part of W into the adapter",
        "what it is",
      ],
      data.variants.map((variant) => [
        `\`${variant.name}\``,
        variant.inits.map(code).join(", ") || "—",
        yesNo(variant.readsBaseWeight),
        variant.movesBaseWeight ? "yes: overlay mode, residual mode or conversion" : "no",
        variant.description,
      ]),
    )}\n\nRefused with \`UnsupportedLoraOptionError\` (PEFT has them, peftjs does not yet): ${
      data.unsupportedInits.map(code).join(", ") || "none"
    }.\n`,
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
