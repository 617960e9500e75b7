import { PeftjsError, type PeftjsErrorOptions } from "./errors.js";

/**
 * The base class of every error about safetensors data: a malformed file, a tensor that cannot be written,
 * a source that cannot be read. Catch this to handle "bad file" in one place; each subclass is one kind of
 * failure with its own stable `code`.
 */
export class SafetensorsError extends PeftjsError {}

/** The source is shorter than the 8-byte header length prefix (official: "header too small"). */
export class SafetensorsHeaderTooSmallError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_too_small", message, options);
  }
}

/** The declared header length exceeds the official limit of 100,000,000 bytes ("header too large"). */
export class SafetensorsHeaderTooLargeError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_too_large", message, options);
  }
}

/** The declared header length runs past the end of the source ("invalid header length"). */
export class SafetensorsHeaderLengthError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_length", message, options);
  }
}

/** The header bytes are not valid UTF-8 ("invalid UTF-8 in header"). */
export class SafetensorsHeaderEncodingError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_encoding", message, options);
  }
}

/** The header is not well-formed JSON: syntax error, trailing characters, empty, nested too deeply. */
export class SafetensorsHeaderJsonError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_json", message, options);
  }
}

/**
 * The header is JSON but not a safetensors header: not an object, a missing or mistyped field, a negative or
 * fractional number where an unsigned integer is required, a non-string `__metadata__` value.
 */
export class SafetensorsHeaderSchemaError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_header_schema", message, options);
  }
}

/** A tensor's dtype is not one the official library knows (the comparison is case-sensitive). */
export class SafetensorsUnknownDtypeError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_unknown_dtype", message, options);
  }
}

/**
 * A key appears twice with different values (a tensor name, a field of a tensor entry, a metadata key).
 * Repeated keys with identical values are accepted, as the official library accepts them.
 */
export class SafetensorsDuplicateKeyError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_duplicate_key", message, options);
  }
}

/**
 * Data offsets that are reversed, leave a gap or overlap the previous tensor (in offset order, each tensor
 * must start where the previous one ends, the first at 0). Official: "invalid offset for tensor".
 */
export class SafetensorsInvalidOffsetError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_invalid_offset", message, options);
  }
}

/** The element count or byte size implied by a shape overflows 64 bits (or JavaScript's exact integers). */
export class SafetensorsShapeOverflowError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_shape_overflow", message, options);
  }
}

/** A sub-byte dtype (F4, F6) whose elements do not fill a whole number of bytes. */
export class SafetensorsMisalignedError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_misaligned", message, options);
  }
}

/** `data_offsets` span a different number of bytes than product(shape) × item size requires. */
export class SafetensorsTensorSizeError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_tensor_size", message, options);
  }
}

/**
 * The tensors do not cover the data section exactly: an offset beyond its end, or bytes after the last
 * tensor. Official: "incomplete metadata, file not fully covered".
 */
export class SafetensorsIncompleteDataError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_incomplete_data", message, options);
  }
}

/** A tensor name that is not in the file (or checkpoint). */
export class SafetensorsTensorNotFoundError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_tensor_not_found", message, options);
  }
}

/** A tensor handed to a writer is unusable: unknown dtype, bad shape, data of the wrong length, bad name. */
export class SafetensorsInvalidTensorError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_invalid_tensor", message, options);
  }
}

/** Metadata handed to a writer is not a string → string map. */
export class SafetensorsInvalidMetadataError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_invalid_metadata", message, options);
  }
}

/** A conversion between a dtype and float32 that is not defined (e.g. F6 packing, complex to real). */
export class SafetensorsConversionError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_conversion", message, options);
  }
}

/**
 * The bytes could not be obtained from the source: an HTTP error status, a server without range requests
 * and an unknown size, a file that changed size, an I/O failure. The original error is in `cause`.
 */
export class SafetensorsSourceError extends SafetensorsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("safetensors_source", message, options);
  }
}

/**
 * A checkpoint folder is unusable: no weights file, an unreadable or inconsistent
 * `model.safetensors.index.json`, a shard that lacks a tensor the index promises, a tensor in two shards.
 */
export class CheckpointError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("checkpoint", message, options);
  }
}

/** A JSON side file (`config.json`, `adapter_config.json`, an index) that cannot be read or parsed. */
export class JsonFileError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("json_file", message, options);
  }
}

/** A file-system operation failed (open, write, fsync, rename); the system error is in `cause`. */
export class FileSystemError extends PeftjsError {
  constructor(message: string, options?: PeftjsErrorOptions) {
    super("file_system", message, options);
  }
}
