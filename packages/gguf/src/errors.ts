import { PeftjsError, type PeftjsErrorOptions } from "@peftjs/io";

/** A GGUF file is malformed, or a value cannot be written to one (a non-finite number, a too-long name, …). */
export class GgufFormatError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("gguf_format", message, options);
  }
}

/**
 * A model cannot be written in llama.cpp's layout: an unknown `model_type`, or a `config.json` setting that
 * llama.cpp's graph for that architecture cannot reproduce (the message names the setting and its value).
 */
export class GgufArchitectureError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("gguf_architecture", message, options);
  }
}

/** A tokenizer cannot be written as llama.cpp's vocabulary metadata (unknown model or pre-tokenizer, bad file). */
export class GgufTokenizerError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("gguf_tokenizer", message, options);
  }
}

/**
 * An adapter that llama.cpp cannot run as a LoRA (DoRA, an unconverted PiSSA/OLoRA adapter that needs a mutated
 * base, LoRA on a tied output projection, …). {@link GgufUnsupportedAdapterError.reason} says why and
 * {@link GgufUnsupportedAdapterError.remedy} what to do instead.
 */
export class GgufUnsupportedAdapterError extends PeftjsError {
  /** Why llama.cpp cannot run it. */
  readonly reason: string;
  /** What works instead (convert first, export the merged model, …). */
  readonly remedy: string;
  constructor(reason: string, remedy: string) {
    super("gguf_unsupported_adapter", `${reason}. ${remedy}`);
    this.reason = reason;
    this.remedy = remedy;
  }
}

/**
 * A GGUF LoRA does not belong to the given base model: another architecture, a tensor the model does not have,
 * or factors whose shapes disagree with the model's weights.
 */
export class GgufAdapterMismatchError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("gguf_adapter_mismatch", message, options);
  }
}
