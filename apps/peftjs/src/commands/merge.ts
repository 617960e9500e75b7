import { LoraModel } from "@peftjs/adapters";
import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { attachAdapter, readAdapterFolder } from "../lib/adapter-files.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import {
  checkpointWithStore,
  loadBaseModel,
  type ModelStorageDtype,
  writeModelFolder,
} from "../lib/base-model.js";
import { optionalString, parseBackendChoice, requiredString, stringList } from "../lib/cli-options.js";
import { modelLocation } from "../lib/model-location.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs merge --json` prints. */
export interface MergeReport {
  out: string;
  adapters: { path: string; weight: number }[];
  mergedModules: number;
  dtype: string;
  /** Model fingerprint of the written tensors (fp1, as `peftjs inspect` prints it). */
  fingerprint: string;
}

const storageDtypes: Record<string, ModelStorageDtype> = { f32: "F32", f16: "F16", bf16: "BF16" };

/** `peftjs merge`: base + adapters → a plain model folder with the merged weights. */
export const mergeCommand: Command = {
  summary: "merge adapters into a base model and write the merged model folder",
  help: `Usage: peftjs merge --model DIR --adapter [NAME=]DIR[:WEIGHT] [--adapter ...] --out DIR
                    [--dtype f32|f16|bf16] [--backend NAME] [--json]

Writes W + Σ weight·s·B·A for every wrapped module (PEFT's merge_and_unload) as a model folder:
config.json (the base's) and model.safetensors with every tensor of the base, merged ones replaced.
Unconverted PiSSA/OLoRA adapters merge as on PEFT's residual base (W − s·B₀A₀ + s·B·A), computed on the
original weights; the weight scales s·B·A only.

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter [NAME=]DIR[:W]  an adapter folder and its weight (default 1; taken as a weight only when
                    it is a number); repeat for several
  --out DIR         the model folder to create (must not exist or be empty)
  --dtype NAME      storage dtype of the float tensors: f32, f16 or bf16 (default: the base's); a merged
                    value beyond the dtype's range (or not finite) is refused, never stored as infinity
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"out", "adapters", "mergedModules", "dtype", "fingerprint"}`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    out: { type: "string" },
    dtype: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: { model: { kind: "model" }, adapter: { kind: "adapters" }, out: { kind: "output-folder" } },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelLocation(values, "model");
    const specs = parseAdapterSpecs(stringList(values, "adapter"), { weights: "optional" });
    if (specs.length === 0) throw new CliUsageError("--adapter is required (at least one)");
    const outDir = requiredString(values, "out");
    const dtypeName = optionalString(values, "dtype");
    const dtype = dtypeName === undefined ? undefined : storageDtypes[dtypeName];
    if (dtypeName !== undefined && dtype === undefined) {
      throw new CliUsageError(`--dtype ${dtypeName} is not one of f32, f16, bf16`);
    }
    await setBackend(backend);
    const base = await loadBaseModel(modelDir);
    const lora = LoraModel.create(base.model);
    const names: string[] = [];
    for (const [index, spec] of specs.entries()) {
      attachAdapter(lora, spec.name, await readAdapterFolder(spec.path), {
        activate: index === 0,
        weight: spec.weight,
      });
      names.push(spec.name);
    }
    const merged = lora.mergeAndUnload(names);
    const tensors = checkpointWithStore(base);
    let configJson = base.configJson;
    for (const [moduleName, weight] of merged) {
      const key = `${moduleName}.weight`;
      if (!tensors.has(key)) {
        // A module without its own tensor in the file: lm_head tied to the embedding. Merging an adapter
        // into it gives it its own weight, so the written model unties them.
        const values = weight.toFloat32Array();
        tensors.set(key, { dtype: "F32", shape: [...weight.shape], data: new Uint8Array(values.buffer) });
        configJson = { ...configJson, tie_word_embeddings: false };
      }
    }
    let fingerprint = "";
    const written = await writeOutputFolder(outDir, async (folder) => {
      fingerprint = await writeModelFolder(folder, configJson, tensors, dtype);
    });
    const report: MergeReport = {
      out: written,
      adapters: specs.map((spec) => ({ path: spec.path, weight: spec.weight })),
      mergedModules: lora.store.changedNames().length,
      dtype: dtype ?? "as the base",
      fingerprint,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(
      `${style.green("merged")} ${specs.length} adapter${specs.length === 1 ? "" : "s"} into ${report.mergedModules} modules: ${printable(written)}`,
    );
  },
};
