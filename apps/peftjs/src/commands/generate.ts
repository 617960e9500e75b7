import {
  type ChatMessage,
  generate,
  generateBatch,
  type Tokenizer,
  TokenizerNotFoundError,
} from "@peftjs/models";
import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { loadAdaptedModel } from "../lib/adapted-model.js";
import { parseAdapterNames } from "../lib/adapter-names.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import { chatPromptIds, chatTokenizer, generateReply, readMessagesFile, stopTokenIds } from "../lib/chat.js";
import {
  optionalInteger,
  optionalNumber,
  optionalString,
  parseBackendChoice,
  stringList,
} from "../lib/cli-options.js";
import { modelLocation } from "../lib/model-location.js";
import { checkIdsFitModel, decodeModelIds, loadModelTokenizer } from "../lib/model-tokenizer.js";
import type { Command, FlagValues } from "./command.js";

/** What `peftjs generate --json` prints. */
export interface GenerateReport {
  /**
   * The prompt as given (`--prompt`), the rendered chat prompt with `--chat` / `--messages`, or `--prompt-ids`
   * decoded ("" when the model has no tokenizer).
   */
  prompt: string;
  /**
   * Plain mode: the prompt and its continuation, decoded. Chat mode: the reply alone. "" with `--prompt-ids` on
   * a model without a tokenizer.
   */
  text: string;
  /** The new token ids (a stop id that ended generation included). */
  tokens: number[];
}

/** What `peftjs generate --adapter-names … --json` prints: one continuation per name, as {@link GenerateReport}. */
export interface GenerateRowsReport {
  /** The prompt as given, or the rendered chat prompt. */
  prompt: string;
  /** Per name: the adapter, the text (plain: prompt and continuation; chat: the reply) and the new ids. */
  rows: { adapter: string; text: string; tokens: number[] }[];
}

/** The prompt ids: plain text (encoded with the tokenizer's special tokens), or a chat rendered by its template. */
async function promptOf(
  values: FlagValues,
  tokenizer: Tokenizer,
  description: string,
): Promise<{ ids: number[]; text: string; chat: boolean }> {
  const prompt = optionalString(values, "prompt");
  const messagesPath = optionalString(values, "messages");
  const system = optionalString(values, "system");
  const chat = values.chat === true || messagesPath !== undefined;
  if (!chat) {
    if (system !== undefined) throw new CliUsageError("--system goes with --chat or --messages");
    return { ids: tokenizer.encode(prompt ?? ""), text: prompt ?? "", chat };
  }
  if (messagesPath !== undefined && (prompt !== undefined || values.chat === true)) {
    throw new CliUsageError("--messages holds the whole conversation: give it without --prompt and --chat");
  }
  if (messagesPath === undefined && prompt === undefined) {
    throw new CliUsageError("--chat needs --prompt TEXT (the user's message)");
  }
  const templated = chatTokenizer(tokenizer, description);
  const messages: ChatMessage[] =
    messagesPath !== undefined
      ? await readMessagesFile("messages", messagesPath)
      : [
          ...(system === undefined ? [] : [{ role: "system", content: system }]),
          { role: "user", content: prompt },
        ];
  if (messagesPath !== undefined && system !== undefined)
    messages.unshift({ role: "system", content: system });
  return {
    ids: chatPromptIds(templated, messages),
    text: templated.applyChatTemplate(messages, { addGenerationPrompt: true }),
    chat,
  };
}

/**
 * `--prompt-ids 1,2,3`: token ids taken as they are (no special tokens added).
 * @throws CliUsageError naming the text when it is not a comma-separated list of non-negative integers
 */
function parsePromptIds(text: string): number[] {
  const parts = text.split(",").map((part) => part.trim());
  if (!parts.every((part) => /^\d+$/.test(part))) {
    throw new CliUsageError(`--prompt-ids ${text} must be token ids separated by commas, e.g. 1,2,3`);
  }
  return parts.map(Number);
}

/**
 * The model's tokenizer, or undefined when it has none and the prompt is `--prompt-ids` (the ids need none:
 * generation then stops at the model config's EOS ids and no text is decoded).
 */
async function optionalTokenizer(location: string): Promise<Tokenizer | undefined> {
  try {
    return await loadModelTokenizer(location);
  } catch (error) {
    if (error instanceof TokenizerNotFoundError) return undefined;
    throw error;
  }
}

/** `peftjs generate`: text from the model (with adapters), greedy or sampled, plain or with the chat template. */
export const generateCommand: Command = {
  summary: "generate text with a model (and adapters), greedy or sampled; --chat applies the chat template",
  help: `Usage: peftjs generate --model M [--adapter [NAME=]M[:WEIGHT] ...] [--adapter-names A,B,...]
                       [--prompt TEXT | --chat --prompt TEXT [--system TEXT] | --messages FILE.json
                        | --prompt-ids ID,ID,...]
                       [--steps N] [--temperature T] [--seed S] [--backend NAME] [--json]

Continues a prompt with the model's key/value cache and prints the text. Needs the model's tokenizer
(tokenizer.json, or llama2.c's tok512.bin: the embedded stories260K has one). Generation stops at the
model's EOS ids (generation_config.json's eos_token_id, else config.json's, and tokenizer_config.json's
eos_token) or after --steps tokens. With --adapter-names, one batch generates a continuation per name, each
row with that adapter alone (a mixed-adapter batch), printed as "[NAME] text". --prompt-ids gives the prompt
as token ids instead, used as they are (no special tokens added); the tokenizer is then optional: without
one, generation stops at config.json's EOS ids and --json's "text" and "prompt" are empty (the ids are in
"tokens").

Plain mode (default): --prompt is encoded with the tokenizer's special tokens (BOS for Llama 2 / Mistral /
stories260K); the prompt and its continuation are printed.

Chat mode (--chat or --messages): the conversation is rendered with the model's chat template and the header
of an assistant turn (transformers' apply_chat_template(messages, add_generation_prompt=True)) and only the
reply is printed, without special tokens. --chat makes --prompt the user's message (after --system, if
given); --messages FILE.json gives a whole conversation, a JSON array of {"role", "content"} objects, e.g.
  [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]

Options:
  --model M         base model folder, Hub id, or "embedded" (stories260K)
  --adapter [NAME=]M[:W]  an adapter folder or Hub id, its delta scaled by W (default 1); repeat for several
  --adapter-names A,B,...  one row per name, each with that --adapter alone ("__base__": no adapter)
  --prompt TEXT     the start of the text (default: nothing, just BOS); with --chat, the user's message
  --chat            apply the chat template to --prompt (and --system)
  --system TEXT     with --chat or --messages: a system message first
  --messages FILE   a conversation to reply to (JSON array of {"role", "content"}); implies chat mode
  --prompt-ids IDS  the prompt as comma-separated token ids (no special tokens added; no tokenizer needed)
  --steps N         how many tokens to generate at most (default 100; stops at EOS)
  --temperature T   0 = greedy (default); above 0 samples
  --seed S          seed of the sampling (default 0; same seed, same text on every backend)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            print {"prompt", "text", "tokens"} (chat mode: prompt = the rendered template, text = the reply;
                    with --adapter-names: {"prompt", "rows": [{"adapter", "text", "tokens"}]})`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    "adapter-names": { type: "string" },
    prompt: { type: "string" },
    chat: { type: "boolean" },
    system: { type: "string" },
    messages: { type: "string" },
    "prompt-ids": { type: "string" },
    steps: { type: "string" },
    temperature: { type: "string" },
    seed: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
  },
  files: {
    flags: { model: { kind: "model" }, adapter: { kind: "adapters" }, messages: { kind: "input" } },
  },
  async run(values) {
    const backend = parseBackendChoice(values.backend);
    const location = modelLocation(values, "model");
    const steps = optionalInteger(values, "steps", { min: 1 }) ?? 100;
    const temperature = optionalNumber(values, "temperature", { min: 0 }) ?? 0;
    const seed = optionalInteger(values, "seed") ?? 0;
    const adapters = parseAdapterSpecs(stringList(values, "adapter"), { weights: "optional" });
    const adapterNames = parseAdapterNames(optionalString(values, "adapter-names"), adapters);
    await setBackend(backend);
    const promptIdsText = optionalString(values, "prompt-ids");
    if (promptIdsText !== undefined) {
      const conflicting = ["prompt", "chat", "messages", "system", "adapter-names"].filter(
        (flag) => values[flag] !== undefined,
      );
      if (conflicting.length > 0) {
        throw new CliUsageError(
          `--prompt-ids replaces ${conflicting.map((flag) => `--${flag}`).join(" and ")}`,
        );
      }
      const ids = parsePromptIds(promptIdsText);
      const tokenizer = await optionalTokenizer(location);
      const { model } = await loadAdaptedModel(location, adapters);
      let report: GenerateReport;
      if (tokenizer === undefined) {
        checkIdsFitModel(ids, model.config.vocabSize, undefined, "--prompt-ids");
        const tokens = await generate(model, ids, { maxNewTokens: steps, temperature, seed });
        report = { prompt: "", text: "", tokens };
      } else {
        const reply = await generateReply(model, tokenizer, ids, { maxNewTokens: steps, temperature, seed });
        report = {
          prompt: decodeModelIds(tokenizer, ids),
          text: decodeModelIds(tokenizer, [...ids, ...reply.tokens]),
          tokens: reply.tokens,
        };
      }
      if (values.json) console.log(JSON.stringify(report, null, 2));
      else console.log(tokenizer === undefined ? report.tokens.join(" ") : report.text.trim());
      return;
    }
    const tokenizer = await loadModelTokenizer(location);
    const prompt = await promptOf(values, tokenizer, location);
    const { model, lora } = await loadAdaptedModel(location, adapters);
    if (adapterNames !== undefined && lora !== undefined) {
      // a mixed batch: the same prompt once per name, each row with its adapter through every cache step
      checkIdsFitModel(prompt.ids, model.config.vocabSize, tokenizer, "the prompt");
      const options = { maxNewTokens: steps, temperature, seed, stopTokens: stopTokenIds(model, tokenizer) };
      const prompts = adapterNames.map(() => prompt.ids);
      const generated = await lora.withAdapterNames(adapterNames, () =>
        generateBatch(model, prompts, options),
      );
      const rows = generated.map((tokens, row) => ({
        adapter: adapterNames[row]!,
        text: decodeModelIds(tokenizer, prompt.chat ? tokens : [...prompt.ids, ...tokens]),
        tokens,
      }));
      const report = { prompt: prompt.text, rows } satisfies GenerateRowsReport;
      if (values.json) console.log(JSON.stringify(report, null, 2));
      else for (const row of rows) console.log(`[${row.adapter}] ${row.text.trim()}`);
      return;
    }
    const reply = await generateReply(model, tokenizer, prompt.ids, {
      maxNewTokens: steps,
      temperature,
      seed,
    });
    const text = prompt.chat ? reply.text : decodeModelIds(tokenizer, [...prompt.ids, ...reply.tokens]);
    if (values.json) {
      console.log(
        JSON.stringify({ prompt: prompt.text, text, tokens: reply.tokens } satisfies GenerateReport, null, 2),
      );
    } else console.log(text.trim());
  },
};
