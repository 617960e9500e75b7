import { PeftjsError } from "@peftjs/io";

/** An `adapter_config.json` (or a config object) is malformed: wrong type, out-of-range value, bad regex. */
export class LoraConfigError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("lora_config", message, options);
  }
}

/**
 * The config asks for a PEFT option that peftjs does not implement yet (DoRA, LoftQ, EVA, …). Such options are
 * never silently ignored: ignoring them would give an adapter that behaves differently from PEFT's.
 */
export class UnsupportedLoraOptionError extends PeftjsError {
  /** The offending `adapter_config.json` field. */
  readonly field: string;
  constructor(field: string, message: string) {
    super("lora_unsupported_option", message);
    this.field = field;
  }
}

/** An adapter's safetensors content does not look like a PEFT LoRA adapter (unknown key, shape mismatch, …). */
export class AdapterFileError extends PeftjsError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("adapter_file", message, options);
  }
}

/** Two matrices (or an adapter and a weight) have incompatible shapes. */
export class AdapterShapeError extends PeftjsError {
  constructor(message: string) {
    super("adapter_shape", message);
  }
}

/** A PiSSA/OLoRA → LoRA conversion is not possible as asked (missing module, rsLoRA with patterns, …). */
export class AdapterConversionError extends PeftjsError {
  constructor(message: string) {
    super("adapter_conversion", message);
  }
}

/** A weighted combination of adapters is not possible as asked (no adapters, mismatched targets, …). */
export class AdapterCombinationError extends PeftjsError {
  constructor(message: string) {
    super("adapter_combination", message);
  }
}

/** An init (PiSSA, OLoRA) cannot run on the given weight (rank too large, unsupported dtype, …). */
export class AdapterInitError extends PeftjsError {
  constructor(message: string) {
    super("adapter_init", message);
  }
}

/**
 * An adapter file holds NaN or ±Infinity in a factor: applied, it would turn every output of its modules into
 * NaN. The message names the tensor, the index and the value.
 */
export class AdapterNonFiniteError extends PeftjsError {
  /** The safetensors key of the offending tensor. */
  readonly tensor: string;
  constructor(tensor: string, message: string) {
    super("adapter_non_finite", message);
    this.tensor = tensor;
  }
}

/**
 * An adapter's factors would hold more elements than peftjs can allocate (see `MAX_ADAPTER_ELEMENTS`): refused
 * before anything is allocated. The message names the rank, the module and the element count.
 */
export class AdapterTooLargeError extends PeftjsError {
  /** The rank that made it too large (the largest per-module r of the config). */
  readonly r: number;
  /** The number of lora_A + lora_B elements the config asks for. */
  readonly elements: number;
  constructor(r: number, elements: number, message: string) {
    super("adapter_too_large", message);
    this.r = r;
    this.elements = elements;
  }
}
