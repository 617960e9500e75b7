/**
 * Reading and validating a safetensors header, with the checks and the order of checks of the official
 * library (safetensors 0.8, `SafeTensors::read_metadata` and `Metadata::validate`).
 */
import { type Dtype, dtypeBitSize, isDtype } from "./dtype.js";
import type { TensorInfo } from "./raw-tensor.js";
import {
  SafetensorsDuplicateKeyError,
  SafetensorsHeaderEncodingError,
  SafetensorsHeaderLengthError,
  SafetensorsHeaderSchemaError,
  SafetensorsHeaderTooLargeError,
  SafetensorsHeaderTooSmallError,
  SafetensorsIncompleteDataError,
  SafetensorsInvalidOffsetError,
  SafetensorsMisalignedError,
  SafetensorsShapeOverflowError,
  SafetensorsTensorSizeError,
  SafetensorsUnknownDtypeError,
} from "./safetensors-errors.js";
import {
  describeJsonType,
  JsonNumber,
  JsonObject,
  type JsonValue,
  jsonEquals,
  parseStrictJson,
} from "./strict-json.js";

/** The official limit on the JSON header's length in bytes (100 MB). */
export const MAX_HEADER_SIZE = 100_000_000;

/** The parsed header of a safetensors file. */
export interface SafetensorsHeader {
  /** One entry per tensor, in file (offset) order. */
  tensors: TensorInfo[];
  /** The `__metadata__` map, or `null` when the file has none (or has `"__metadata__": null`). */
  metadata: Record<string, string> | null;
  /** N, the length of the JSON header in bytes (after the 8-byte length prefix). */
  headerLength: number;
  /** Where the data section starts: 8 + N. */
  dataStart: number;
  /** The size of the whole file in bytes. */
  byteLength: number;
}

/**
 * Reads N from the 8-byte little-endian prefix and checks it against the official limit and the source size.
 * @param prefix - at least the first 8 bytes of the source (fewer when the source is shorter)
 * @param sourceSize - the total size of the source in bytes
 */
export function readHeaderLength(prefix: Uint8Array, sourceSize: number): number {
  if (sourceSize < 8 || prefix.length < 8) {
    throw new SafetensorsHeaderTooSmallError(
      `header too small: the source has ${sourceSize} bytes, fewer than the 8-byte header length`,
    );
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsHeaderTooLargeError(
      `header too large: declared length ${length} exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const headerLength = Number(length);
  if (8 + headerLength > sourceSize) {
    throw new SafetensorsHeaderLengthError(
      `invalid header length: 8 + ${headerLength} header bytes exceed the ${sourceSize}-byte source`,
    );
  }
  return headerLength;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

interface ParsedEntry {
  name: string;
  dtype: Dtype;
  shape: bigint[];
  start: bigint;
  end: bigint;
}

/**
 * Parses and validates the JSON header.
 * @param headerBytes - exactly the N header bytes
 * @param sourceSize - the total size of the source, which the tensors must cover exactly
 */
export function parseHeader(headerBytes: Uint8Array, sourceSize: number): SafetensorsHeader {
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch (error) {
    throw new SafetensorsHeaderEncodingError(`invalid UTF-8 in the ${headerBytes.length}-byte header`, {
      cause: error,
    });
  }
  const root = parseStrictJson(text);
  if (!(root instanceof JsonObject)) {
    throw new SafetensorsHeaderSchemaError(
      `the header must be a JSON object, found ${describeJsonType(root)}`,
    );
  }
  const seen = new Map<string, JsonValue>();
  let metadata: Record<string, string> | null = null;
  const entries: ParsedEntry[] = [];
  for (const [key, value] of root.entries) {
    const previous = seen.get(key);
    if (previous !== undefined) {
      if (jsonEquals(previous, value)) continue;
      throw new SafetensorsDuplicateKeyError(
        `the header has the key ${JSON.stringify(key)} twice with different values`,
      );
    }
    seen.set(key, value);
    if (key === "__metadata__") metadata = parseMetadata(value);
    else entries.push(parseEntry(key, value));
  }
  const headerLength = headerBytes.length;
  const dataLength = validateLayout(entries);
  if (dataLength !== BigInt(sourceSize - 8 - headerLength)) {
    const last = entries[entries.length - 1];
    const lastTensor =
      last === undefined ? "" : ` (the last, ${JSON.stringify(last.name)}, ends at ${last.end})`;
    throw new SafetensorsIncompleteDataError(
      `incomplete metadata, file not fully covered: the tensors cover ${dataLength} bytes${lastTensor} but the data section has ${
        sourceSize - 8 - headerLength
      }`,
    );
  }
  const tensors = entries.map((entry): TensorInfo => {
    const shape = entry.shape.map((dimension) => {
      if (dimension > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new SafetensorsShapeOverflowError(
          `shape [${entry.shape.join(", ")}] of ${JSON.stringify(entry.name)} has a dimension beyond 2^53`,
        );
      }
      return Number(dimension);
    });
    return {
      name: entry.name,
      dtype: entry.dtype,
      shape,
      dataOffsets: [Number(entry.start), Number(entry.end)],
    };
  });
  return { tensors, metadata, headerLength, dataStart: 8 + headerLength, byteLength: sourceSize };
}

function parseMetadata(value: JsonValue): Record<string, string> | null {
  if (value === null) return null;
  if (!(value instanceof JsonObject)) {
    throw new SafetensorsHeaderSchemaError(
      `__metadata__ must be an object or null, found ${describeJsonType(value)}`,
    );
  }
  const metadata: Record<string, string> = Object.create(null);
  for (const [key, item] of value.entries) {
    if (typeof item !== "string") {
      throw new SafetensorsHeaderSchemaError(
        `__metadata__ value of ${JSON.stringify(key)} must be a string, found ${describeJsonType(item)}`,
      );
    }
    if (Object.hasOwn(metadata, key) && metadata[key] !== item) {
      throw new SafetensorsDuplicateKeyError(
        `__metadata__ has the key ${JSON.stringify(key)} twice with different values`,
      );
    }
    metadata[key] = item;
  }
  return metadata;
}

function parseEntry(name: string, value: JsonValue): ParsedEntry {
  const label = JSON.stringify(name);
  if (!(value instanceof JsonObject)) {
    throw new SafetensorsHeaderSchemaError(
      `tensor ${label} must be an object, found ${describeJsonType(value)}`,
    );
  }
  const fields = new Map<string, JsonValue>();
  for (const [key, item] of value.entries) {
    if (fields.has(key) && (key === "dtype" || key === "shape" || key === "data_offsets")) {
      throw new SafetensorsDuplicateKeyError(`tensor ${label} has the field ${key} twice`);
    }
    fields.set(key, item);
  }
  const dtype = fields.get("dtype");
  const shape = fields.get("shape");
  const offsets = fields.get("data_offsets");
  if (dtype === undefined)
    throw new SafetensorsHeaderSchemaError(`tensor ${label} is missing the field dtype`);
  if (shape === undefined)
    throw new SafetensorsHeaderSchemaError(`tensor ${label} is missing the field shape`);
  if (offsets === undefined) {
    throw new SafetensorsHeaderSchemaError(`tensor ${label} is missing the field data_offsets`);
  }
  if (typeof dtype !== "string") {
    throw new SafetensorsHeaderSchemaError(
      `dtype of tensor ${label} must be a string, found ${describeJsonType(dtype)}`,
    );
  }
  if (!isDtype(dtype)) {
    throw new SafetensorsUnknownDtypeError(`unknown dtype ${JSON.stringify(dtype)} of tensor ${label}`);
  }
  const shapeValues = unsignedList(shape, `shape of tensor ${label}`);
  const offsetValues = unsignedList(offsets, `data_offsets of tensor ${label}`);
  if (offsetValues.length !== 2) {
    throw new SafetensorsHeaderSchemaError(
      `data_offsets of tensor ${label} must have 2 elements, found ${offsetValues.length}`,
    );
  }
  return {
    name,
    dtype,
    shape: shapeValues,
    start: offsetValues[0] as bigint,
    end: offsetValues[1] as bigint,
  };
}

function unsignedList(value: JsonValue, what: string): bigint[] {
  if (!Array.isArray(value)) {
    throw new SafetensorsHeaderSchemaError(`${what} must be an array, found ${describeJsonType(value)}`);
  }
  return value.map((item, index) => {
    if (!(item instanceof JsonNumber) || !item.isUnsignedInteger()) {
      throw new SafetensorsHeaderSchemaError(
        `${what} must hold unsigned integers, found ${describeJsonType(item)} at index ${index}`,
      );
    }
    const number = BigInt(item.text);
    if (number >= limit64) {
      throw new SafetensorsHeaderSchemaError(`${what} holds ${item.text}, beyond the 64-bit range`);
    }
    return number;
  });
}

const limit64 = 1n << 64n;

/**
 * Sorts the entries by data offsets and checks that they tile [0, end) without gaps or overlaps and that each
 * spans product(shape) × bits / 8 bytes (computed in 64 bits, overflow rejected). Returns the end.
 */
function validateLayout(entries: ParsedEntry[]): bigint {
  entries.sort((left, right) => compareBig(left.start, right.start) || compareBig(left.end, right.end));
  let expectedStart = 0n;
  for (const entry of entries) {
    const label = JSON.stringify(entry.name);
    if (entry.start !== expectedStart || entry.end < entry.start) {
      const problem =
        entry.end < entry.start
          ? "end before they start"
          : `should start at ${expectedStart}, where the previous tensor ends (no gaps, no overlaps)`;
      throw new SafetensorsInvalidOffsetError(
        `invalid offset for tensor ${label}: data_offsets [${entry.start}, ${entry.end}] ${problem}`,
      );
    }
    expectedStart = entry.end;
    let elements = 1n;
    for (const dimension of entry.shape) {
      elements *= dimension;
      if (elements >= limit64) {
        throw new SafetensorsShapeOverflowError(
          `overflow computing the size of tensor ${label}: shape [${entry.shape.join(", ")}] has more than 2^64 elements`,
        );
      }
    }
    const bits = elements * BigInt(dtypeBitSize(entry.dtype));
    if (bits >= limit64) {
      throw new SafetensorsShapeOverflowError(
        `overflow computing the size of tensor ${label}: ${elements} × ${dtypeBitSize(entry.dtype)} bits exceed 64 bits`,
      );
    }
    if (bits % 8n !== 0n) {
      throw new SafetensorsMisalignedError(
        `tensor ${label}: ${elements} ${entry.dtype} elements take ${bits} bits, not a whole number of bytes`,
      );
    }
    if (entry.end - entry.start !== bits / 8n) {
      throw new SafetensorsTensorSizeError(
        `invalid shape, data type, or offset for tensor ${label}: ${entry.dtype} [${entry.shape.join(", ")}] needs ${
          bits / 8n
        } bytes but data_offsets [${entry.start}, ${entry.end}] span ${entry.end - entry.start}`,
      );
    }
  }
  return expectedStart;
}

function compareBig(left: bigint, right: bigint): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
