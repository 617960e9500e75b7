import { type Dtype, dtypeBitSize } from "./dtype.js";
import {
  float4E2M1BitsToFloat32,
  float8E4M3BitsToFloat32,
  float8E4M3FnuzBitsToFloat32,
  float8E5M2BitsToFloat32,
  float8E5M2FnuzBitsToFloat32,
  float8E8M0BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat4E2M1Bits,
  float32ToFloat8E4M3Bits,
  float32ToFloat8E4M3FnuzBits,
  float32ToFloat8E5M2Bits,
  float32ToFloat8E5M2FnuzBits,
  float32ToFloat8E8M0Bits,
  float32ToFloat16Bits,
} from "./float-bits.js";
import type { RawTensor } from "./raw-tensor.js";
import { SafetensorsConversionError } from "./safetensors-errors.js";

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The typed array that {@link toTypedArray} returns for each dtype. */
export type TypedArrayFor<D extends Dtype> = D extends "F64"
  ? Float64Array
  : D extends "F32" | "C64"
    ? Float32Array
    : D extends "I64"
      ? BigInt64Array
      : D extends "U64"
        ? BigUint64Array
        : D extends "I32"
          ? Int32Array
          : D extends "U32"
            ? Uint32Array
            : D extends "I16"
              ? Int16Array
              : D extends "U16" | "F16" | "BF16"
                ? Uint16Array
                : D extends "I8"
                  ? Int8Array
                  : Uint8Array;

type AnyTypedArray =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

interface TypedArrayKind {
  create(buffer: ArrayBuffer, byteOffset: number, length: number): AnyTypedArray;
  bytes: number;
}

function kindOf(dtype: Dtype): TypedArrayKind {
  switch (dtype) {
    case "F64":
      return { create: (b, o, n) => new Float64Array(b, o, n), bytes: 8 };
    case "F32":
    case "C64":
      return { create: (b, o, n) => new Float32Array(b, o, n), bytes: 4 };
    case "I64":
      return { create: (b, o, n) => new BigInt64Array(b, o, n), bytes: 8 };
    case "U64":
      return { create: (b, o, n) => new BigUint64Array(b, o, n), bytes: 8 };
    case "I32":
      return { create: (b, o, n) => new Int32Array(b, o, n), bytes: 4 };
    case "U32":
      return { create: (b, o, n) => new Uint32Array(b, o, n), bytes: 4 };
    case "I16":
      return { create: (b, o, n) => new Int16Array(b, o, n), bytes: 2 };
    case "U16":
    case "F16":
    case "BF16":
      return { create: (b, o, n) => new Uint16Array(b, o, n), bytes: 2 };
    case "I8":
      return { create: (b, o, n) => new Int8Array(b, o, n), bytes: 1 };
    default:
      return { create: (b, o, n) => new Uint8Array(b, o, n), bytes: 1 };
  }
}

/**
 * The tensor's elements as the matching typed array (F16/BF16 as their Uint16 bit patterns, F8/BOOL/F4/F6
 * as bytes, C64 as interleaved real/imaginary float32). Zero-copy when the bytes are suitably aligned in
 * their buffer (always true for tensors read from a file or URL by this library, and for every tensor of a
 * file written by the official library, whose writer aligns by dtype); otherwise a copy.
 */
export function toTypedArray<D extends Dtype>(raw: RawTensor & { dtype: D }): TypedArrayFor<D> {
  const kind = kindOf(raw.dtype);
  const data = raw.data;
  if (data.byteLength % kind.bytes !== 0) {
    throw new SafetensorsConversionError(
      `${data.byteLength} bytes of ${raw.dtype} data are not a whole number of ${kind.bytes}-byte elements`,
    );
  }
  const length = data.byteLength / kind.bytes;
  if (data.byteOffset % kind.bytes === 0 && littleEndianHost) {
    return kind.create(data.buffer as ArrayBuffer, data.byteOffset, length) as TypedArrayFor<D>;
  }
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  if (!littleEndianHost) {
    for (let start = 0; start < copy.length; start += kind.bytes)
      copy.subarray(start, start + kind.bytes).reverse();
  }
  return kind.create(copy.buffer, 0, length) as TypedArrayFor<D>;
}

function decodeBytes(data: Uint8Array, decode: (bits: number) => number): Float32Array {
  const table = new Float32Array(256);
  for (let bits = 0; bits < 256; bits++) table[bits] = decode(bits);
  const output = new Float32Array(data.length);
  for (let index = 0; index < data.length; index++) output[index] = table[data[index] as number] as number;
  return output;
}

let float16Table: Float32Array | undefined;

/**
 * Converts any numeric tensor to float32 values (a new array): floats are widened exactly (F64 rounded to
 * nearest float32), integers converted to the nearest float32, BOOL as 0/1 (any non-zero byte is true).
 * C64 gives interleaved real/imaginary pairs. F4 unpacks two elements per byte, low nibble first.
 * @throws SafetensorsConversionError for F6_E2M3/F6_E3M2 (bit packing not specified by the format).
 */
export function toFloat32(raw: RawTensor): Float32Array {
  const { dtype, data } = raw;
  switch (dtype) {
    case "F32":
    case "C64":
      return Float32Array.from(toTypedArray({ dtype: "F32", shape: raw.shape, data }));
    case "F64":
      return Float32Array.from(toTypedArray({ dtype: "F64", shape: raw.shape, data }));
    case "BF16": {
      const bits = toTypedArray({ dtype: "BF16", shape: raw.shape, data });
      const output = new Uint32Array(bits.length);
      for (let index = 0; index < bits.length; index++) output[index] = (bits[index] as number) << 16;
      return new Float32Array(output.buffer);
    }
    case "F16": {
      if (float16Table === undefined) {
        float16Table = new Float32Array(65536);
        for (let bits = 0; bits < 65536; bits++) float16Table[bits] = float16BitsToFloat32(bits);
      }
      const table = float16Table;
      const bits = toTypedArray({ dtype: "F16", shape: raw.shape, data });
      const output = new Float32Array(bits.length);
      for (let index = 0; index < bits.length; index++)
        output[index] = table[bits[index] as number] as number;
      return output;
    }
    case "F8_E4M3":
      return decodeBytes(data, float8E4M3BitsToFloat32);
    case "F8_E5M2":
      return decodeBytes(data, float8E5M2BitsToFloat32);
    case "F8_E4M3FNUZ":
      return decodeBytes(data, float8E4M3FnuzBitsToFloat32);
    case "F8_E5M2FNUZ":
      return decodeBytes(data, float8E5M2FnuzBitsToFloat32);
    case "F8_E8M0":
      return decodeBytes(data, float8E8M0BitsToFloat32);
    case "BOOL":
      return decodeBytes(data, (bits) => (bits === 0 ? 0 : 1));
    case "U8":
      return Float32Array.from(data);
    case "F4": {
      const output = new Float32Array(data.length * 2);
      for (let index = 0; index < data.length; index++) {
        const byte = data[index] as number;
        output[2 * index] = float4E2M1BitsToFloat32(byte & 0xf);
        output[2 * index + 1] = float4E2M1BitsToFloat32(byte >>> 4);
      }
      return output;
    }
    case "I64":
    case "U64": {
      const values = toTypedArray({ dtype, shape: raw.shape, data }) as BigInt64Array | BigUint64Array;
      const output = new Float32Array(values.length);
      for (let index = 0; index < values.length; index++) output[index] = Number(values[index]);
      return output;
    }
    case "I8":
    case "I16":
    case "U16":
    case "I32":
    case "U32":
      return Float32Array.from(toTypedArray({ dtype, shape: raw.shape, data }) as ArrayLike<number>);
    default:
      throw new SafetensorsConversionError(
        `cannot convert ${dtype} to float32: its bit packing is not specified`,
      );
  }
}

/** The dtypes {@link fromFloat32} can produce. */
export type Float32ConvertibleDtype = Exclude<Dtype, "F6_E2M3" | "F6_E3M2">;

function encodeBytes(values: ArrayLike<number>, encode: (value: number) => number): Uint8Array {
  const output = new Uint8Array(values.length);
  for (let index = 0; index < values.length; index++) output[index] = encode(values[index] as number);
  return output;
}

/** [smallest value, first value too large] per integer dtype. */
const integerRanges: Partial<Record<Dtype, [number, number]>> = {
  I8: [-(2 ** 7), 2 ** 7],
  U8: [0, 2 ** 8],
  I16: [-(2 ** 15), 2 ** 15],
  U16: [0, 2 ** 16],
  I32: [-(2 ** 31), 2 ** 31],
  U32: [0, 2 ** 32],
  I64: [-(2 ** 63), 2 ** 63],
  U64: [0, 2 ** 64],
};

function checkedIntegers(values: ArrayLike<number>, dtype: Dtype): number[] {
  const [low, tooLarge] = integerRanges[dtype] as [number, number];
  const output: number[] = new Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const truncated = Math.trunc(values[index] as number); // torch casts float → int toward zero
    if (!(truncated >= low && truncated < tooLarge)) {
      throw new SafetensorsConversionError(`value ${values[index]} at index ${index} does not fit ${dtype}`);
    }
    output[index] = truncated;
  }
  return output;
}

/**
 * Encodes float32 values (each value is first rounded to float32) as little-endian bytes of `dtype`.
 * Floats round to nearest even with torch's NaN/overflow rules (see the `float32To…Bits` helpers); integers
 * truncate toward zero as torch's casts do and must fit the type; BOOL stores 1 for any non-zero value
 * (NaN included); C64 takes interleaved real/imaginary pairs; F4 packs two values per byte, low nibble first,
 * saturating at ±6.
 * @throws SafetensorsConversionError for out-of-range integers, NaN into F4, odd counts for C64 or F4, or F6.
 */
export function fromFloat32(values: ArrayLike<number>, dtype: Dtype): Uint8Array {
  switch (dtype) {
    case "F32":
    case "C64": {
      if (dtype === "C64" && values.length % 2 !== 0) {
        throw new SafetensorsConversionError(`C64 needs real/imaginary pairs, got ${values.length} values`);
      }
      return bytesOf(Float32Array.from(values));
    }
    case "F64":
      return bytesOf(Float64Array.from(Float32Array.from(values)));
    case "F16":
      return bytesOf(Uint16Array.from(Float32Array.from(values), float32ToFloat16Bits));
    case "BF16":
      return bytesOf(Uint16Array.from(Float32Array.from(values), float32ToBfloat16Bits));
    case "F8_E4M3":
      return encodeBytes(values, float32ToFloat8E4M3Bits);
    case "F8_E5M2":
      return encodeBytes(values, float32ToFloat8E5M2Bits);
    case "F8_E4M3FNUZ":
      return encodeBytes(values, float32ToFloat8E4M3FnuzBits);
    case "F8_E5M2FNUZ":
      return encodeBytes(values, float32ToFloat8E5M2FnuzBits);
    case "F8_E8M0":
      return encodeBytes(values, float32ToFloat8E8M0Bits);
    case "BOOL":
      return encodeBytes(values, (value) => (value === 0 ? 0 : 1));
    case "F4": {
      if (values.length % 2 !== 0) {
        throw new SafetensorsConversionError(`F4 packs two values per byte, got ${values.length} values`);
      }
      const output = new Uint8Array(values.length / 2);
      for (let index = 0; index < output.length; index++) {
        const low = values[2 * index] as number;
        const high = values[2 * index + 1] as number;
        if (Number.isNaN(low) || Number.isNaN(high)) {
          throw new SafetensorsConversionError(`F4 has no NaN (value pair at index ${2 * index})`);
        }
        output[index] = float32ToFloat4E2M1Bits(low) | (float32ToFloat4E2M1Bits(high) << 4);
      }
      return output;
    }
    case "I8":
      return bytesOf(Int8Array.from(checkedIntegers(values, dtype)));
    case "U8":
      return Uint8Array.from(checkedIntegers(values, dtype));
    case "I16":
      return bytesOf(Int16Array.from(checkedIntegers(values, dtype)));
    case "U16":
      return bytesOf(Uint16Array.from(checkedIntegers(values, dtype)));
    case "I32":
      return bytesOf(Int32Array.from(checkedIntegers(values, dtype)));
    case "U32":
      return bytesOf(Uint32Array.from(checkedIntegers(values, dtype)));
    case "I64":
      return bytesOf(BigInt64Array.from(checkedIntegers(values, dtype), (value) => BigInt(value)));
    case "U64":
      return bytesOf(BigUint64Array.from(checkedIntegers(values, dtype), (value) => BigInt(value)));
    default:
      throw new SafetensorsConversionError(
        `cannot convert float32 to ${dtype}: its bit packing is not specified`,
      );
  }
}

function bytesOf(array: AnyTypedArray): Uint8Array {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (!littleEndianHost) {
    const copy = Uint8Array.from(bytes);
    const width = array.BYTES_PER_ELEMENT;
    for (let start = 0; start < copy.length; start += width) copy.subarray(start, start + width).reverse();
    return copy;
  }
  return bytes;
}

/** Index of the first NaN or ±Infinity in `values`, or -1 when every value is finite. */
export function firstNonFiniteIndex(values: ArrayLike<number>): number {
  for (let index = 0; index < values.length; index++) {
    if (!Number.isFinite(values[index] as number)) return index;
  }
  return -1;
}

/**
 * {@link fromFloat32} for data that must stay finite: refuses NaN and ±Infinity in `values`, and finite
 * values that `dtype` cannot hold (which {@link fromFloat32}, like torch, turns into ±Infinity or NaN:
 * 70000 → F16, 1e39 → F32 or BF16, 500 → F8_E4M3).
 * @throws SafetensorsConversionError naming the index and the value
 */
export function fromFloat32Finite(values: ArrayLike<number>, dtype: Dtype): Uint8Array {
  const nonFinite = firstNonFiniteIndex(values);
  if (nonFinite >= 0) {
    throw new SafetensorsConversionError(`value ${values[nonFinite]} at index ${nonFinite} is not finite`);
  }
  const bytes = fromFloat32(values, dtype);
  if (!isFloatDtype(dtype)) return bytes;
  const back = toFloat32({ dtype, shape: [values.length], data: bytes });
  const overflow = firstNonFiniteIndex(back);
  if (overflow >= 0) {
    throw new SafetensorsConversionError(
      `value ${values[overflow]} at index ${overflow} is beyond the range of ${dtype} (it would be stored as ${back[overflow]})`,
    );
  }
  return bytes;
}

function isFloatDtype(dtype: Dtype): boolean {
  return dtype.startsWith("F") || dtype === "BF16" || dtype === "C64";
}

/** Elements in a tensor of this shape: the product of the dimensions (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

/** Bytes of a tensor of this dtype and shape (elements × bits / 8). */
export function tensorByteLength(dtype: Dtype, shape: readonly number[]): number {
  return (elementCount(shape) * dtypeBitSize(dtype)) / 8;
}
