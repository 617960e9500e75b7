import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  convertToLora,
  createLoraConfig,
  type LoraAdapter,
  type LoraConfig,
  LoraModel,
} from "@peftjs/adapters";
import { savePeftAdapter } from "@peftjs/adapters/node";
import { isPeftjsError, type RawTensor } from "@peftjs/io";
import { readCheckpoint, readJsonFile, writeCheckpoint, writeJsonFileAtomic } from "@peftjs/io/node";
import { AdamW, type CausalLM, createModel, generate, type Llama2cTokenizer, train } from "@peftjs/models";
import { loadLlama2cTokenizer } from "@peftjs/models/node";
import { getBackend, setBackend, toRaw } from "@peftjs/tensor";
import { embeddedModelDir } from "../assets.js";
import { compareLossRuns, type LossVerdict, logitsOf, maxAbsDifference } from "../demo/compare.js";
import { corpusTokens, windowBatches } from "../demo/corpus.js";
import { type LossSeries, lossChartSvg, lossChartText } from "../demo/loss-chart.js";
import { optionalInteger, parseBackendChoice } from "../lib/cli-options.js";
import { writeOutputFolder } from "../lib/output-folder.js";
import { holdsOnlyOwnOutput, writeOutputManifest } from "../lib/output-manifest.js";
import { ProgressBar, style } from "../terminal.js";
import type { Command } from "./command.js";

function section(step: number, title: string): void {
  console.log(`\n${style.bold(`${step}. ${title}`)}`);
}

const projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
/** The evaluation prompts of PEFT's fixtures: BOS then "Once" (403) or "I" (359). */
const evalPromptTexts = ["Once", "I"];

/** Everything the demo measures, written to summary.json. */
interface DemoSummary {
  backend: string;
  settings: {
    rank: number;
    alpha: number;
    learningRate: number;
    steps: number;
    batch: number;
    sequence: number;
  };
  baseStory: string;
  /** Seed 0's curves (the adapters used below), every seed's curves, and the verdict over all seeds. */
  training: {
    lora: number[];
    pissa: number[];
    seeds: { seed: number; lora: number[]; pissa: number[] }[];
    verdict: LossVerdict;
  };
  storiesAfter: { lora: string; pissa: string };
  hazard: { peftResidualMaxAbs: number; defaultsMaxAbs: number; guardError: string };
  conversion: { convertedVsResidualMaxAbs: number; mergedVsConvertedMaxAbs: number };
  fingerprints: { original: string; residual: string; restored: string; journalEntries: number };
  outputs: string[];
  seconds: number;
}

async function story(
  model: CausalLM,
  tokenizer: Llama2cTokenizer,
  prompt: number[],
  tokens: number,
): Promise<string> {
  const ids = await generate(model, prompt, { maxNewTokens: tokens });
  return tokenizer.decode([...prompt, ...ids]).trim();
}

async function trainAdapter(
  name: string,
  lora: LoraModel<CausalLM>,
  config: LoraConfig,
  options: {
    steps: number;
    learningRate: number;
    batches: ReturnType<typeof windowBatches>;
    seed: number;
    label: string;
  },
): Promise<{ lora: LoraModel<CausalLM>; initial: LoraAdapter; losses: number[] }> {
  const model = lora.model;
  lora.addAdapter(name, config, { seed: options.seed });
  const initial = lora.getAdapter(name);
  const progress = new ProgressBar(`training ${options.label}`, options.steps);
  const { losses } = await train({
    model,
    trainable: lora.trainable,
    optimizer: new AdamW({
      learningRate: options.learningRate,
      betas: [0.9, 0.999],
      eps: 1e-6,
      weightDecay: 0,
    }),
    batches: options.batches,
    steps: options.steps,
    onStep: ({ step, loss }) => {
      progress.update(step + 1, `loss ${loss.toFixed(3)}`);
      return undefined;
    },
  });
  progress.finish();
  return { lora, initial, losses };
}

/** `peftjs demo`: what peftjs does, on the embedded stories260K model, in one command. */
export const demoCommand: Command = {
  summary: "run the tour on the embedded stories260K model (writes ./peftjs-demo-output/)",
  help: `Usage: peftjs demo [--out DIR] [--steps N] [--seeds N] [--backend auto|js|wasm|gpu] [--json]

Runs on the embedded stories260K model (Andrej Karpathy's tiny Llama, MIT):
  1. generates a story with the base model;
  2. fine-tunes a LoRA and a PiSSA adapter (same rank, learning rate, steps) on an embedded corpus, once
     per seed (the seed draws LoRA's A and the order of the training windows), shows the loss curves
     (terminal, loss-curves.svg, losses.json) and says which loss fell faster only when the gap is beyond
     the seed-to-seed spread it measured;
  3. reproduces the PiSSA base-mutation hazard (PEFT's residual mode with the guard off) and shows the
     defaults keeping the LoRA adapter correct;
  4. converts the PiSSA adapter to LoRA, checks it on the original base against PiSSA on the residual,
     merges it, and saves PEFT-format folders;
  5. restores a snapshot and prints the fingerprints before and after.

Options:
  --out DIR       output folder (default ./peftjs-demo-output), written atomically at the end; it must not
                  exist, be empty, or hold exactly an earlier demo's output (which it replaces)
  --steps N       training steps per adapter (default 60)
  --seeds N       seeds per method, to measure the run-to-run spread (default 4; 1 gives no verdict)
  --backend NAME  compute backend (default auto: the fastest that passes its self-test)
  --json          print the summary as JSON`,
  options: {
    out: { type: "string", default: "peftjs-demo-output" },
    steps: { type: "string" },
    seeds: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: { flags: { out: { kind: "output-folder", mayReplace: isOwnDemoOutput } } },
  async run(values) {
    const started = performance.now();
    const outDir = resolve(values.out as string);
    const steps = optionalInteger(values, "steps", { min: 1 }) ?? 60;
    const seeds = optionalInteger(values, "seeds", { min: 1 }) ?? 4;
    await setBackend(parseBackendChoice(values.backend));
    // Everything is written into a temporary sibling folder and moved into place at the end, so a failed run
    // leaves the previous output (or nothing) behind, never a half-written folder. An existing output is
    // replaced only when it is exactly what an earlier demo wrote (its manifest), never anything else.
    let summary: DemoSummary | undefined;
    await writeOutputFolder(
      outDir,
      async (workDir) => {
        summary = await runDemo(workDir, steps, seeds, started);
        summary.outputs = summary.outputs.map((path) => path.replace(workDir, outDir));
        await writeJsonFileAtomic(join(workDir, "summary.json"), summary);
        await writeOutputManifest(workDir, "peftjs demo");
      },
      { replace: isOwnDemoOutput },
    );
    if (values.json) console.log(JSON.stringify(summary, null, 2));
    printSummary(summary!, outDir);
  },
};

/** An existing output folder the demo may replace: one that holds exactly what an earlier demo wrote. */
function isOwnDemoOutput(folder: string): Promise<boolean> {
  return holdsOnlyOwnOutput(folder, "peftjs demo");
}

async function runDemo(workDir: string, steps: number, seeds: number, started: number): Promise<DemoSummary> {
  const config = await readJsonFile(join(embeddedModelDir, "config.json"));
  const { tensors: baseTensors } = await readCheckpoint(embeddedModelDir);
  const freshModel = () => createModel(config, baseTensors);
  // The model's identity is the tensors it read, here the whole checkpoint: the fingerprints `peftjs inspect` prints.
  const freshLora = () => LoraModel.create(freshModel());
  const tokenizer = await loadLlama2cTokenizer(join(embeddedModelDir, "tok512.bin"));
  const evalPrompts = evalPromptTexts.map((text) => tokenizer.encode(text));
  console.log(
    `${style.bold("peftjs demo")} on the embedded stories260K, backend ${style.cyan(getBackend())}`,
  );

  section(1, "A story from the base model");
  const baseModel = freshModel();
  const baseStory = await story(baseModel, tokenizer, tokenizer.encode(""), 100);
  console.log(style.dim(baseStory));

  section(2, `Fine-tuning LoRA and PiSSA on "Pip the robot" stories (${steps} steps, ${seeds} seeds each)`);
  const settings = { rank: 8, alpha: 8, learningRate: 5e-3, steps, seeds, batch: 4, sequence: 32 };
  const batches = windowBatches(await corpusTokens(tokenizer), settings.batch, settings.sequence);
  const common = { r: settings.rank, lora_alpha: settings.alpha, target_modules: projections };
  // Seed k draws LoRA's A and starts the walk over the corpus k·steps windows later, for both methods alike
  // (PiSSA's init is an exact SVD, not random); the spread of the gap over seeds is the run-to-run noise.
  const runs = [];
  for (let seed = 0; seed < seeds; seed++) {
    const options = {
      steps,
      learningRate: settings.learningRate,
      batches: (step: number) => batches(step + seed * steps),
      seed,
    };
    const lora = await trainAdapter("lora", freshLora(), createLoraConfig(common), {
      ...options,
      label: `LoRA  seed ${seed}`,
    });
    const pissa = await trainAdapter(
      "pissa",
      freshLora(),
      createLoraConfig({ ...common, init_lora_weights: "pissa" }),
      { ...options, label: `PiSSA seed ${seed}` },
    );
    runs.push({ seed, lora, pissa });
  }
  const { lora: loraRun, pissa: pissaRun } = runs[0]!;
  const series: LossSeries[] = [
    ...runs.slice(1).flatMap(({ lora, pissa }) => [
      { name: "LoRA", losses: lora.losses, colour: "#1f77b4", faint: true },
      { name: "PiSSA", losses: pissa.losses, colour: "#d62728", faint: true },
    ]),
    { name: "LoRA (seed 0)", losses: loraRun.losses, colour: "#1f77b4" },
    { name: "PiSSA (seed 0)", losses: pissaRun.losses, colour: "#d62728" },
  ];
  console.log(
    lossChartText([
      { name: "LoRA (seed 0)", losses: loraRun.losses, colour: "#1f77b4", marker: "●" },
      { name: "PiSSA (seed 0)", losses: pissaRun.losses, colour: "#d62728", marker: "▲" },
    ]),
  );
  const verdict = compareLossRuns(
    ["LoRA", "PiSSA"],
    runs.map(({ lora, pissa }) => ({ first: lora.losses, second: pissa.losses })),
    { reported: { lower: "PiSSA", source: "the PiSSA paper" } },
  );
  const paint = verdict.outcome === "beyond-noise" ? style.green : style.yellow;
  for (const sentence of verdict.sentences) console.log(paint(sentence));
  const chartPath = join(workDir, "loss-curves.svg");
  await writeFile(
    chartPath,
    lossChartSvg(series, `LoRA vs PiSSA on stories260K (r ${settings.rank}, lr ${settings.learningRate})`),
  );
  const lossesPath = join(workDir, "losses.json");
  const seedCurves = runs.map(({ seed, lora, pissa }) => ({ seed, lora: lora.losses, pissa: pissa.losses }));
  await writeJsonFileAtomic(lossesPath, { settings, seeds: seedCurves, verdict });
  const storiesAfter = {
    lora: await story(loraRun.lora.model, tokenizer, tokenizer.encode(""), 60),
    pissa: await story(pissaRun.lora.model, tokenizer, tokenizer.encode(""), 60),
  };
  console.log(`after LoRA:  ${style.dim(storiesAfter.lora)}`);
  console.log(`after PiSSA: ${style.dim(storiesAfter.pissa)}`);
  const loraAdapter = loraRun.lora.getAdapter("lora");
  const pissaAdapter = pissaRun.lora.getAdapter("pissa");

  section(3, "The hazard: a LoRA and a PiSSA adapter on one base");
  const reference = freshLora();
  reference.loadAdapter("lora", loraAdapter);
  const expected = logitsOf(reference.model, evalPrompts);
  // PEFT's behaviour: PiSSA rewrites the shared base to W − s·B₀A₀; the LoRA adapter then runs on it.
  const peftLike = freshLora();
  peftLike.store.setPolicy("silent");
  peftLike.loadAdapter("lora", loraAdapter);
  peftLike.loadAdapter("pissa", pissaAdapter, { mode: "residual", guard: false, activate: false });
  peftLike.setActiveAdapters("lora");
  const peftResidualMaxAbs = maxAbsDifference(logitsOf(peftLike.model, evalPrompts), expected);
  console.log(
    `PEFT's way (residual mode, guard off): the LoRA adapter's logits are off by ${style.red(peftResidualMaxAbs.toFixed(3))} ` +
      `(${peftLike.store.journal.length} base weights rewritten)`,
  );
  let guardError = "";
  const guarded = freshLora();
  guarded.loadAdapter("lora", loraAdapter);
  try {
    guarded.loadAdapter("pissa", pissaAdapter, { mode: "residual", activate: false });
  } catch (error) {
    if (!isPeftjsError(error)) throw error;
    guardError = `${error.name}: ${error.message}`;
  }
  console.log(`residual mode with the guard on: ${style.yellow(guardError || "accepted (unexpected)")}`);
  const safe = freshLora();
  safe.loadAdapter("lora", loraAdapter);
  safe.loadAdapter("pissa", pissaAdapter, { activate: false });
  safe.setActiveAdapters("lora");
  const defaultsMaxAbs = maxAbsDifference(logitsOf(safe.model, evalPrompts), expected);
  console.log(
    `peftjs defaults (overlay mode): the LoRA adapter's logits differ by ${style.green(defaultsMaxAbs.toFixed(6))}`,
  );

  section(4, "Convert PiSSA to LoRA, merge, save PEFT folders");
  const converted = convertToLora(pissaAdapter, pissaRun.initial);
  const onOriginal = freshLora();
  onOriginal.loadAdapter("pissa_converted", converted);
  const convertedLogits = logitsOf(onOriginal.model, evalPrompts);
  const onResidual = freshLora();
  onResidual.store.setPolicy("silent");
  const snapshot = onResidual.store.snapshot("original");
  const originalFingerprint = onResidual.store.modelFingerprint();
  onResidual.loadAdapter("pissa", pissaAdapter, { mode: "residual" });
  const residualFingerprint = onResidual.store.modelFingerprint();
  const convertedVsResidualMaxAbs = maxAbsDifference(
    convertedLogits,
    logitsOf(onResidual.model, evalPrompts),
  );
  console.log(
    `converted LoRA (rank ${converted.config.r}) on the original base vs PiSSA on the residual: max |Δlogit| ${convertedVsResidualMaxAbs.toExponential(2)}`,
  );
  onOriginal.store.setPolicy("silent"); // merging rewrites the base on purpose; it is still journaled
  const mergedWeights = onOriginal.mergeAndUnload();
  const mergedVsConvertedMaxAbs = maxAbsDifference(logitsOf(onOriginal.model, evalPrompts), convertedLogits);
  console.log(
    `merged model vs converted adapter: max |Δlogit| ${mergedVsConvertedMaxAbs.toExponential(2)} ` +
      `(${onOriginal.store.journal.length} merged weights journaled)`,
  );
  const outputs: string[] = [chartPath, lossesPath];
  for (const [folder, adapter] of [
    ["lora", loraAdapter],
    ["pissa", pissaAdapter],
    ["pissa_init", pissaRun.initial],
    ["pissa_converted", converted],
  ] as const) {
    await savePeftAdapter(join(workDir, folder), adapter);
    outputs.push(join(workDir, folder));
  }
  const mergedTensors = new Map<string, RawTensor>(baseTensors);
  for (const [moduleName, weight] of mergedWeights)
    mergedTensors.set(`${moduleName}.weight`, toRaw(weight, "F32"));
  const mergedDir = join(workDir, "merged");
  await writeCheckpoint(mergedDir, mergedTensors);
  await writeJsonFileAtomic(join(mergedDir, "config.json"), config);
  outputs.push(mergedDir);
  console.log(`saved ${outputs.length - 2} folders in PEFT/transformers layout`);

  section(5, "Restore the snapshot");
  const changedWeights = onResidual.store.changedNames().length;
  onResidual.store.restore(snapshot);
  const restored = onResidual.store.modelFingerprint();
  console.log(`original  ${style.cyan(originalFingerprint)}`);
  console.log(
    `residual  ${style.cyan(residualFingerprint)} (${changedWeights} weights rewritten, journaled)`,
  );
  console.log(
    `restored  ${style.cyan(restored)} ${restored === originalFingerprint ? style.green("bit-exact") : style.red("DIFFERENT")}`,
  );

  return {
    backend: getBackend(),
    settings,
    baseStory,
    training: { lora: loraRun.losses, pissa: pissaRun.losses, seeds: seedCurves, verdict },
    storiesAfter,
    hazard: { peftResidualMaxAbs, defaultsMaxAbs, guardError },
    conversion: { convertedVsResidualMaxAbs, mergedVsConvertedMaxAbs },
    fingerprints: {
      original: originalFingerprint,
      residual: residualFingerprint,
      restored,
      journalEntries: onResidual.store.journal.length,
    },
    outputs,
    seconds: (performance.now() - started) / 1000,
  };
}

function printSummary(summary: DemoSummary, outDir: string): void {
  const last = (losses: number[]) => losses[losses.length - 1]!.toFixed(3);
  console.log(`\n${style.bold("Summary")}`);
  console.log(`- backend ${summary.backend}, ${summary.seconds.toFixed(1)} s`);
  const { verdict } = summary.training;
  const outcome =
    verdict.outcome === "beyond-noise"
      ? `${verdict.lower} fell faster, beyond the seed-to-seed noise`
      : verdict.outcome === "within-noise"
        ? "no winner: the gap is within the seed-to-seed noise"
        : "no winner: one seed measures no noise";
  console.log(
    `- training ${summary.settings.steps} steps (seed 0): LoRA ${summary.training.lora[0]!.toFixed(3)} → ` +
      `${last(summary.training.lora)}, PiSSA ${summary.training.pissa[0]!.toFixed(3)} → ` +
      `${last(summary.training.pissa)}; over ${verdict.seeds} seeds ${outcome}`,
  );
  console.log(
    `- hazard: PEFT's residual mode breaks the LoRA adapter by ${summary.hazard.peftResidualMaxAbs.toFixed(3)} logits; ` +
      `peftjs defaults: ${summary.hazard.defaultsMaxAbs.toExponential(1)}`,
  );
  console.log(
    `- conversion PiSSA → LoRA exact to ${summary.conversion.convertedVsResidualMaxAbs.toExponential(1)}; ` +
      `merge to ${summary.conversion.mergedVsConvertedMaxAbs.toExponential(1)}`,
  );
  console.log(
    `- snapshot restore ${summary.fingerprints.restored === summary.fingerprints.original ? "bit-exact" : "NOT exact"} ` +
      `(${summary.fingerprints.original})`,
  );
  console.log(`- output: ${outDir}`);
}
