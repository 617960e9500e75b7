/**
 * One pass over a safetensors header's JSON that checks its syntax and builds the tensor entries directly,
 * without a JSON tree in between: a 100 MB header of 1.7 M tensors would otherwise hold ~20 objects per
 * tensor at once. The verdicts are those of the tree-based reading (`parseStrictJson`, then each member in
 * order): a syntax error anywhere wins over any schema error, and among schema errors the first member in
 * document order wins, with the checks inside a member in the same order. Schema errors are therefore
 * recorded, not thrown, and the rest of the header is then only syntax-checked (in constant memory).
 */
import { type Dtype, isDtype } from "./dtype.js";
import type { TensorInfo } from "./raw-tensor.js";
import {
  SafetensorsDuplicateKeyError,
  type SafetensorsError,
  SafetensorsHeaderSchemaError,
  SafetensorsUnknownDtypeError,
} from "./safetensors-errors.js";
import {
  describeJsonType,
  JsonNumber,
  jsonEquals,
  parseStrictJson,
  StrictJsonParser,
} from "./strict-json.js";

/** Exact values of an entry that has a number of 16 digits or more (possibly beyond 2^53). */
export interface WideEntryValues {
  shape: bigint[];
  start: bigint;
  end: bigint;
}

/** What {@link scanHeader} found. */
export interface ScannedHeader {
  /** The tensor entries in document order (duplicates with identical values appear once). */
  entries: TensorInfo[];
  /**
   * Entries with a number of 16 digits or more, with their exact values (their `shape` / `dataOffsets`
   * numbers may be rounded). Empty for every real file.
   */
  wide: Map<TensorInfo, WideEntryValues>;
  /** `__metadata__`, or null. */
  metadata: Record<string, string> | null;
  /** The first schema error in document order, if any (the syntax was valid). */
  error: SafetensorsError | undefined;
}

/** Longest digit string that is always below 2^53 (10^15 − 1 < 2^53 ≈ 9.007 · 10^15). */
const safeDigits = 15;
const limit64 = 1n << 64n;

/** A field value that was not of the expected kind, described for the message. */
interface Mismatch {
  readonly mismatch: string;
}

/** An unsigned-integer list: its values, or the message of its first bad item. */
type ScannedList = { values: (number | bigint)[]; wide: boolean } | { problem: string } | Mismatch;

/**
 * Scans the header text (already decoded from UTF-8).
 * @throws SafetensorsHeaderJsonError for any syntax error, SafetensorsHeaderSchemaError when the root is not
 *   an object; other schema errors are returned in `error`.
 */
export function scanHeader(text: string): ScannedHeader {
  const parser = new StrictJsonParser(text);
  parser.skipWhitespace();
  if (text.charCodeAt(parser.position) !== 0x7b) {
    const found = describeSkipped(parser, 0);
    finish(parser);
    throw new SafetensorsHeaderSchemaError(`the header must be a JSON object, found ${found}`);
  }
  const entries: TensorInfo[] = [];
  const wide = new Map<TensorInfo, WideEntryValues>();
  let metadata: Record<string, string> | null = null;
  let error: SafetensorsError | undefined;
  // Each key's first value, as a span of the text, to compare a repeated key's values.
  const firstSpans = new Map<string, number>();
  const spanStarts: number[] = [];
  const spanEnds: number[] = [];
  parser.parseMembers(1, (key) => {
    const start = parser.position;
    if (error !== undefined) {
      parser.skipValue(1);
      return;
    }
    const previous = firstSpans.get(key);
    if (previous !== undefined) {
      parser.skipValue(1);
      const before = parseStrictJson(text.slice(spanStarts[previous], spanEnds[previous]));
      if (!jsonEquals(before, parseStrictJson(text.slice(start, parser.position)))) {
        error = new SafetensorsDuplicateKeyError(
          `the header has the key ${JSON.stringify(key)} twice with different values`,
        );
      }
      return;
    }
    if (key === "__metadata__") {
      const result = scanMetadata(parser);
      if (result instanceof Error) error = result;
      else metadata = result;
    } else {
      const result = scanEntry(parser, key);
      if (result instanceof Error) error = result;
      else if (result !== undefined) {
        entries.push(result.info);
        if (result.wide !== undefined) wide.set(result.info, result.wide);
      }
    }
    firstSpans.set(key, spanStarts.length);
    spanStarts.push(start);
    spanEnds.push(parser.position);
  });
  finish(parser);
  return { entries, wide, metadata, error };
}

function finish(parser: StrictJsonParser): void {
  parser.skipWhitespace();
  if (parser.position < parser.text.length) parser.fail("trailing characters");
}

/** Consumes a value and describes its type as error messages do; containers are skipped, not built. */
function describeSkipped(parser: StrictJsonParser, depth: number): string {
  const code = parser.text.charCodeAt(parser.position);
  if (code === 0x5b || code === 0x7b) {
    parser.skipValue(depth);
    return code === 0x5b ? "an array" : "an object";
  }
  return describeJsonType(parser.parseValue(depth));
}

/** `__metadata__` (the value of a root member, so at depth 1): null, or an object of strings. */
function scanMetadata(parser: StrictJsonParser): Record<string, string> | null | SafetensorsError {
  const code = parser.text.charCodeAt(parser.position);
  if (code !== 0x7b) {
    const found = describeSkipped(parser, 1);
    if (found === "null") return null;
    return new SafetensorsHeaderSchemaError(`__metadata__ must be an object or null, found ${found}`);
  }
  const metadata: Record<string, string> = Object.create(null);
  let error: SafetensorsError | undefined;
  parser.parseMembers(2, (key) => {
    if (error !== undefined) {
      parser.skipValue(2);
      return;
    }
    if (parser.text.charCodeAt(parser.position) !== 0x22) {
      error = new SafetensorsHeaderSchemaError(
        `__metadata__ value of ${JSON.stringify(key)} must be a string, found ${describeSkipped(parser, 2)}`,
      );
      return;
    }
    const item = parser.parseString();
    if (Object.hasOwn(metadata, key) && metadata[key] !== item) {
      error = new SafetensorsDuplicateKeyError(
        `__metadata__ has the key ${JSON.stringify(key)} twice with different values`,
      );
      return;
    }
    metadata[key] = item;
  });
  return error ?? metadata;
}

/**
 * One tensor entry (the value of a root member). Its fields are read first (a repeated dtype / shape /
 * data_offsets is the entry's first error), then checked in a fixed order: missing fields, dtype type, dtype
 * name, shape, data_offsets, offset count.
 */
function scanEntry(
  parser: StrictJsonParser,
  name: string,
): { info: TensorInfo; wide: WideEntryValues | undefined } | SafetensorsError {
  const label = () => JSON.stringify(name);
  if (parser.text.charCodeAt(parser.position) !== 0x7b) {
    const found = describeSkipped(parser, 1);
    return new SafetensorsHeaderSchemaError(`tensor ${label()} must be an object, found ${found}`);
  }
  let dtype: string | Mismatch | undefined;
  let shape: ScannedList | undefined;
  let offsets: ScannedList | undefined;
  let repeated: string | undefined;
  parser.parseMembers(2, (field) => {
    if (repeated !== undefined) {
      parser.skipValue(2);
      return;
    }
    const isKnown = field === "dtype" || field === "shape" || field === "data_offsets";
    if (isKnown && (field === "dtype" ? dtype : field === "shape" ? shape : offsets) !== undefined) {
      repeated = field;
      parser.skipValue(2);
      return;
    }
    if (field === "dtype") {
      dtype =
        parser.text.charCodeAt(parser.position) === 0x22
          ? parser.parseString()
          : { mismatch: describeSkipped(parser, 2) };
    } else if (field === "shape") shape = scanUnsignedList(parser, () => `shape of tensor ${label()}`);
    else if (field === "data_offsets") {
      offsets = scanUnsignedList(parser, () => `data_offsets of tensor ${label()}`);
    } else parser.skipValue(2);
  });
  if (repeated !== undefined)
    return new SafetensorsDuplicateKeyError(`tensor ${label()} has the field ${repeated} twice`);
  if (dtype === undefined)
    return new SafetensorsHeaderSchemaError(`tensor ${label()} is missing the field dtype`);
  if (shape === undefined)
    return new SafetensorsHeaderSchemaError(`tensor ${label()} is missing the field shape`);
  if (offsets === undefined)
    return new SafetensorsHeaderSchemaError(`tensor ${label()} is missing the field data_offsets`);
  if (typeof dtype !== "string") {
    return new SafetensorsHeaderSchemaError(
      `dtype of tensor ${label()} must be a string, found ${dtype.mismatch}`,
    );
  }
  if (!isDtype(dtype)) {
    return new SafetensorsUnknownDtypeError(`unknown dtype ${JSON.stringify(dtype)} of tensor ${label()}`);
  }
  for (const [list, what] of [
    [shape, "shape"],
    [offsets, "data_offsets"],
  ] as const) {
    if ("mismatch" in list) {
      return new SafetensorsHeaderSchemaError(
        `${what} of tensor ${label()} must be an array, found ${list.mismatch}`,
      );
    }
    if ("problem" in list) return new SafetensorsHeaderSchemaError(list.problem);
  }
  const shapeValues = shape as { values: (number | bigint)[]; wide: boolean };
  const offsetValues = offsets as { values: (number | bigint)[]; wide: boolean };
  if (offsetValues.values.length !== 2) {
    return new SafetensorsHeaderSchemaError(
      `data_offsets of tensor ${label()} must have 2 elements, found ${offsetValues.values.length}`,
    );
  }
  const [start, end] = offsetValues.values as [number | bigint, number | bigint];
  const info: TensorInfo = {
    name,
    dtype: dtype as Dtype,
    shape: shapeValues.values.map(Number),
    dataOffsets: [Number(start), Number(end)],
  };
  const isWide = shapeValues.wide || offsetValues.wide;
  return {
    info,
    wide: isWide
      ? { shape: shapeValues.values.map(BigInt), start: BigInt(start), end: BigInt(end) }
      : undefined,
  };
}

/**
 * A list of unsigned 64-bit integers (digits only: no sign, fraction or exponent). Short literals become
 * numbers; 16 digits or more become bigints (`wide`). The first bad item gives the message, in item order.
 */
function scanUnsignedList(parser: StrictJsonParser, what: () => string): ScannedList {
  if (parser.text.charCodeAt(parser.position) !== 0x5b) return { mismatch: describeSkipped(parser, 2) };
  const values: (number | bigint)[] = [];
  let wide = false;
  let problem: string | undefined;
  parser.parseItems(3, (index) => {
    if (problem !== undefined) {
      parser.skipValue(3);
      return;
    }
    const code = parser.text.charCodeAt(parser.position);
    if (!(code === 0x2d || (code >= 0x30 && code <= 0x39))) {
      problem = `${what()} must hold unsigned integers, found ${describeSkipped(parser, 3)} at index ${index}`;
      return;
    }
    const start = parser.position;
    parser.skipNumber();
    const literal = parser.text.slice(start, parser.position);
    const number = new JsonNumber(literal);
    if (!number.isUnsignedInteger()) {
      problem = `${what()} must hold unsigned integers, found ${describeJsonType(number)} at index ${index}`;
      return;
    }
    if (literal.length <= safeDigits) {
      values.push(Number(literal));
      return;
    }
    const exact = BigInt(literal);
    if (exact >= limit64) {
      problem = `${what()} holds ${literal}, beyond the 64-bit range`;
      return;
    }
    wide = true;
    values.push(exact);
  });
  return problem === undefined ? { values, wide } : { problem };
}
