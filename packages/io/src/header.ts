/**
 * Reading and validating a safetensors header, with the checks and the order of checks of the official
 * library (safetensors 0.8, `SafeTensors::read_metadata` and `Metadata::validate`).
 */
import { type Dtype, dtypeBitSize } from "./dtype.js";
import { scanHeader, type WideEntryValues } from "./header-scanner.js";
import type { TensorInfo } from "./raw-tensor.js";
import {
  SafetensorsHeaderEncodingError,
  SafetensorsHeaderLengthError,
  SafetensorsHeaderTooLargeError,
  SafetensorsHeaderTooSmallError,
  SafetensorsIncompleteDataError,
  SafetensorsInvalidOffsetError,
  SafetensorsMisalignedError,
  SafetensorsShapeOverflowError,
  SafetensorsTensorSizeError,
} from "./safetensors-errors.js";

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

/**
 * Parses and validates the JSON header. Memory stays proportional to the tensors it describes (one
 * `TensorInfo` each, no JSON tree): see `header-scanner.ts`.
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
  const scanned = scanHeader(text);
  if (scanned.error !== undefined) throw scanned.error;
  const headerLength = headerBytes.length;
  const tensors = scanned.entries;
  const dataLength =
    scanned.wide.size === 0 ? validateLayout(tensors) : validateWideLayout(tensors, scanned.wide);
  const dataSection = sourceSize - 8 - headerLength;
  if (typeof dataLength === "bigint" ? dataLength !== BigInt(dataSection) : dataLength !== dataSection) {
    const last = tensors[tensors.length - 1];
    const lastTensor =
      last === undefined
        ? ""
        : ` (the last, ${JSON.stringify(last.name)}, ends at ${scanned.wide.get(last)?.end ?? last.dataOffsets[1]})`;
    throw new SafetensorsIncompleteDataError(
      `incomplete metadata, file not fully covered: the tensors cover ${dataLength} bytes${lastTensor} but the data section has ${dataSection}`,
    );
  }
  for (const [info, values] of scanned.wide) {
    if (values.shape.some((dimension) => dimension > BigInt(Number.MAX_SAFE_INTEGER))) {
      throw new SafetensorsShapeOverflowError(
        `shape [${values.shape.join(", ")}] of ${JSON.stringify(info.name)} has a dimension beyond 2^53`,
      );
    }
  }
  return {
    tensors,
    metadata: scanned.metadata,
    headerLength,
    dataStart: 8 + headerLength,
    byteLength: sourceSize,
  };
}

/** Sorts by data offsets (start, then end), stably, skipping the sort when already in order (every real file). */
function sortByOffsets<T>(
  entries: T[],
  start: (entry: T) => number | bigint,
  end: (entry: T) => number | bigint,
) {
  const compare = (left: T, right: T) =>
    compareValues(start(left), start(right)) || compareValues(end(left), end(right));
  for (let index = 1; index < entries.length; index++) {
    if (compare(entries[index - 1] as T, entries[index] as T) > 0) {
      entries.sort(compare);
      return;
    }
  }
}

function compareValues(left: number | bigint, right: number | bigint): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Sorts the entries by data offsets and checks that they tile [0, end) without gaps or overlaps and that each
 * spans product(shape) × bits / 8 bytes (overflow past 2^64 rejected). Returns the end. All numbers are below
 * 10^15 here; a size that leaves the exact range of doubles is recomputed in 64-bit integers.
 */
function validateLayout(entries: TensorInfo[]): number {
  sortByOffsets(
    entries,
    (entry) => entry.dataOffsets[0],
    (entry) => entry.dataOffsets[1],
  );
  let expectedStart = 0;
  for (const entry of entries) {
    const [start, end] = entry.dataOffsets;
    checkOffsets(entry.name, start, end, expectedStart);
    expectedStart = end;
    const bitSize = dtypeBitSize(entry.dtype);
    let elements = 1;
    for (const dimension of entry.shape) elements *= dimension;
    const bits = elements * bitSize;
    if (!Number.isSafeInteger(bits)) {
      checkSize(entry.name, entry.dtype, entry.shape.map(BigInt), BigInt(start), BigInt(end));
      continue;
    }
    if (bits % 8 !== 0) throw misaligned(entry.name, elements, entry.dtype, bits);
    if (end - start !== bits / 8)
      throw sizeMismatch(entry.name, entry.dtype, entry.shape, start, end, bits / 8);
  }
  return expectedStart;
}

/** {@link validateLayout} in 64-bit integers, for headers with numbers of 16 digits or more. */
function validateWideLayout(entries: TensorInfo[], wide: Map<TensorInfo, WideEntryValues>): bigint {
  const exact = new Map<TensorInfo, WideEntryValues>();
  for (const entry of entries) {
    exact.set(
      entry,
      wide.get(entry) ?? {
        shape: entry.shape.map(BigInt),
        start: BigInt(entry.dataOffsets[0]),
        end: BigInt(entry.dataOffsets[1]),
      },
    );
  }
  const valuesOf = (entry: TensorInfo) => exact.get(entry) as WideEntryValues;
  sortByOffsets(
    entries,
    (entry) => valuesOf(entry).start,
    (entry) => valuesOf(entry).end,
  );
  let expectedStart = 0n;
  for (const entry of entries) {
    const { shape, start, end } = valuesOf(entry);
    checkOffsets(entry.name, start, end, expectedStart);
    expectedStart = end;
    checkSize(entry.name, entry.dtype, shape, start, end);
  }
  return expectedStart;
}

function checkOffsets<T extends number | bigint>(name: string, start: T, end: T, expectedStart: T): void {
  if (start === expectedStart && end >= start) return;
  const problem =
    end < start
      ? "end before they start"
      : `should start at ${expectedStart}, where the previous tensor ends (no gaps, no overlaps)`;
  throw new SafetensorsInvalidOffsetError(
    `invalid offset for tensor ${JSON.stringify(name)}: data_offsets [${start}, ${end}] ${problem}`,
  );
}

/** The size checks in exact 64-bit integer arithmetic, with the overflow checks of the official library. */
function checkSize(name: string, dtype: Dtype, shape: bigint[], start: bigint, end: bigint): void {
  const label = JSON.stringify(name);
  let elements = 1n;
  for (const dimension of shape) {
    elements *= dimension;
    if (elements >= limit64) {
      throw new SafetensorsShapeOverflowError(
        `overflow computing the size of tensor ${label}: shape [${shape.join(", ")}] has more than 2^64 elements`,
      );
    }
  }
  const bits = elements * BigInt(dtypeBitSize(dtype));
  if (bits >= limit64) {
    throw new SafetensorsShapeOverflowError(
      `overflow computing the size of tensor ${label}: ${elements} × ${dtypeBitSize(dtype)} bits exceed 64 bits`,
    );
  }
  if (bits % 8n !== 0n) throw misaligned(name, elements, dtype, bits);
  if (end - start !== bits / 8n) throw sizeMismatch(name, dtype, shape, start, end, bits / 8n);
}

const limit64 = 1n << 64n;

function misaligned(name: string, elements: number | bigint, dtype: Dtype, bits: number | bigint) {
  return new SafetensorsMisalignedError(
    `tensor ${JSON.stringify(name)}: ${elements} ${dtype} elements take ${bits} bits, not a whole number of bytes`,
  );
}

function sizeMismatch<T extends number | bigint>(
  name: string,
  dtype: Dtype,
  shape: readonly T[],
  start: T,
  end: T,
  needed: T,
) {
  return new SafetensorsTensorSizeError(
    `invalid shape, data type, or offset for tensor ${JSON.stringify(name)}: ${dtype} [${shape.join(", ")}] needs ${needed} bytes but data_offsets [${start}, ${end}] span ${(end as number) - (start as number)}`,
  );
}
