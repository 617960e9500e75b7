import { existsSync } from "node:fs";
import { importAdapterFromGguf } from "@peftjs/gguf";
import { openGgufFile } from "@peftjs/gguf/node";
import { readSourceJson } from "@peftjs/models";
import { CliUsageError } from "../cli-error.js";
import { saveAdapterFolder } from "../lib/adapter-files.js";
import { requiredString } from "../lib/cli-options.js";
import { modelLocation, openModelLocation } from "../lib/model-location.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs import --json` prints. */
export interface ImportReport {
  out: string;
  format: "gguf";
  /** True when the file carried peftjs' PEFT config (the original adapter came back); false for other tools' files. */
  restoredConfig: boolean;
  modules: number;
  r: number;
  loraAlpha: number;
  useRslora: boolean;
}

/** `peftjs import`: a GGUF LoRA → a PEFT adapter folder. */
export const importCommand: Command = {
  summary: "import a GGUF LoRA (llama.cpp) back into a PEFT adapter folder",
  help: `Usage: peftjs import --format gguf --adapter FILE.gguf --model DIR --out DIR [--json]

Reads a GGUF LoRA made for the model and writes a PEFT adapter folder (adapter_config.json +
adapter_model.safetensors) whose s·B·A is what llama.cpp applies: the q/k lora_B row order and any scale folded
into lora_B are undone. A file written by "peftjs export" gives the original adapter back (its config, record and
factors); a file from another tool gets a plain LoRA config (lora_alpha = the file's alpha, rank_pattern for
modules of another rank).

Options:
  --format gguf     the input format (only gguf)
  --adapter FILE    the GGUF LoRA
  --model DIR       the model it belongs to (its config.json), or "embedded" (stories260K)
  --out DIR         the adapter folder to create (must not exist or be empty)
  --json            print {"out", "format", "restoredConfig", "modules", "r", "loraAlpha", "useRslora"}`,
  options: {
    format: { type: "string" },
    adapter: { type: "string" },
    model: { type: "string" },
    out: { type: "string" },
    json: { type: "boolean" },
  },
  files: { flags: { adapter: { kind: "input" }, model: { kind: "model" }, out: { kind: "output-folder" } } },
  async run(values) {
    const format = requiredString(values, "format");
    if (format !== "gguf")
      throw new CliUsageError(`--format ${format} is not supported; the only format is gguf`);
    const path = requiredString(values, "adapter");
    if (!existsSync(path)) throw new CliUsageError(`--adapter ${path} does not exist`);
    const modelDir = modelLocation(values, "model");
    const outDir = requiredString(values, "out");
    const config = (await readSourceJson(await openModelLocation(modelDir), "config.json")) as Record<
      string,
      unknown
    >;
    const file = await openGgufFile(path);
    let imported: Awaited<ReturnType<typeof importAdapterFromGguf>>;
    try {
      imported = await importAdapterFromGguf(file, { config, baseModelNameOrPath: modelDir });
    } finally {
      await file.close();
    }
    const { adapter, restoredConfig } = imported;
    const written = await writeOutputFolder(outDir, (folder) =>
      saveAdapterFolder(folder, adapter, adapter.config.inference_mode),
    );
    const report: ImportReport = {
      out: written,
      format: "gguf",
      restoredConfig,
      modules: adapter.modules.size,
      r: adapter.config.r,
      loraAlpha: adapter.config.lora_alpha,
      useRslora: adapter.config.use_rslora,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(
      `${style.green("imported")} ${report.modules} modules (r ${report.r}, lora_alpha ${report.loraAlpha}${report.useRslora ? ", rsLoRA" : ""}${restoredConfig ? ", original config restored" : ""}): ${written}`,
    );
  },
};
