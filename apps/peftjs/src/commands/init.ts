import { LoraModel, withLoraConfig } from "@peftjs/adapters";
import { adapterRecordFromMetadata, initMethodMutatesBase } from "@peftjs/state";
import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { isUnconverted, saveAdapterFolder } from "../lib/adapter-files.js";
import { checkpointWithStore, loadBaseModel, writeModelFolder } from "../lib/base-model.js";
import { optionalInteger, optionalString, parseBackendChoice, requiredString } from "../lib/cli-options.js";
import { checkRankFits, loraConfigFromFlags, loraFlagHelp, loraFlagOptions } from "../lib/lora-flags.js";
import { modelLocation } from "../lib/model-location.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs init --json` prints. */
export interface InitReport {
  out: string;
  residualOut: string | null;
  method: string;
  modules: number;
  baseFingerprint: string | null;
  residualFingerprint: string | null;
}

/** `peftjs init`: a fresh adapter (LoRA, Gaussian, PiSSA, OLoRA) for a model, saved in PEFT's layout. */
export const initCommand: Command = {
  summary: "create a fresh LoRA / PiSSA / OLoRA adapter for a model (PEFT folder)",
  help: `Usage: peftjs init --model DIR --method NAME [--r N] [--alpha N] [--rslora] [--use-dora] [--bias MODE]
                   [--target LIST] [--trainable-tokens IDS] [--modules-to-save LIST] [--seed S] --out DIR
                   [--residual-out DIR] [--backend NAME] [--json]

Initialises an adapter as PEFT's get_peft_model does and saves it as PEFT's save_pretrained would
(adapter_config.json + adapter_model.safetensors). The base is never changed.

PiSSA / OLoRA move s·B₀A₀ out of W. Their --out folder is the init adapter in the form PEFT's docs ask for
before a later conversion: init_lora_weights true, factors A₀/B₀ (PEFT's adapter_init). Its peftjs.* metadata
records the method and both fingerprints, so "peftjs train --adapter" trains it as PiSSA/OLoRA on the
original base, "peftjs convert --initial" uses it, and "peftjs verify" places it on its residual.

Options:
  --model DIR       base model folder (config.json + model.safetensors), or "embedded" (stories260K)
${loraFlagHelp}
                    (r at most min(in, out) of every targeted module)
  --seed S          seed of the random draws and randomized SVDs (default 0)
  --out DIR         the adapter folder to create (must not exist or be empty)
  --residual-out DIR  PiSSA/OLoRA only: also write the residual base W − s·B₀A₀ as a model folder
                    (config.json + model.safetensors, PEFT's layout after its in-place init)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"out", "residualOut", "method", "modules", "baseFingerprint", "residualFingerprint"}`,
  options: {
    model: { type: "string" },
    ...loraFlagOptions,
    seed: { type: "string" },
    out: { type: "string" },
    "residual-out": { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: {
      model: { kind: "model" },
      out: { kind: "output-folder" },
      "residual-out": { kind: "output-folder" },
    },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelLocation(values, "model");
    const outDir = requiredString(values, "out");
    const residualOut = optionalString(values, "residual-out");
    const seed = optionalInteger(values, "seed") ?? 0;
    const config = loraConfigFromFlags(values, modelDir);
    const method = values.method as string;
    if (residualOut !== undefined && !initMethodMutatesBase(config.init_lora_weights)) {
      throw new CliUsageError(
        `--residual-out applies to pissa, pissa_niter_K and olora, not to --method ${method}`,
      );
    }
    await setBackend(backend);
    const base = await loadBaseModel(modelDir);
    checkRankFits(config, base.model);
    const lora = LoraModel.create(base.model);
    // Residual mode on this private copy of the base: the store ends as W − s·B₀A₀, journaled, and the
    // adapter's record gets both fingerprints.
    lora.addAdapter("default", config, { seed, mode: "residual" });
    let adapter = lora.getAdapter("default");
    const movesBase = isUnconverted(adapter);
    if (movesBase)
      adapter = { ...adapter, config: withLoraConfig(adapter.config, { init_lora_weights: true }) };
    const record = adapterRecordFromMetadata(adapter.metadata);
    let residualWritten: string | null = null;
    const written = await writeOutputFolder(outDir, async (folder) => {
      await saveAdapterFolder(folder, adapter, !movesBase);
      if (residualOut !== undefined) {
        residualWritten = await writeOutputFolder(
          residualOut,
          async (residualFolder) => {
            await writeModelFolder(residualFolder, base.configJson, checkpointWithStore(base));
          },
          { flag: "residual-out" },
        );
      }
    });
    const report: InitReport = {
      out: written,
      residualOut: residualWritten,
      method,
      modules: adapter.modules.size,
      baseFingerprint: record?.baseFingerprint ?? null,
      residualFingerprint: movesBase ? (record?.residualBaseFingerprint ?? null) : null,
    };
    if (values.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(
      `${style.green("wrote")} ${printable(written)}: ${method}, r ${config.r}, alpha ${config.lora_alpha}, ${adapter.modules.size} modules`,
    );
    if (movesBase) {
      console.log(
        style.dim(
          `init adapter A₀/B₀ saved with init_lora_weights true (PEFT's adapter_init); residual base ${report.residualFingerprint}` +
            (residualWritten ? ` written to ${printable(residualWritten)}` : ""),
        ),
      );
    }
  },
};
