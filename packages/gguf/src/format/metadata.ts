import { GGUFValueType, type MetadataValue } from "@huggingface/gguf";
import { GgufFormatError } from "../errors.js";

/**
 * One metadata value of a GGUF file with its GGUF type: the shape `@huggingface/gguf` reads and writes
 * (`typedMetadata`). Arrays carry their element type in `subType`.
 */
export interface GgufMetadataEntry {
  /** The GGUF value type. */
  readonly type: GGUFValueType;
  /** The value (a JavaScript array for `ARRAY`). */
  readonly value: MetadataValue;
  /** The element type of an `ARRAY`. */
  readonly subType?: GGUFValueType;
}

/** The metadata of a GGUF file, in file order. */
export type GgufMetadata = ReadonlyMap<string, GgufMetadataEntry>;

function finite(key: string, value: number): number {
  if (!Number.isFinite(value))
    throw new GgufFormatError(`metadata "${key}" is ${value}, not a finite number`);
  return value;
}

function unsigned32(key: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new GgufFormatError(`metadata "${key}" is ${value}, not an unsigned 32-bit integer`);
  }
  return value;
}

function signed32(key: string, value: number): number {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new GgufFormatError(`metadata "${key}" is ${value}, not a signed 32-bit integer`);
  }
  return value;
}

/**
 * Builds metadata entries with checked values: `entries.string("general.name", "x")`, … Each method validates
 * its value (finite floats, integer ranges) and names the key in the error.
 */
export class GgufMetadataBuilder {
  private readonly entries = new Map<string, GgufMetadataEntry>();

  /** A UTF-8 string. */
  string(key: string, value: string): this {
    return this.set(key, { type: GGUFValueType.STRING, value });
  }

  /** An unsigned 32-bit integer. */
  uint32(key: string, value: number): this {
    return this.set(key, { type: GGUFValueType.UINT32, value: unsigned32(key, value) });
  }

  /** A signed 32-bit integer. */
  int32(key: string, value: number): this {
    return this.set(key, { type: GGUFValueType.INT32, value: signed32(key, value) });
  }

  /** A 32-bit float (the value is rounded to float32 when written). */
  float32(key: string, value: number): this {
    return this.set(key, { type: GGUFValueType.FLOAT32, value: finite(key, value) });
  }

  /** A boolean. */
  bool(key: string, value: boolean): this {
    return this.set(key, { type: GGUFValueType.BOOL, value });
  }

  /** An array of strings. */
  stringArray(key: string, values: readonly string[]): this {
    return this.set(key, { type: GGUFValueType.ARRAY, subType: GGUFValueType.STRING, value: [...values] });
  }

  /** An array of float32 values. */
  float32Array(key: string, values: ArrayLike<number>): this {
    const checked = Array.from(values, (value) => finite(key, value));
    return this.set(key, { type: GGUFValueType.ARRAY, subType: GGUFValueType.FLOAT32, value: checked });
  }

  /** An array of signed 32-bit integers. */
  int32Array(key: string, values: ArrayLike<number>): this {
    const checked = Array.from(values, (value) => signed32(key, value));
    return this.set(key, { type: GGUFValueType.ARRAY, subType: GGUFValueType.INT32, value: checked });
  }

  /** An array of unsigned 32-bit integers. */
  uint32Array(key: string, values: ArrayLike<number>): this {
    const checked = Array.from(values, (value) => unsigned32(key, value));
    return this.set(key, { type: GGUFValueType.ARRAY, subType: GGUFValueType.UINT32, value: checked });
  }

  /** Copies every entry of `metadata` (later keys replace earlier ones). */
  merge(metadata: GgufMetadata): this {
    for (const [key, entry] of metadata) this.set(key, entry);
    return this;
  }

  /** Whether `key` was set. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The metadata built so far, in insertion order. */
  build(): GgufMetadata {
    return new Map(this.entries);
  }

  private set(key: string, entry: GgufMetadataEntry): this {
    if (key === "") throw new GgufFormatError("a metadata key must not be empty");
    this.entries.set(key, entry);
    return this;
  }
}

function describeType(entry: GgufMetadataEntry | undefined): string {
  if (entry === undefined) return "missing";
  const name = GGUFValueType[entry.type] ?? String(entry.type);
  return entry.subType === undefined ? name : `${name} of ${GGUFValueType[entry.subType] ?? entry.subType}`;
}

/** The string value of `key`, or undefined when absent; a value of another type is a {@link GgufFormatError}. */
export function metadataString(metadata: GgufMetadata, key: string): string | undefined {
  const entry = metadata.get(key);
  if (entry === undefined) return undefined;
  if (entry.type !== GGUFValueType.STRING || typeof entry.value !== "string") {
    throw new GgufFormatError(`metadata "${key}" is ${describeType(entry)}, expected STRING`);
  }
  return entry.value;
}

const numericTypes = new Set<GGUFValueType>([
  GGUFValueType.UINT8,
  GGUFValueType.INT8,
  GGUFValueType.UINT16,
  GGUFValueType.INT16,
  GGUFValueType.UINT32,
  GGUFValueType.INT32,
  GGUFValueType.FLOAT32,
  GGUFValueType.UINT64,
  GGUFValueType.INT64,
  GGUFValueType.FLOAT64,
]);

/** The numeric value of `key` (any GGUF number type), or undefined when absent. */
export function metadataNumber(metadata: GgufMetadata, key: string): number | undefined {
  const entry = metadata.get(key);
  if (entry === undefined) return undefined;
  if (!numericTypes.has(entry.type)) {
    throw new GgufFormatError(`metadata "${key}" is ${describeType(entry)}, expected a number`);
  }
  return Number(entry.value);
}

/** The string array value of `key`, or undefined when absent. */
export function metadataStringArray(metadata: GgufMetadata, key: string): string[] | undefined {
  const entry = metadata.get(key);
  if (entry === undefined) return undefined;
  if (entry.type !== GGUFValueType.ARRAY || entry.subType !== GGUFValueType.STRING) {
    throw new GgufFormatError(`metadata "${key}" is ${describeType(entry)}, expected ARRAY of STRING`);
  }
  return (entry.value as MetadataValue[]).map(String);
}
