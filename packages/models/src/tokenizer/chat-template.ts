/**
 * Chat templates rendered as transformers' `apply_chat_template` renders them, through `@huggingface/jinja`
 * (which parses with `trim_blocks` and `lstrip_blocks`, supports loop controls, and serialises `tojson` without
 * HTML escaping, as transformers' sandboxed jinja2 environment does). peftjs adds transformers' globals with
 * Python's behaviour (`raise_exception` as a typed error, `strftime_now` in the C locale), its template
 * selection (named templates, `tool_use`) and its `continue_final_message` trimming.
 */
import { Environment, Interpreter, Template } from "@huggingface/jinja";
import { strftime } from "./strftime.js";
import type { ChatTemplateSet, SpecialTokenStrings } from "./tokenizer-config.js";
import {
  ChatTemplateNotFoundError,
  ChatTemplateOptionsError,
  ChatTemplateRenderError,
  ChatTemplateSyntaxError,
} from "./tokenizer-errors.js";

/**
 * One message of a conversation: `role` and `content` (a string, or a list of content blocks such as
 * `{type: "text", text}`), plus whatever else the template reads (`tool_calls`, `name`, ...).
 */
export interface ChatMessage {
  readonly role: string;
  readonly content?: unknown;
  readonly [field: string]: unknown;
}

/** Options of {@link renderChatTemplate} (transformers' `apply_chat_template` arguments). */
export interface ChatTemplateOptions {
  /** Append the header that starts an assistant turn (`add_generation_prompt`). Default false. */
  readonly addGenerationPrompt?: boolean;
  /**
   * Leave the final message open (no end-of-turn tokens after it) so that the model continues it
   * (`continue_final_message`). Cannot be combined with `addGenerationPrompt`. Default false.
   */
  readonly continueFinalMessage?: boolean;
  /** Tool descriptions (JSON schemas) for templates that support tool use (`tools`). */
  readonly tools?: readonly Readonly<Record<string, unknown>>[];
  /** Documents for retrieval-augmented templates (`documents`, each `{title, text}`). */
  readonly documents?: readonly Readonly<Record<string, unknown>>[];
  /**
   * The template to use: the name of one of the tokenizer's named templates, or a Jinja template string.
   * Default: the tokenizer's template (`tool_use` when `tools` are given and the tokenizer has one).
   */
  readonly chatTemplate?: string;
  /** Further variables for the template, e.g. `{ enable_thinking: false }` for Qwen3 (transformers' `**kwargs`). */
  readonly variables?: Readonly<Record<string, unknown>>;
  /** The clock behind `strftime_now` (default: the current time). */
  readonly now?: () => Date;
}

/** Thrown by the template's `raise_exception(message)`; turned into a {@link ChatTemplateRenderError}. */
class TemplateRaisedException extends Error {}

const compiledTemplates = new Map<string, Template>();
/** Enough for every template of a few tokenizers; the cache only saves re-parsing. */
const compiledTemplateLimit = 16;

function compile(source: string): Template {
  const cached = compiledTemplates.get(source);
  if (cached !== undefined) return cached;
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ChatTemplateSyntaxError(`the chat template does not parse: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (compiledTemplates.size >= compiledTemplateLimit) {
    compiledTemplates.delete(compiledTemplates.keys().next().value as string);
  }
  compiledTemplates.set(source, template);
  return template;
}

/** Python's `str.isspace` characters (not JavaScript's `\s`: Python has U+001C–U+001F and U+0085, not U+FEFF). */
const pythonWhitespace =
  "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const leadingWhitespace = new RegExp(`^[${pythonWhitespace}]+`);
const trailingWhitespace = new RegExp(`[${pythonWhitespace}]+$`);
const pythonLstrip = (text: string) => text.replace(leadingWhitespace, "");
const pythonStrip = (text: string) => pythonLstrip(text).replace(trailingWhitespace, "");

/** Python's `range(stop)` / `range(start, stop[, step])`. */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  const [first, end] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error("range() arg 3 must not be zero");
  const values: number[] = [];
  for (let value = first; step > 0 ? value < end : value > end; value += step) values.push(value);
  return values;
}

/**
 * The globals of transformers' template environment: jinja2's constants (and their title-case spellings,
 * which `@huggingface/jinja` also accepts), `range`, `raise_exception` and `strftime_now`.
 */
function templateGlobals(now: () => Date): Record<string, unknown> {
  return {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    range: pythonRange,
    raise_exception: (message: unknown) => {
      throw new TemplateRaisedException(String(message));
    },
    strftime_now: (format: unknown) => strftime(now(), String(format)),
  };
}

/**
 * Picks the template as transformers' `get_chat_template` does: a named template when `requested` names one,
 * `requested` itself when it is a template string, else the tokenizer's (`tool_use` when there are tools,
 * then `default`).
 *
 * @param description names the tokenizer in error messages.
 * @throws ChatTemplateNotFoundError when there is no template to use.
 */
export function selectChatTemplate(
  templates: ChatTemplateSet | undefined,
  requested: string | undefined,
  hasTools: boolean,
  description: string,
): string {
  if (typeof templates === "object") {
    if (requested !== undefined) return templates[requested] ?? requested;
    if (hasTools && templates.tool_use !== undefined) return templates.tool_use;
    if (templates.default !== undefined) return templates.default;
    throw new ChatTemplateNotFoundError(
      `${description} has several chat templates and none is named "default": pass chatTemplate, one of ${Object.keys(
        templates,
      )
        .sort()
        .join(", ")}`,
    );
  }
  if (requested !== undefined) return requested;
  if (templates !== undefined) return templates;
  throw new ChatTemplateNotFoundError(
    `${description} has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja): pass one as chatTemplate`,
  );
}

/** The text of the final message that `continue_final_message` keeps open (the last text block of a list). */
function finalMessageText(messages: readonly ChatMessage[]): string {
  const content = messages.at(-1)?.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    for (let index = content.length - 1; index >= 0; index--) {
      const block = content[index] as Record<string, unknown> | null;
      if (typeof block === "object" && block !== null && typeof block.text === "string") return block.text;
    }
  }
  throw new ChatTemplateOptionsError(
    "continueFinalMessage is set but the final message has no text to continue",
  );
}

/**
 * Renders a conversation with a Jinja chat template, as transformers' `apply_chat_template(...,
 * tokenize=False)`: the template sees `messages`, `tools`, `documents`, `add_generation_prompt`, the role
 * tokens (`bos_token`, `eos_token`, ...) and `options.variables`.
 *
 * @throws ChatTemplateOptionsError for contradictory options, ChatTemplateSyntaxError for a template that does
 *   not parse, ChatTemplateRenderError when rendering fails or the template calls `raise_exception`.
 */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  specialTokens: SpecialTokenStrings,
  options: ChatTemplateOptions = {},
): string {
  const addGenerationPrompt = options.addGenerationPrompt ?? false;
  const continueFinalMessage = options.continueFinalMessage ?? false;
  if (continueFinalMessage && addGenerationPrompt) {
    throw new ChatTemplateOptionsError(
      "continueFinalMessage and addGenerationPrompt cannot be combined: the first continues the final message, the second starts a new assistant turn",
    );
  }
  if (!Array.isArray(messages))
    throw new ChatTemplateOptionsError("messages must be an array of {role, content}");
  for (const [index, message] of messages.entries()) {
    if (typeof message !== "object" || message === null || typeof message.role !== "string") {
      throw new ChatTemplateOptionsError(`message ${index} has no role: ${JSON.stringify(message)}`);
    }
  }
  const roleTokens: Record<string, string> = {};
  for (const [role, token] of Object.entries(specialTokens)) {
    if (token !== undefined) roleTokens[`${role}_token`] = token;
  }
  const now = options.now ?? (() => new Date());
  const compiled = compile(template);
  let rendered: string;
  try {
    // Template.render would declare the library's own raise_exception/strftime_now, which cannot be
    // redeclared; so peftjs builds the environment: its globals in a parent, the render arguments in a child
    // (render arguments shadow globals, as in jinja2).
    const globals = new Environment();
    for (const [name, value] of Object.entries(templateGlobals(now))) globals.set(name, value);
    const scope = new Environment(globals);
    const variables = {
      messages,
      tools: options.tools ?? null,
      documents: options.documents ?? null,
      add_generation_prompt: addGenerationPrompt,
      ...roleTokens,
      ...options.variables,
    };
    for (const [name, value] of Object.entries(variables)) scope.set(name, value);
    const result = new Interpreter(scope).run(compiled.parsed);
    rendered = String(result.value);
  } catch (error) {
    if (error instanceof TemplateRaisedException) {
      throw new ChatTemplateRenderError(`the chat template raised an exception: ${error.message}`, {
        cause: error,
        templateMessage: error.message,
      });
    }
    throw new ChatTemplateRenderError(`rendering the chat template failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!continueFinalMessage) return rendered;
  // transformers: cut the rendering right after the final message's (stripped) text.
  const finalText = finalMessageText(messages);
  const stripped = pythonStrip(finalText);
  const location = rendered.lastIndexOf(stripped);
  if (location < 0) {
    throw new ChatTemplateOptionsError(
      "continueFinalMessage is set but the final message does not appear in the rendering: the template changes it",
    );
  }
  const lstripped = pythonLstrip(finalText);
  const keepsSpacing = rendered.slice(location, location + lstripped.length) === finalText;
  return rendered.slice(0, location + (keepsSpacing ? lstripped.length : stripped.length));
}
