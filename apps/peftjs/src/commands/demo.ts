import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { readCheckpoint, writeJsonFileAtomic } from "@peftjs/io/node";
import { BOS_TOKEN_ID, generate } from "@peftjs/models";
import { loadLlama, loadLlama2cTokenizer } from "@peftjs/models/node";
import { WeightStore } from "@peftjs/state";
import { getBackend, setBackend } from "@peftjs/tensor";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import { style } from "../terminal.js";
import type { Command } from "./command.js";

type BackendChoice = "auto" | "js" | "wasm" | "gpu";
const backendChoices: readonly BackendChoice[] = ["auto", "js", "wasm", "gpu"];

/** Parses `--backend`; an unknown name is a user error that lists the choices. */
export function parseBackendChoice(value: unknown): BackendChoice {
  const choice = (value ?? "auto") as BackendChoice;
  if (!backendChoices.includes(choice)) {
    throw new CliUsageError(`--backend ${String(value)} is not one of ${backendChoices.join(", ")}`);
  }
  return choice;
}

function section(step: number, title: string): void {
  console.log(`\n${style.bold(`${step}. ${title}`)}`);
}

/** `peftjs demo`: what peftjs does, on the embedded stories260K model, in one command. */
export const demoCommand: Command = {
  summary: "run the tour on the embedded stories260K model (writes ./peftjs-demo-output/)",
  help: `Usage: peftjs demo [--out DIR] [--backend auto|js|wasm|gpu] [--json]

Runs on the embedded stories260K model (Andrej Karpathy's tiny Llama, MIT): generates a story, then shows
the weight store's fingerprints, a journaled base mutation and a bit-exact restore.

Options:
  --out DIR       output folder (default ./peftjs-demo-output)
  --backend NAME  compute backend (default auto: the fastest that passes its self-test)
  --json          print the summary as JSON`,
  options: { out: { type: "string" }, backend: { type: "string" }, json: { type: "boolean" } },
  async run(values) {
    const outDir = resolve((values.out as string | undefined) ?? "peftjs-demo-output");
    await setBackend(parseBackendChoice(values.backend));
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    console.log(
      `${style.bold("peftjs demo")} on the embedded stories260K, backend ${style.cyan(getBackend())}`,
    );

    section(1, "A story from the base model");
    const model = await loadLlama(embeddedModelDir);
    const tokenizer = await loadLlama2cTokenizer(
      join(embeddedModelDir, "tok512.bin"),
      model.config.vocabSize,
    );
    const started = performance.now();
    const storyIds = generate(model, [BOS_TOKEN_ID], { maxNewTokens: 120 });
    const seconds = (performance.now() - started) / 1000;
    const story = tokenizer.decodeAll([BOS_TOKEN_ID, ...storyIds]);
    console.log(style.dim(story.trim()));
    console.log(`(${storyIds.length} tokens in ${seconds.toFixed(2)} s)`);

    section(2, "The base is immutable; changes are journaled");
    const { tensors } = await readCheckpoint(embeddedModelDir);
    const base = WeightStore.from(tensors, {
      warn: (warning) => console.log(style.yellow(`warning: ${warning.message}`)),
    });
    const original = base.snapshot("original");
    const fingerprintBefore = base.modelFingerprint();
    console.log(`base fingerprint ${style.cyan(fingerprintBefore)}`);
    const target = "model.layers.0.self_attn.q_proj.weight";
    const weight = base.get(target).toRaw();
    const halved = new Float32Array(weight.data.slice().buffer).map((value) => value / 2);
    base.mutate(
      target,
      { ...weight, data: new Uint8Array(halved.buffer) },
      { reason: "demo: halve one weight", by: "peftjs demo" },
    );
    const mutated = base.modelFingerprint();
    console.log(`after mutate   ${style.cyan(mutated)} (journal: ${base.journal.length} entry)`);
    base.restore(original);
    const fingerprintAfter = base.modelFingerprint();
    console.log(
      `after restore  ${style.cyan(fingerprintAfter)} (${fingerprintAfter === fingerprintBefore ? "bit-exact" : "DIFFERENT"})`,
    );

    const summary = {
      backend: getBackend(),
      story: story.trim(),
      generation: { tokens: storyIds.length, seconds },
      fingerprints: { original: fingerprintBefore, mutated, restored: fingerprintAfter },
      journal: base.journal,
    };
    await writeJsonFileAtomic(join(outDir, "summary.json"), summary);
    if (values.json) console.log(JSON.stringify(summary, null, 2));
    console.log(
      `\n${style.bold("Summary")}: generated ${storyIds.length} tokens; restore is ${fingerprintAfter === fingerprintBefore ? "bit-exact" : "NOT exact"}; output in ${outDir}`,
    );
  },
};
