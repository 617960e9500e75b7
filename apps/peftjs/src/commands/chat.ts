import { createInterface } from "node:readline/promises";
import { isPeftjsError } from "@peftjs/io";
import type { ChatMessage, HuggingFaceTokenizer } from "@peftjs/models";
import { setBackend } from "@peftjs/tensor";
import { CliUsageError } from "../cli-error.js";
import { loadAdaptedModel } from "../lib/adapted-model.js";
import { parseAdapterSpecs } from "../lib/adapter-spec.js";
import type { BaseModel } from "../lib/base-model.js";
import { chatPromptIds, chatTokenizer, generateReply, type Reply, readMessagesFile } from "../lib/chat.js";
import {
  optionalInteger,
  optionalNumber,
  optionalString,
  parseBackendChoice,
  stringList,
} from "../lib/cli-options.js";
import { modelLocation } from "../lib/model-location.js";
import { loadModelTokenizer } from "../lib/model-tokenizer.js";
import { printable, style } from "../terminal.js";
import type { Command } from "./command.js";

/** What `peftjs chat --json` prints (one-shot mode). */
export interface ChatReport {
  /** The conversation, the model's reply appended as an `assistant` message. */
  messages: ChatMessage[];
  /** The reply's text (without special tokens). */
  reply: string;
  /** The reply's token ids (the stop id that ended it included). */
  tokens: number[];
  /** Whether the reply ended at an EOS id (false: it ran out of --steps or of the model's context). */
  stopped: boolean;
}

interface ChatSettings {
  readonly maxNewTokens: number;
  /** --steps not given: the default is lowered to what fits the model's context. */
  readonly fitContext: boolean;
  readonly temperature: number;
  readonly seed: number;
}

/** One turn: the reply to `messages`, streamed to stdout when `stream` is set. */
function replyTo(
  base: BaseModel,
  tokenizer: HuggingFaceTokenizer,
  messages: readonly ChatMessage[],
  settings: ChatSettings,
  stream: boolean,
): Promise<Reply> {
  return generateReply(base.model, tokenizer, chatPromptIds(tokenizer, messages), {
    ...settings,
    ...(stream ? { onText: (piece: string) => process.stdout.write(piece) } : {}),
  });
}

/** The interactive loop on a terminal: a line per user turn, `/reset` forgets, `/exit` or Ctrl-D ends. */
async function interactive(
  base: BaseModel,
  tokenizer: HuggingFaceTokenizer,
  start: readonly ChatMessage[],
  settings: ChatSettings,
): Promise<void> {
  // terminal: false leaves echo and line editing to the terminal itself: readline's own cursor sequences
  // would be escaped by the output guard (terminal.ts), which lets no control sequence but colours through.
  const lines = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
  let messages = [...start];
  let seed = settings.seed;
  console.log(style.dim('Type a message and press Enter; "/reset" starts over, "/exit" or Ctrl-D ends.'));
  try {
    for (;;) {
      let line: string;
      try {
        line = await lines.question(style.bold("you> "));
      } catch {
        break; // Ctrl-D / closed input
      }
      const text = line.trim();
      if (text === "/exit" || text === "/quit") break;
      if (text === "/reset") {
        messages = [...start];
        console.log(style.dim("(conversation cleared)"));
        continue;
      }
      if (text === "") continue;
      const asked = [...messages, { role: "user", content: text }];
      process.stdout.write(style.bold("model> "));
      try {
        // Each sampled turn draws from its own seed, so two identical questions may get different answers.
        const reply = await replyTo(base, tokenizer, asked, { ...settings, seed: seed++ }, true);
        process.stdout.write("\n");
        messages = [...asked, { role: "assistant", content: reply.text }];
      } catch (error) {
        if (!isPeftjsError(error)) throw error;
        // A turn that cannot be answered (e.g. the context is full) is reported; the session goes on.
        process.stdout.write("\n");
        console.error(style.red(printable(`${error.name}: ${error.message}`)));
      }
    }
  } finally {
    lines.close();
  }
}

/** `peftjs chat`: talk to a model through its chat template, interactively or one message at a time. */
export const chatCommand: Command = {
  summary: "chat with a model (and adapters) through its chat template; interactive on a terminal",
  help: `Usage: peftjs chat --model M [--adapter [NAME=]M[:WEIGHT] ...] [--system TEXT]
                   [--message TEXT | --messages FILE.json] [--steps N] [--temperature T] [--seed S]
                   [--backend NAME] [--json]

Renders the conversation with the model's chat template and the header of an assistant turn (transformers'
apply_chat_template(messages, add_generation_prompt=True)), generates the reply with the key/value cache and
streams it as it is decoded. A reply ends at the model's EOS ids (generation_config.json's eos_token_id,
else config.json's, and tokenizer_config.json's eos_token, e.g. <|im_end|>) or after --steps tokens. The
model needs a tokenizer.json with a chat template.

One-shot (any stdin): --message TEXT is the user's message (after --system, if given); --messages FILE.json
is a whole conversation, a JSON array of {"role", "content"} objects, e.g.
  [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
The reply is printed (streamed), or with --json {"messages", "reply", "tokens", "stopped"}.

Interactive (stdin and stdout are a terminal, no --message/--messages): type a message per line; "/reset"
starts the conversation over (keeping --system), "/exit" or Ctrl-D ends.

Options:
  --model M         base model folder or Hub id
  --adapter [NAME=]M[:W]  an adapter folder or Hub id, its delta scaled by W (default 1); repeat for several
  --system TEXT     a system message at the start of the conversation
  --message TEXT    one-shot: the user's message
  --messages FILE   one-shot: the conversation to reply to (JSON array of {"role", "content"})
  --steps N         the most tokens per reply (default 256, lowered to what fits the model's context)
  --temperature T   0 = greedy (default); above 0 samples
  --seed S          seed of the sampling (default 0)
  --backend NAME    auto | js | wasm | gpu (default auto)
  --json            one-shot: print {"messages", "reply", "tokens", "stopped"} instead of streaming`,
  options: {
    model: { type: "string" },
    adapter: { type: "string", multiple: true },
    system: { type: "string" },
    message: { type: "string" },
    messages: { type: "string" },
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
    const steps = optionalInteger(values, "steps", { min: 1 });
    const settings: ChatSettings = {
      maxNewTokens: steps ?? 256,
      fitContext: steps === undefined,
      temperature: optionalNumber(values, "temperature", { min: 0 }) ?? 0,
      seed: optionalInteger(values, "seed") ?? 0,
    };
    const adapters = parseAdapterSpecs(stringList(values, "adapter"), { weights: "optional" });
    const message = optionalString(values, "message");
    const messagesPath = optionalString(values, "messages");
    const system = optionalString(values, "system");
    if (message !== undefined && messagesPath !== undefined) {
      throw new CliUsageError("give --message or --messages, not both");
    }
    const oneShot = message !== undefined || messagesPath !== undefined;
    if (!oneShot) {
      if (process.stdin.isTTY !== true || process.stdout.isTTY !== true) {
        throw new CliUsageError(
          "the interactive chat needs a terminal; give --message TEXT or --messages FILE.json for one reply",
        );
      }
      if (values.json === true) throw new CliUsageError("--json goes with --message or --messages");
    }
    const start: ChatMessage[] = [
      ...(system === undefined ? [] : [{ role: "system", content: system }]),
      ...(messagesPath === undefined ? [] : await readMessagesFile("messages", messagesPath)),
      ...(message === undefined ? [] : [{ role: "user", content: message }]),
    ];
    await setBackend(backend);
    const tokenizer = chatTokenizer(await loadModelTokenizer(location), location);
    // Render once before loading the model, so that a template error (e.g. an unknown role) comes first.
    if (oneShot) chatPromptIds(tokenizer, start);
    const base = await loadAdaptedModel(location, adapters);
    if (!oneShot) {
      await interactive(base, tokenizer, start, settings);
      return;
    }
    const stream = values.json !== true;
    const reply = await replyTo(base, tokenizer, start, settings, stream);
    if (stream) {
      process.stdout.write("\n");
      return;
    }
    const report: ChatReport = {
      messages: [...start, { role: "assistant", content: reply.text }],
      reply: reply.text,
      tokens: reply.tokens,
      stopped: reply.stopped,
    };
    console.log(JSON.stringify(report, null, 2));
  },
};
