/**
 * Test oracle: the straightforward reading of a safetensors header (a full JSON tree from `parseStrictJson`,
 * then every member validated in order), as `src/header.ts` did before it became a one-pass scanner. The
 * property tests check that the scanner gives the same verdicts, messages and results on mutated headers.
 */
import { type Dtype, dtypeBitSize, isDtype } from "../../src/dtype.js";
import type { SafetensorsHeader } from "../../src/header.js";
import type { TensorInfo } from "../../src/raw-tensor.js";
import {
  SafetensorsDuplicateKeyError,
  SafetensorsHeaderEncodingError,
  SafetensorsHeaderSchemaError,
  SafetensorsIncompleteDataError,
  SafetensorsInvalidOffsetError,
  SafetensorsMisalignedError,
  SafetensorsShapeOverflowError,
  SafetensorsTensorSizeError,
  SafetensorsUnknownDtypeError,
} from "../../src/safetensors-errors.js";
import {
  describeJsonType,
  JsonNumber,
  JsonObject,
  type JsonValue,
  jsonEquals,
  parseStrictJson,
} from "../../src/strict-json.js";

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
export function referenceParseHeader(headerBytes: Uint8Array, sourceSize: number): SafetensorsHeader {
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
