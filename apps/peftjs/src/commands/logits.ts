import { existsSync } from "node:fs";
import { writeSafetensorsFile } from "@peftjs/io/node";
import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { loadAdaptedModel } from "../lib/adapted-model.js";
import { modelDirectory, parseBackendChoice, requiredString, stringList } from "../lib/cli-options.js";
import { readInputIds } from "../lib/training-data.js";
import { style } from "../terminal.js";
import type { Command } from "./command.js";

/** `peftjs logits`: the model's (with adapters) logits for a batch of token ids, as a safetensors file. */
export const logitsCommand: Command = {
  summary: "compute logits of token ids (with adapters) into a safetensors file",
  help: `Usage: peftjs logits --model DIR [--adapter DIR ...] --input FILE.safetensors --out FILE.safetensors
                     [--backend NAME] [--json]

Runs the model (with every --adapter active at once) on "input_ids" int64 [batch, seq] of the input file
and writes "logits" float32 [batch, seq, vocab] to --out (atomically). PiSSA/OLoRA adapters run in overlay
mode on the original base (the same model as PEFT's residual base plus the adapter).

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter DIR     an adapter folder; repeat for several (all active)
  --input FILE      safetensors file with "input_ids" int64 [batch, seq]
  --out FILE        safetensors file to write, with "logits" float32 [batch, seq, vocab]
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"out", "shape"}`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    input: { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelDirectory(values);
    const inputPath = requiredString(values, "input");
    const outPath = requiredString(values, "out");
    if (!existsSync(inputPath)) throw new CliUsageError(`--input ${inputPath} does not exist`);
    await setBackend(backend);
    const inputIds = await readInputIds(inputPath, "input");
    const { model } = await loadAdaptedModel(modelDir, stringList(values, "adapter"));
    const logits = model.forward(inputIds);
    const shape = [...logits.shape];
    const values32 = logits.toFloat32Array();
    logits.dispose();
    await writeSafetensorsFile(
      outPath,
      {
        logits: {
          dtype: "F32",
          shape,
          data: new Uint8Array(values32.buffer, values32.byteOffset, values32.byteLength),
        },
      },
      { format: "pt" },
    );
    if (values.json) console.log(JSON.stringify({ out: outPath, shape }, null, 2));
    else console.log(`${style.green("wrote")} logits [${shape.join(", ")}] to ${outPath}`);
  },
};
