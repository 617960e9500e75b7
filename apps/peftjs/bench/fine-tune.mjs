// Fine-tunes a LoRA adapter with the built command line (`peftjs train`) on the SmolLM2-135M-shaped Llama of
// issue 17 (hidden 576, 9 heads / 3 KV heads, intermediate 1536, vocabulary 49,152, tied embeddings, random
// weights): LoRA r16 (alpha 32) on q_proj,v_proj, AdamW, batch 4 × 128 tokens, a few steps, on a text file.
// It measures what a user of the CLI gets: the wall time of each training step, of the whole command (start
// of Node to exit: reading the model, tokenizing, training, saving) and the command's peak RSS.
//
// Usage (after `pnpm build`): node bench/fine-tune.mjs [MODEL_DIR] [--layers=8] [--steps=3] [--backend=wasm]
//   [--cli=PATH]
// MODEL_DIR defaults to /tmp/peftjs-bench-model-LAYERS, the folder `node packages/models/bench/smol.mjs` writes
// (with torch + transformers); without it the benchmark prints {bench: "skipped", reason} and exits 0. --cli
// runs another build of the command line (e.g. an older one, to compare).
//
// The bench model folder has no tokenizer, and it is a shared input that is never written: the benchmark builds
// a temporary model folder beside it — config.json copied, the safetensors files symlinked, and the
// SentencePiece-style BPE tokenizer of the CLI's test fixtures (test/fixtures/sp_bpe, 2,008 tokens, BOS 1 /
// EOS 2 like the model's config) — and trains on the project's own guide pages (docs/guide/*.md) as text.
//
// Prints JSON lines {bench, impl, ms, ...}: "cli_train_step_lora_qv_r16_4x128" (each step's wall time from the
// training log's stepMilliseconds; ms is the fastest step after the first, which also packs the weights),
// "cli_fine_tune_total" (the whole command), "cli_peak_rss_mb" (ms holds megabytes, as smol.mjs's
// peak_rss_mb), with load averages before and after. The machine may be shared: state the load average.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const found = argv.find((argument) => argument.startsWith(`--${name}=`));
  return found === undefined ? fallback : found.slice(name.length + 3);
};
const layers = Number(option("layers", "8"));
const steps = Number(option("steps", "3"));
const backend = option("backend", "wasm");
const cli = resolve(option("cli", join(here, "../dist/cli.js")));
const modelDirectory = resolve(
  argv.find((argument) => !argument.startsWith("--")) ?? `/tmp/peftjs-bench-model-${layers}`,
);
const tokenizerDirectory = join(here, "../test/fixtures/sp_bpe");
const guideDirectory = join(here, "../../../docs/guide");
const [batch, sequence, rank] = [4, 128, 16];
const impl = `peftjs-cli-${backend}`;
const emit = (record) => console.log(JSON.stringify(record));
const load = () => loadavg().map((value) => Number(value.toFixed(2)));
const round = (value) => Math.round(value * 10) / 10;

if (!Number.isSafeInteger(steps) || steps < 1) {
  emit({ bench: "failed", reason: `--steps=${option("steps")} is not a positive integer` });
  process.exit(1);
}
const modelFiles = existsSync(modelDirectory)
  ? readdirSync(modelDirectory).filter(
      (name) => name.endsWith(".safetensors") || name.endsWith(".index.json"),
    )
  : [];
if (!existsSync(join(modelDirectory, "config.json")) || modelFiles.length === 0) {
  emit({
    bench: "skipped",
    reason: `no model at ${modelDirectory} (config.json and safetensors); write it with \`node packages/models/bench/smol.mjs --layers=${layers}\` (needs torch + transformers)`,
  });
  process.exit(0);
}
if (!existsSync(cli)) {
  emit({ bench: "skipped", reason: `no command line at ${cli}: run \`pnpm build\` first` });
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), "peftjs-bench-fine-tune-"));
try {
  // A complete model folder that only links to the shared weights.
  const model = join(work, "model");
  const folderFiles = ["config.json", "generation_config.json"].filter((name) =>
    existsSync(join(modelDirectory, name)),
  );
  mkdirSync(model);
  for (const name of folderFiles) copyFileSync(join(modelDirectory, name), join(model, name));
  for (const name of modelFiles) symlinkSync(join(modelDirectory, name), join(model, name));
  for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
    copyFileSync(join(tokenizerDirectory, name), join(model, name));
  }
  // The guide pages as one text file: paragraphs separated by blank lines, as `train --data x.txt` reads them.
  const text = join(work, "guide.txt");
  const pages = readdirSync(guideDirectory)
    .filter((name) => name.endsWith(".md"))
    .sort();
  writeFileSync(text, pages.map((name) => readFileSync(join(guideDirectory, name), "utf8")).join("\n\n"));

  const config = JSON.parse(readFileSync(join(modelDirectory, "config.json"), "utf8"));
  emit({
    bench: "machine",
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    node: process.version,
    model: modelDirectory,
    layers: config.num_hidden_layers,
    hidden: config.hidden_size,
    vocab: config.vocab_size,
    cli,
  });
  emit({ bench: "load_average", when: "start", load: load() });
  const rssFile = join(work, "max-rss.json");
  const out = join(work, "adapter");
  const args = [
    "--require",
    join(here, "max-rss.cjs"),
    cli,
    "train",
    "--model",
    model,
    "--method",
    "lora",
    "--r",
    String(rank),
    "--alpha",
    String(2 * rank),
    "--target",
    "q_proj,v_proj",
    "--data",
    text,
    "--steps",
    String(steps),
    "--lr",
    "1e-4",
    "--batch",
    String(batch),
    "--seq",
    String(sequence),
    "--out",
    out,
    "--backend",
    backend,
    "--json",
  ];
  const start = performance.now();
  const run = spawnSync(process.execPath, args, {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    env: { ...process.env, NO_COLOR: "1", PEFTJS_BENCH_MAX_RSS_FILE: rssFile },
  });
  const totalMilliseconds = performance.now() - start;
  emit({ bench: "load_average", when: "end", load: load() });
  if (run.status !== 0) {
    emit({
      bench: "failed",
      impl,
      status: run.status,
      error: (run.stderr ?? "").trim().split("\n").slice(-5),
    });
    process.exitCode = 1;
  } else {
    const log = JSON.parse(run.stdout);
    // (A build from before the log had step times, given with --cli, reports the total and the memory only.)
    const stepTimes = log.stepMilliseconds ?? [];
    const afterFirst = stepTimes.length > 1 ? stepTimes.slice(1) : stepTimes;
    emit({
      bench: `cli_train_step_lora_qv_r${rank}_${batch}x${sequence}`,
      impl,
      ms: stepTimes.length === 0 ? null : Math.min(...afterFirst),
      steps: stepTimes,
      meanAfterFirst:
        stepTimes.length === 0
          ? null
          : round(afterFirst.reduce((sum, value) => sum + value, 0) / afterFirst.length),
      tokens: batch * sequence,
      losses: log.losses.map((loss) => Number(loss.toFixed(4))),
    });
    emit({ bench: "cli_fine_tune_total", impl, ms: round(totalMilliseconds), steps });
    const { maxRssKilobytes } = JSON.parse(readFileSync(rssFile, "utf8"));
    emit({ bench: "cli_peak_rss_mb", impl, ms: round(maxRssKilobytes / 1024) });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
