import { resolve } from "node:path";
import {
  checkInitialAdapter,
  INIT_SEED_METADATA_KEY,
  type LoraAdapter,
  LoraModel,
  withLoraConfig,
} from "@peftjs/adapters";
import { writeJsonFileAtomic } from "@peftjs/io/node";
import { AdamW, train } from "@peftjs/models";
import { getBackend, setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import {
  adapterRecordOf,
  attachAdapter,
  checkDistinctAdapters,
  isInitAdapterForConversion,
  isUnconverted,
  readAdapterFolder,
  saveAdapterFolder,
  withRecord,
} from "../lib/adapter-files.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import { loadBaseModel } from "../lib/base-model.js";
import {
  optionalInteger,
  optionalNumber,
  optionalString,
  parseBackendChoice,
  requiredInteger,
  requiredNumber,
  requiredString,
} from "../lib/cli-options.js";
import { checkRankFits, loraConfigFromFlags, loraFlagHelp, loraFlagOptions } from "../lib/lora-flags.js";
import { modelLocation } from "../lib/model-location.js";
import { loadModelTokenizer } from "../lib/model-tokenizer.js";
import { writeOutputFile, writeOutputFolder } from "../lib/output-folder.js";
import { readTrainingBatches } from "../lib/training-data.js";
import { ProgressBar, printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `--log FILE.json` holds (and `--json` prints). */
export interface TrainingLog {
  model: string;
  data: string;
  out: string;
  backend: string;
  steps: number;
  /** The loss before each update (as PyTorch loops log it). */
  losses: number[];
  /** The wall time of each step (forward, backward and update), in milliseconds. */
  stepMilliseconds: number[];
  optimizer: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  /** Distinct batches read from the data (cycled when fewer than the steps). */
  batches: number;
  batchShape: [number, number];
  seed: number;
}

function parseBetas(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(",").map(Number);
  if (parts.length !== 2 || !parts.every((value) => Number.isFinite(value) && value >= 0 && value < 1)) {
    throw new CliUsageError(
      `--betas ${text} must be two numbers in [0, 1) separated by a comma, e.g. 0.9,0.999`,
    );
  }
  return parts as [number, number];
}

/** `peftjs train`: fine-tunes an adapter on a text or token file with AdamW and saves it in PEFT's layout. */
export const trainCommand: Command = {
  summary: "fine-tune an adapter (new or from a folder) on text or token ids; PEFT folder out",
  help: `Usage: peftjs train --model DIR (--adapter DIR [--initial DIR] | --method NAME [adapter flags]) --data FILE
                    --steps N --lr X [--eps E] [--betas B1,B2] [--weight-decay W] [--batch B] [--seq T]
                    [--seed S] [--log FILE.json] --out DIR [--backend NAME] [--json]

Trains the adapter's lora_A / lora_B with AdamW (PyTorch's semantics) on the causal-LM loss; the base
weights never change. PiSSA / OLoRA adapters train in overlay mode on the original base (the same model
as PEFT's residual base) and are saved unconverted, as PEFT's adapter_trained (init_lora_weights "pissa").

Data (--data):
  .txt          paragraphs (separated by blank lines) tokenized with the model's own tokenizer
                (tokenizer.json, else llama2.c's tok512.bin)
  .jsonl        one JSON object per line with a "text" field, tokenized the same way
  .safetensors  "input_ids" int64 [batch, seq]: pre-tokenized ids, one batch used as is (--batch and --seq
                do not apply); for models without a tokenizer
  Each text document is encoded as transformers' tokenizer(text) does, with the special tokens the
  tokenizer adds (BOS for Llama 2 / Mistral / stories260K, none for Qwen), and the documents are packed
  into one stream, cut into --seq tokens, --batch per batch;
  batches are cycled when there are fewer than --steps. Text is streamed: only as much of the file as
  --steps needs is read (at most 1,000,000 characters per document, 2^26 tokens per run), and all of it
  before training starts.

Training stops with exit 1, writing nothing, when the loss, a gradient or an update is not finite (the
message names the last finite step).

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter DIR     start from this adapter folder (e.g. from "peftjs init"; PiSSA init adapters train as PiSSA)
  --initial DIR     with an unconverted PiSSA/OLoRA --adapter (PEFT's adapter_trained): its init adapter
                    (adapter_init), whose A₀/B₀ are used as they are instead of re-running the init; a
                    pair that cannot belong together is refused (see "peftjs convert --help")
${loraFlagHelp}
  --data FILE       training data (see above)
  --steps N         optimisation steps
  --lr X            learning rate
  --eps E           AdamW eps (default 1e-8)
  --betas B1,B2     AdamW betas (default 0.9,0.999)
  --weight-decay W  decoupled weight decay (default 0.01, as torch.optim.AdamW)
  --batch B         sequences per batch for text data (default 4)
  --seq T           tokens per sequence for text data (default 32)
  --seed S          seed of the adapter init (--method) and of dropout (default 0)
  --log FILE.json   write the per-step losses and the settings (written only on success; must not exist)
  --out DIR         the trained adapter folder to create (must not exist or be empty)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print the log as JSON`,
  options: {
    model: { type: "string" },
    adapter: { type: "string" },
    initial: { type: "string" },
    ...loraFlagOptions,
    data: { type: "string" },
    steps: { type: "string" },
    lr: { type: "string" },
    eps: { type: "string" },
    betas: { type: "string" },
    "weight-decay": { type: "string" },
    batch: { type: "string" },
    seq: { type: "string" },
    seed: { type: "string" },
    log: { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: {
      model: { kind: "model" },
      adapter: { kind: "adapters" },
      initial: { kind: "input" },
      data: { kind: "input" },
      log: { kind: "output-file" },
      out: { kind: "output-folder" },
    },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelLocation(values, "model");
    const adapterSpec = optionalString(values, "adapter");
    const adapterDir =
      adapterSpec === undefined ? undefined : parseAdapterSpecs([adapterSpec], { weights: "none" })[0]!.path;
    if ((adapterDir === undefined) === (values.method === undefined)) {
      throw new CliUsageError(
        "give exactly one of --adapter DIR (continue an adapter) and --method NAME (a new one)",
      );
    }
    const config = adapterDir === undefined ? loraConfigFromFlags(values, modelDir) : undefined;
    const initialDir = optionalString(values, "initial");
    if (initialDir !== undefined && adapterDir === undefined) {
      throw new CliUsageError("--initial goes with --adapter (an unconverted PiSSA/OLoRA adapter)");
    }
    const dataPath = requiredString(values, "data");
    const steps = requiredInteger(values, "steps", { min: 1 });
    const learningRate = requiredNumber(values, "lr", { min: 0 });
    const eps = optionalNumber(values, "eps", { min: 0 }) ?? 1e-8;
    const betas = parseBetas(optionalString(values, "betas")) ?? [0.9, 0.999];
    const weightDecay = optionalNumber(values, "weight-decay", { min: 0 }) ?? 0.01;
    const batchSize = optionalInteger(values, "batch", { min: 1 }) ?? 4;
    const sequenceLength = optionalInteger(values, "seq", { min: 2 }) ?? 32;
    const seed = optionalInteger(values, "seed") ?? 0;
    const logPath = optionalString(values, "log");
    const outDir = requiredString(values, "out");

    await setBackend(backend);
    const base = await loadBaseModel(modelDir);
    if (config !== undefined) checkRankFits(config, base.model);
    const data = await readTrainingBatches(dataPath, () => loadModelTokenizer(modelDir), {
      batchSize,
      sequenceLength,
      steps,
      vocabSize: base.model.config.vocabSize,
    });
    const lora = LoraModel.create(base.model);
    let source: LoraAdapter | undefined;
    if (adapterDir !== undefined) {
      source = await readAdapterFolder(adapterDir);
      if (initialDir !== undefined && !isUnconverted(source)) {
        throw new CliUsageError(
          `--initial applies to an unconverted PiSSA/OLoRA --adapter, but ${adapterDir} says init_lora_weights ${JSON.stringify(source.config.init_lora_weights)}`,
        );
      }
      if (initialDir === undefined) attachAdapter(lora, "default", source, { activate: true });
      else {
        // PEFT's unconverted adapter with its adapter_init: A₀/B₀ are the frozen correction as they are
        // (no init re-run, so pissa_niter_K needs no seed).
        const initialAdapter = await readAdapterFolder(initialDir, "initial");
        await checkDistinctAdapters(
          { flag: "initial", path: initialDir, adapter: initialAdapter },
          {
            flag: "adapter",
            path: adapterDir,
            adapter: source,
          },
        );
        checkInitialAdapter(source, initialAdapter);
        lora.loadAdapter("default", source, { initialAdapter, activate: true });
      }
    } else {
      lora.addAdapter("default", config!, { seed });
    }
    lora.setTraining(true, seed);
    const optimizer = new AdamW({ learningRate, betas, eps, weightDecay });
    const progress = new ProgressBar("training", steps);
    const stepMilliseconds: number[] = [];
    let stepStart = performance.now();
    const { losses } = await train({
      model: base.model,
      trainable: lora.trainable,
      optimizer,
      batches: data.batchAt,
      steps,
      onStep: ({ step, loss }) => {
        const now = performance.now();
        stepMilliseconds.push(Math.round((now - stepStart) * 10) / 10);
        stepStart = now;
        progress.update(step + 1, `loss ${loss.toFixed(4)}`);
        return undefined;
      },
    });
    progress.finish();
    let trained = lora.getAdapter("default");
    if (source !== undefined && isInitAdapterForConversion(source)) {
      // An init adapter trained on its residual base (as plain LoRA there) is now what PEFT calls an
      // unconverted adapter: its config names the method again (in overlay mode it already does).
      const method = adapterRecordOf(source).initMethod;
      trained = { ...trained, config: withLoraConfig(trained.config, { init_lora_weights: method }) };
    }
    // The adapter belongs to this base: record its fingerprint when the source had none (PEFT files), and
    // keep the init seed a reload of an unconverted randomized-SVD init needs.
    const seedOfSource = source?.metadata[INIT_SEED_METADATA_KEY];
    trained = withRecord(
      trained,
      { baseFingerprint: adapterRecordOf(trained).baseFingerprint ?? base.store.modelFingerprint() },
      seedOfSource !== undefined && trained.metadata[INIT_SEED_METADATA_KEY] === undefined
        ? { [INIT_SEED_METADATA_KEY]: seedOfSource }
        : {},
    );
    const log: TrainingLog = {
      model: modelDir,
      data: dataPath,
      out: resolve(outDir),
      backend: getBackend(),
      steps,
      losses,
      stepMilliseconds,
      optimizer: { lr: learningRate, betas, eps, weight_decay: weightDecay },
      batches: data.distinct,
      batchShape: data.batchShape,
      seed,
    };
    await writeOutputFolder(outDir, async (folder) => {
      await saveAdapterFolder(folder, trained);
      if (logPath !== undefined) {
        await writeOutputFile(logPath, (path) => writeJsonFileAtomic(path, log), { flag: "log" });
      }
    });
    if (values.json) {
      console.log(JSON.stringify(log, null, 2));
      return;
    }
    const first = losses[0]!;
    const last = losses.at(-1)!;
    console.log(
      `${style.green("trained")} ${steps} steps on ${backend === "auto" ? getBackend() : backend}: loss ${first.toFixed(4)} → ${last.toFixed(4)}; adapter in ${printable(resolve(outDir))}`,
    );
  },
};
