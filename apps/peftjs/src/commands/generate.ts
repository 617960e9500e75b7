import { generate } from "@peftjs/models";
import { setBackend } from "@peftjs/tensor";
import { loadAdaptedModel } from "../lib/adapted-model.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import {
  modelDirectory,
  optionalInteger,
  optionalNumber,
  optionalString,
  parseBackendChoice,
  stringList,
} from "../lib/cli-options.js";
import { loadModelTokenizer } from "../lib/model-tokenizer.js";
import type { Command } from "./command.js";

/** What `peftjs generate --json` prints. */
export interface GenerateReport {
  prompt: string;
  text: string;
  tokens: number[];
}

/** `peftjs generate`: text from the model (with adapters), greedy or sampled. */
export const generateCommand: Command = {
  summary: "generate text with a model (and adapters), greedy or sampled",
  help: `Usage: peftjs generate --model DIR [--adapter [NAME=]DIR[:WEIGHT] ...] [--prompt TEXT] [--steps N]
                       [--temperature T] [--seed S] [--backend NAME] [--json]

Continues the prompt (after BOS) with the model's key/value cache and prints the text. Needs the model
folder's tokenizer (the embedded stories260K has one).

Options:
  --model DIR       base model folder, or "embedded" (stories260K)
  --adapter [NAME=]DIR[:W]  an adapter folder, its delta scaled by W (default 1); repeat for several
  --prompt TEXT     the start of the text (default: nothing, just BOS)
  --steps N         how many tokens to generate at most (default 100; stops at EOS)
  --temperature T   0 = greedy (default); above 0 samples
  --seed S          seed of the sampling (default 0; same seed, same text on every backend)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"prompt", "text", "tokens"}`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    prompt: { type: "string" },
    steps: { type: "string" },
    temperature: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: { flags: { model: { kind: "model" }, adapter: { kind: "adapters" } } },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const modelDir = modelDirectory(values);
    const prompt = optionalString(values, "prompt") ?? "";
    const steps = optionalInteger(values, "steps", { min: 1 }) ?? 100;
    const temperature = optionalNumber(values, "temperature", { min: 0 }) ?? 0;
    const seed = optionalInteger(values, "seed") ?? 0;
    const adapters = parseAdapterSpecs(stringList(values, "adapter"), { weights: "optional" });
    await setBackend(backend);
    const { model } = await loadAdaptedModel(modelDir, adapters);
    const tokenizer = await loadModelTokenizer(modelDir);
    const promptIds = tokenizer.encode(prompt);
    const tokens = await generate(model, promptIds, { maxNewTokens: steps, temperature, seed });
    const text = tokenizer.decode([...promptIds, ...tokens]);
    if (values.json) console.log(JSON.stringify({ prompt, text, tokens } satisfies GenerateReport, null, 2));
    else console.log(text.trim());
  },
};
