import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { adapterRecordOf, type LoraAdapter } from "@peftjs/adapters";
import {
  checkRunnableAdapterConfig,
  exportAdapterToGguf,
  exportModelToGguf,
  type GgufContents,
  type GgufTensorType,
  type MergedAdapter,
} from "@peftjs/gguf";
import { readVocabularyFromFolder, writeGgufFile } from "@peftjs/gguf/node";
import { openCheckpoint, readJsonFile } from "@peftjs/io/node";
import { assertCompatible } from "@peftjs/state";
import { CliUsageError } from "../cli-error.js";
import { readAdapterFolder } from "../lib/adapter-files.js";
import { loadBaseModel } from "../lib/base-model.js";
import { optionalString, pathWithWeight, requiredString, stringList } from "../lib/cli-options.js";
import { localAdapterFolder, localModelFolder } from "../lib/local-folder.js";
import { hubRepositoryName, isHubId, modelLocation } from "../lib/model-location.js";
import { writeOutputFile } from "../lib/output-folder.js";
import { style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs export --json` prints. */
export interface ExportReport {
  out: string;
  format: "gguf";
  /** `model` (base, or with adapters merged) or `adapter` (a GGUF LoRA). */
  kind: "model" | "adapter";
  /** llama.cpp's architecture name. */
  architecture: string;
  bytes: number;
  tensors: number;
  /** Matrix storage type (model export). */
  dtype: string | null;
  /** Adapters merged (model export with --merge). */
  mergedModules: number;
  /** The adapter.lora.alpha written (adapter export). */
  alpha: number | null;
  /** Modules whose lora_B carries a folded scale (adapter export). */
  foldedModules: string[];
  /** Where llama.cpp's graph or tokenizer differs from the Hugging Face model. */
  warnings: string[];
}

const dtypes: Record<string, GgufTensorType> = { f32: "F32", f16: "F16", bf16: "BF16" };

/** The adapter's raw config, checked for what llama.cpp cannot run before the adapter is parsed. */
async function readRunnableAdapter(path: string) {
  if (!existsSync(path) && !isHubId(path)) throw new CliUsageError(`--adapter ${path} does not exist`);
  const folder = await localAdapterFolder(path);
  checkRunnableAdapterConfig(await readJsonFile(join(folder, "adapter_config.json")));
  return readAdapterFolder(folder);
}

/**
 * The output's name: a `.gguf` file. Whether it exists was checked with every other path before any work (the
 * file plan); the write itself refuses a file that appeared since (see `writeOutputFile`).
 */
function checkOutputName(out: string): string {
  const target = resolve(out);
  if (!target.endsWith(".gguf")) throw new CliUsageError(`--out ${out} must end in .gguf`);
  return target;
}

/**
 * Refuses adapters that record the fingerprint of another base, as `generate` and every other loading command
 * do (the one base identity: `model.weights`, see the guarantees guide). PEFT files record none: their module
 * shapes are checked by the export itself.
 */
async function checkAdapterBases(modelDir: string, adapters: readonly LoraAdapter[]): Promise<void> {
  const records = adapters.map((adapter) => adapterRecordOf(adapter));
  if (records.every((record) => record.baseFingerprint === null)) return;
  const base = await loadBaseModel(modelDir);
  try {
    for (const record of records) assertCompatible(base.store, record);
  } finally {
    base.model.dispose();
  }
}

/** `peftjs export`: a model (optionally with adapters merged) or an adapter, in llama.cpp's GGUF format. */
export const exportCommand: Command = {
  summary: "export a model or an adapter to llama.cpp's GGUF (llama.cpp, wllama, node-llama-cpp)",
  help: `Usage: peftjs export --format gguf --model DIR --out FILE.gguf [--dtype f32|f16|bf16]
                     [--merge --adapter DIR[:WEIGHT] ...] [--tokenizer DIR] [--json]
       peftjs export --format gguf --model DIR --adapter DIR --out FILE.gguf [--json]

The first form writes the model (llama, mistral, qwen2, qwen3, gemma3_text) in llama.cpp's layout with its
tokenizer (tokenizer.json or a llama2.c tok*.bin in the model folder), and with --merge the adapters merged in
(W + Σ weight·s·B·A, in float64). The second form writes the adapter as a GGUF LoRA for that model: use it with
llama.cpp's --lora. Every PEFT scale is exact there (rsLoRA, rank_pattern, alpha_pattern: llama.cpp's converter
ignores them); lora_B rows follow the base's q/k permutation. Refused, with the remedy: unconverted PiSSA/OLoRA
(convert first), DoRA, LoRA biases, trainable tokens and embedding LoRA (export a merged model instead).

Options:
  --format gguf      the output format (only gguf)
  --model DIR        the model folder, or "embedded" (stories260K)
  --adapter DIR[:W]  an adapter folder; with --merge repeatable, with a weight (default 1)
  --merge            merge the adapters into the exported model instead of exporting an adapter
  --out FILE.gguf    the file to create (written to a temporary sibling, then renamed; never overwritten)
  --dtype NAME       model export: matrices as f32, f16 or bf16 (default: the checkpoint's); vectors stay f32
  --tokenizer DIR    model export: take the tokenizer from this folder instead of the model folder
  --json             print {"out", "format", "kind", "architecture", "bytes", "tensors", "dtype",
                     "mergedModules", "alpha", "foldedModules", "warnings"}`,
  options: {
    format: { type: "string" },
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    merge: { type: "boolean" },
    out: { type: "string" },
    dtype: { type: "string" },
    tokenizer: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: {
      model: { kind: "model" },
      adapter: { kind: "adapters" },
      tokenizer: { kind: "input" },
      out: { kind: "output-file" },
    },
  },
  async run(values) {
    const format = requiredString(values, "format");
    if (format !== "gguf")
      throw new CliUsageError(`--format ${format} is not supported; the only format is gguf`);
    const location = modelLocation(values, "model");
    const out = checkOutputName(requiredString(values, "out"));
    const specs = stringList(values, "adapter").map((spec) => pathWithWeight(spec, 1));
    const merge = values.merge === true;
    const dtypeName = optionalString(values, "dtype");
    const dtype = dtypeName === undefined ? undefined : dtypes[dtypeName];
    if (dtypeName !== undefined && dtype === undefined)
      throw new CliUsageError(`--dtype ${dtypeName} is not one of f32, f16, bf16`);
    const adapterOnly = specs.length > 0 && !merge;
    if (merge && specs.length === 0) throw new CliUsageError("--merge needs at least one --adapter");
    if (adapterOnly && specs.length > 1) {
      throw new CliUsageError(
        "an adapter export takes one --adapter (to combine several, merge them: --merge)",
      );
    }
    if (adapterOnly && (dtype !== undefined || values.tokenizer !== undefined || specs[0]!.weight !== 1)) {
      throw new CliUsageError(
        "--dtype, --tokenizer and adapter weights apply to model exports (with --merge)",
      );
    }

    const modelDir = await localModelFolder(location);
    const config = await readJsonFile<Record<string, unknown>>(join(modelDir, "config.json"));
    const checkpoint = await openCheckpoint(modelDir);
    try {
      let contents: GgufContents;
      const report: Omit<ExportReport, "bytes" | "tensors"> = {
        out,
        format: "gguf",
        kind: adapterOnly ? "adapter" : "model",
        architecture: "",
        dtype: null,
        mergedModules: 0,
        alpha: null,
        foldedModules: [],
        warnings: [],
      };
      if (adapterOnly) {
        const adapter = await readRunnableAdapter(specs[0]!.path);
        await checkAdapterBases(modelDir, [adapter]);
        const result = exportAdapterToGguf(adapter, {
          config,
          baseShape: (name) => checkpoint.info(name)?.shape,
        });
        contents = result.contents;
        report.alpha = result.alpha;
        report.foldedModules = [...result.folded.keys()];
      } else {
        const adapters: MergedAdapter[] = [];
        for (const spec of specs)
          adapters.push({ adapter: await readRunnableAdapter(spec.path), weight: spec.weight });
        await checkAdapterBases(
          modelDir,
          adapters.map((entry) => entry.adapter),
        );
        const tokenizerDir = optionalString(values, "tokenizer") ?? modelDir;
        const { vocabulary } = await readVocabularyFromFolder(tokenizerDir, config);
        const result = exportModelToGguf({
          config,
          checkpoint,
          vocabulary,
          adapters,
          name: isHubId(location) ? hubRepositoryName(location) : basename(resolve(modelDir)),
          ...(dtype === undefined ? {} : { dtype }),
        });
        contents = result.contents;
        report.dtype = result.dtype.toLowerCase();
        report.mergedModules = result.mergedModules.length;
        report.warnings = [...result.warnings];
      }
      report.architecture = String(contents.metadata.get("general.architecture")?.value);
      let bytes = 0;
      await writeOutputFile(out, async (temporaryPath) => {
        bytes = await writeGgufFile(temporaryPath, contents);
      });
      const full: ExportReport = { ...report, bytes, tensors: contents.tensors.length };
      if (values.json) {
        console.log(JSON.stringify(full, null, 2));
        return;
      }
      const what = adapterOnly
        ? `LoRA (alpha ${full.alpha}, ${full.foldedModules.length} scales folded into lora_B)`
        : `model (${full.dtype})`;
      console.log(
        `${style.green("exported")} ${full.architecture} ${what}, ${full.tensors} tensors, ${bytes} bytes: ${out}`,
      );
      for (const warning of full.warnings) console.log(`${style.yellow("note")} ${warning}`);
    } finally {
      await checkpoint.close();
    }
  },
};
