import { PeftjsError } from "@peftjs/io";

/** A tokenizer file is malformed (truncated record, negative length, ...); the message names the offset. */
export class TokenizerFormatError extends PeftjsError {
  constructor(message: string) {
    super("tokenizer_format", message);
  }
}

/** A token id passed to the tokenizer is outside `[0, vocabSize)`. */
export class TokenIdError extends PeftjsError {
  constructor(message: string) {
    super("token_id", message);
  }
}

/** A model `config.json` is missing a required field or holds an invalid value. */
export class ModelConfigError extends PeftjsError {
  constructor(message: string) {
    super("model_config", message);
  }
}

/** The config asks for a RoPE variant (`rope_type` / `rope_scaling`) this implementation does not support. */
export class UnsupportedRopeTypeError extends PeftjsError {
  /** The requested rope type, e.g. `"llama3"`. */
  readonly ropeType: string;

  constructor(ropeType: string, supported: readonly string[] = ["default"]) {
    super(
      "unsupported_rope_type",
      `rope_type "${ropeType}" is not supported; supported rope types: ${supported.map((name) => `"${name}"`).join(", ")}`,
    );
    this.ropeType = ropeType;
  }
}

/** A checkpoint lacks a weight the model needs, or holds one with the wrong shape. */
export class ModelWeightsError extends PeftjsError {
  constructor(message: string) {
    super("model_weights", message);
  }
}

/** A forward or generation call received invalid arguments (bad shape, past the context length, ...). */
export class ModelInputError extends PeftjsError {
  constructor(message: string) {
    super("model_input", message);
  }
}

/** A model file could not be fetched (network failure, HTTP error status, invalid JSON). */
export class ModelSourceError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("model_source", message, options);
  }
}

/**
 * Training produced a non-finite loss, gradient or parameter (diverged: learning rate too high, bad data);
 * training stops before the non-finite update is applied. The message names the step and the last finite one.
 */
export class TrainingDivergedError extends PeftjsError {
  /** The 0-based step at which the non-finite value appeared. */
  readonly step: number;
  /** The last step whose loss and update were finite, or -1 when none was. */
  readonly lastFiniteStep: number;
  constructor(step: number, lastFiniteStep: number, message: string) {
    super("training_diverged", message);
    this.step = step;
    this.lastFiniteStep = lastFiniteStep;
  }
}

/** `config.json` names a `model_type` no registered architecture implements. */
export class UnsupportedModelTypeError extends PeftjsError {
  /** The requested `model_type`. */
  readonly modelType: string;

  constructor(modelType: string, supported: readonly string[]) {
    super(
      "unsupported_model_type",
      `model_type ${JSON.stringify(modelType)} is not supported; supported: ${supported.map((name) => JSON.stringify(name)).join(", ")}`,
    );
    this.modelType = modelType;
  }
}

/**
 * `config.json` turns on a documented option of its architecture that this implementation does not compute
 * (Gemma's logit soft-capping, bidirectional attention, …). Refused rather than approximated.
 */
export class UnsupportedModelOptionError extends PeftjsError {
  /** The `config.json` field, e.g. `"final_logit_softcapping"`. */
  readonly option: string;
  /** Its value as read. */
  readonly value: unknown;

  constructor(modelType: string, option: string, value: unknown, supported: string) {
    super(
      "unsupported_model_option",
      `${modelType}: config.json "${option}" = ${JSON.stringify(value)} is not supported (supported: ${supported})`,
    );
    this.option = option;
    this.value = value;
  }
}
