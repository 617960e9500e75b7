/**
 * The writer's layout, as the official library computes it (`prepare` in safetensors 0.8): tensors sorted by
 * dtype rank descending (the declaration order of its Dtype enum), then by name in byte (code point) order;
 * data packed in that order; header = compact JSON with `__metadata__` first, padded with spaces to a
 * multiple of 8 bytes.
 */
import { type Dtype, dtypeBitSize, dtypeRank, isDtype } from "./dtype.js";
import { MAX_HEADER_SIZE } from "./header.js";
import {
  SafetensorsHeaderTooLargeError,
  SafetensorsInvalidMetadataError,
  SafetensorsInvalidTensorError,
} from "./safetensors-errors.js";

/** What the layout needs to know about a tensor: its dtype and shape (its byte size follows). */
export interface TensorDescription {
  dtype: Dtype;
  shape: readonly number[];
}

/** One tensor's place in the file. */
export interface LayoutEntry<T extends TensorDescription = TensorDescription> {
  name: string;
  tensor: T;
  /** Start of the tensor's bytes relative to the data section. */
  begin: number;
  /** End (exclusive) of the tensor's bytes relative to the data section. */
  end: number;
}

/** A complete file layout: the 8-byte prefix and the header, then the tensors in order. */
export interface Layout<T extends TensorDescription = TensorDescription> {
  /** 8-byte little-endian N followed by the N header bytes. */
  headerBytes: Uint8Array;
  entries: Array<LayoutEntry<T>>;
  /** The size of the whole file. */
  byteLength: number;
}

/** Compares strings by Unicode code point, which is the byte order of their UTF-8 encodings (Rust's `str` order). */
export function compareCodePoints(left: string, right: string): number {
  const length = Math.min(left.length, right.length);
  for (let index = 0; index < length; index++) {
    let a = left.charCodeAt(index);
    let b = right.charCodeAt(index);
    if (a === b) continue;
    // UTF-16 order differs from code point order only between surrogates (D800-DFFF, i.e. code points
    // >= 0x10000) and BMP units E000-FFFF: lift surrogates above them.
    if (a >= 0xd800) a += a <= 0xdfff ? 0x2000 : -0x800;
    if (b >= 0xd800) b += b <= 0xdfff ? 0x2000 : -0x800;
    return a - b;
  }
  return left.length - right.length;
}

function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** Byte size of a tensor description, validating the dtype and shape. */
export function describedByteLength(name: string, tensor: TensorDescription): number {
  const label = JSON.stringify(name);
  if (!isDtype(tensor.dtype)) {
    throw new SafetensorsInvalidTensorError(
      `tensor ${label} has unknown dtype ${JSON.stringify(tensor.dtype)}`,
    );
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsInvalidTensorError(
      `tensor ${label} has shape ${JSON.stringify(tensor.shape)}; dimensions must be non-negative integers`,
    );
  }
  let elements = 1;
  for (const dimension of tensor.shape) elements *= dimension;
  const bits = elements * dtypeBitSize(tensor.dtype);
  if (!Number.isSafeInteger(bits)) {
    throw new SafetensorsInvalidTensorError(
      `tensor ${label} of shape [${tensor.shape.join(", ")}] is too large`,
    );
  }
  if (bits % 8 !== 0) {
    throw new SafetensorsInvalidTensorError(
      `tensor ${label}: ${elements} ${tensor.dtype} elements take ${bits} bits, not a whole number of bytes`,
    );
  }
  return bits / 8;
}

/**
 * Orders the tensors, assigns their offsets and builds the header exactly as the official writer.
 * @throws SafetensorsInvalidTensorError, SafetensorsInvalidMetadataError, SafetensorsHeaderTooLargeError
 */
export function planLayout<T extends TensorDescription>(
  tensors: Array<[string, T]>,
  metadata?: Record<string, string> | Map<string, string> | null,
): Layout<T> {
  const sizes = new Map<string, number>();
  for (const [name, tensor] of tensors) {
    if (!isWellFormed(name)) {
      throw new SafetensorsInvalidTensorError(
        `tensor name ${JSON.stringify(name)} has an unpaired surrogate`,
      );
    }
    if (name === "__metadata__") {
      throw new SafetensorsInvalidTensorError(`"__metadata__" is reserved and cannot name a tensor`);
    }
    if (sizes.has(name))
      throw new SafetensorsInvalidTensorError(`tensor ${JSON.stringify(name)} is given twice`);
    sizes.set(name, describedByteLength(name, tensor));
  }
  const sorted = [...tensors].sort(
    ([leftName, left], [rightName, right]) =>
      dtypeRank(right.dtype) - dtypeRank(left.dtype) || compareCodePoints(leftName, rightName),
  );
  let offset = 0;
  const entries = sorted.map(([name, tensor]): LayoutEntry<T> => {
    const begin = offset;
    offset += sizes.get(name) as number;
    return { name, tensor, begin, end: offset };
  });
  const parts: string[] = [];
  if (metadata !== undefined && metadata !== null) parts.push(`"__metadata__":${metadataJson(metadata)}`);
  for (const entry of entries) {
    parts.push(
      `${JSON.stringify(entry.name)}:{"dtype":"${entry.tensor.dtype}","shape":[${entry.tensor.shape.join(",")}],"data_offsets":[${entry.begin},${entry.end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  if (headerLength > MAX_HEADER_SIZE) {
    throw new SafetensorsHeaderTooLargeError(
      `header too large: ${headerLength} bytes exceed the limit of ${MAX_HEADER_SIZE}`,
    );
  }
  const headerBytes = new Uint8Array(8 + headerLength).fill(0x20, 8 + json.length);
  new DataView(headerBytes.buffer).setBigUint64(0, BigInt(headerLength), true);
  headerBytes.set(json, 8);
  return { headerBytes, entries, byteLength: headerBytes.length + offset };
}

function metadataJson(metadata: Record<string, string> | Map<string, string>): string {
  if (typeof metadata !== "object" || Array.isArray(metadata)) {
    throw new SafetensorsInvalidMetadataError(
      `metadata must be a string → string object, got ${typeof metadata}`,
    );
  }
  const parts: string[] = [];
  const entries = metadata instanceof Map ? [...(metadata as Map<string, string>)] : Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== "string") {
      throw new SafetensorsInvalidMetadataError(
        `metadata value of ${JSON.stringify(key)} must be a string, got ${typeof value}`,
      );
    }
    if (!isWellFormed(key) || !isWellFormed(value)) {
      throw new SafetensorsInvalidMetadataError(
        `metadata entry ${JSON.stringify(key)} has an unpaired surrogate`,
      );
    }
    // JSON.stringify escapes exactly as serde_json for well-formed strings: \" \\ \b \f \n \r \t, other
    // control characters as lowercase \u00xx, everything else verbatim.
    parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  }
  return `{${parts.join(",")}}`;
}
