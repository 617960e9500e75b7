import { PeftjsError } from "@peftjs/io";

/** No tokenizer file was found in a model source (`tokenizer.json`, `tok512.bin`, `tokenizer.bin`). */
export class TokenizerNotFoundError extends PeftjsError {
  constructor(message: string) {
    super("tokenizer_not_found", message);
  }
}

/** The tokenizer has no chat template, and none was passed (`chatTemplate`). */
export class ChatTemplateNotFoundError extends PeftjsError {
  constructor(message: string) {
    super("chat_template_not_found", message);
  }
}

/** A chat template is not valid Jinja (the message quotes the parser's complaint). */
export class ChatTemplateSyntaxError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("chat_template_syntax", message, options);
  }
}

/**
 * Rendering a chat template failed: the template called `raise_exception(...)` (its message is kept in
 * {@link ChatTemplateRenderError.templateMessage}) or evaluated something invalid.
 */
export class ChatTemplateRenderError extends PeftjsError {
  /** The message the template passed to `raise_exception`, or undefined for other failures. */
  readonly templateMessage: string | undefined;

  constructor(message: string, options: { cause?: unknown; templateMessage?: string } = {}) {
    super("chat_template_render", message, options);
    this.templateMessage = options.templateMessage;
  }
}

/** Contradictory chat-template options (e.g. `addGenerationPrompt` together with `continueFinalMessage`). */
export class ChatTemplateOptionsError extends PeftjsError {
  constructor(message: string) {
    super("chat_template_options", message);
  }
}
