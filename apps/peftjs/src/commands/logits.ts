import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { loadAdaptedModel } from "../lib/adapted-model.js";
import { parseAdapterNames } from "../lib/adapter-names.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import { optionalString, parseBackendChoice, requiredString, stringList } from "../lib/cli-options.js";
import { LOGITS_CHUNK_TOKENS, writeLogitsFile } from "../lib/logits-file.js";
import { modelLocation } from "../lib/model-location.js";
import { writeOutputFile } from "../lib/output-folder.js";
import { readInputIds } from "../lib/training-data.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** `peftjs logits`: the model's (with adapters) logits for a batch of token ids, as a safetensors file. */
export const logitsCommand: Command = {
  summary: "compute logits of token ids (with adapters) into a safetensors file",
  help: `Usage: peftjs logits --model DIR [--adapter [NAME=]DIR[:WEIGHT] ...] [--adapter-names A,B,...]
                     --input FILE.safetensors --out FILE.safetensors [--backend NAME] [--json]

Runs the model (with every --adapter active at once) on "input_ids" int64 [batch, seq] of the input file
and writes "logits" float32 [batch, seq, vocab] to --out. PiSSA/OLoRA adapters run in overlay mode on the
original base (the same model as PEFT's residual base plus the adapter). Rows go through the model about
${LOGITS_CHUNK_TOKENS} tokens at a time while the file is written, so any batch size fits in memory.
With --adapter-names, row i runs with adapter i of the list alone (a mixed batch, PEFT's adapter_names).

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter [NAME=]DIR[:W]  an adapter folder, its delta scaled by W (default 1; a weight only when it is
                    a number); repeat for several (all active)
  --adapter-names A,B,...  one --adapter name per input row ("__base__": no adapter), instead of all
  --input FILE      safetensors file with "input_ids" int64 [batch, seq]
  --out FILE        safetensors file to create (must not exist; folders are created), with "logits"
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"out", "shape"}`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    "adapter-names": { type: "string" },
    input: { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: {
      model: { kind: "model" },
      adapter: { kind: "adapters" },
      input: { kind: "input" },
      out: { kind: "output-file" },
    },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelLocation(values, "model");
    const inputPath = requiredString(values, "input");
    const outPath = requiredString(values, "out");
    const adapters = parseAdapterSpecs(stringList(values, "adapter"), { weights: "optional" });
    const adapterNames = parseAdapterNames(optionalString(values, "adapter-names"), adapters);
    await setBackend(backend);
    const inputIds = await readInputIds(inputPath, "input");
    if (adapterNames !== undefined && adapterNames.length !== inputIds.length) {
      throw new CliUsageError(
        `--adapter-names gives ${adapterNames.length} names for ${inputIds.length} input rows; give one name per row`,
      );
    }
    const { model, lora } = await loadAdaptedModel(modelDir, adapters);
    let shape: number[] = [];
    const written = await writeOutputFile(outPath, async (path) => {
      shape = await writeLogitsFile(
        path,
        model,
        inputIds,
        adapterNames === undefined || lora === undefined
          ? undefined
          : (rows, start) =>
              lora.forward(rows, { adapterNames: adapterNames.slice(start, start + rows.length) }),
      );
    });
    if (values.json) console.log(JSON.stringify({ out: written, shape }, null, 2));
    else console.log(`${style.green("wrote")} logits [${shape.join(", ")}] to ${printable(written)}`);
  },
};
