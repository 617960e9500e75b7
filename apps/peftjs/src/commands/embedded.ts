import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { embeddedModelDir } from "../assets.js";
import { requiredString } from "../lib/cli-options.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** `peftjs embedded`: writes the embedded stories260K model folder, for library code that loads a folder. */
export const embeddedCommand: Command = {
  summary: "write the embedded stories260K model to a folder (for library code and other tools)",
  help: `Usage: peftjs embedded --out DIR [--json]

Writes the stories260K model that peftjs ships (Andrej Karpathy's tiny Llama, MIT) as a Hugging Face
model folder: config.json, model.safetensors, the llama2.c tokenizer tok512.bin and its LICENSE. The
library examples load it with loadModel("DIR"); every command also takes --model embedded directly.

Options:
  --out DIR   the folder to create (must not exist or be empty)
  --json      print {"out", "files"}`,
  options: { out: { type: "string" }, json: { type: "boolean" } },
  files: { flags: { out: { kind: "output-folder" } } },
  async run(values) {
    const outDir = requiredString(values, "out");
    const files = (await readdir(embeddedModelDir)).sort();
    const written = await writeOutputFolder(outDir, async (folder) => {
      for (const file of files) await copyFile(join(embeddedModelDir, file), join(folder, file));
    });
    if (values.json) console.log(JSON.stringify({ out: written, files }, null, 2));
    else console.log(`${style.green("wrote")} stories260K (${files.join(", ")}) to ${printable(written)}`);
  },
};
