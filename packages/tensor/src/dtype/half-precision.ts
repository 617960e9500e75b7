/**
 * Whole-array conversions between float32 values and the bit patterns of the 16-bit storage types, on the CPU.
 * Rounding is to nearest, ties to even, exactly as torch (the per-value functions come from `@peftjs/io`);
 * widening is exact. bfloat16 takes the fast path of its definition (the top half of a float32).
 */
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "@peftjs/io";
import type { HalfDType } from "../backend/backend.js";

/** The float32 values of 16-bit bit patterns (exact). */
export function widenHalf(bits: Uint16Array, dtype: HalfDType): Float32Array {
  const output = new Float32Array(bits.length);
  if (dtype === "bfloat16") {
    const words = new Uint32Array(output.buffer);
    for (let index = 0; index < bits.length; index++) words[index] = bits[index]! << 16;
  } else {
    for (let index = 0; index < bits.length; index++) output[index] = float16BitsToFloat32(bits[index]!);
  }
  return output;
}

/** The bit patterns of `values` rounded to `dtype` (round to nearest even, as torch). */
export function narrowToHalf(values: ArrayLike<number>, dtype: HalfDType): Uint16Array {
  const output = new Uint16Array(values.length);
  const convert = dtype === "bfloat16" ? float32ToBfloat16Bits : float32ToFloat16Bits;
  for (let index = 0; index < values.length; index++) output[index] = convert(values[index]!);
  return output;
}

/** One value rounded to `dtype`, as its bit pattern. */
export function halfBitsOf(value: number, dtype: HalfDType): number {
  return dtype === "bfloat16" ? float32ToBfloat16Bits(value) : float32ToFloat16Bits(value);
}

/** The float32 value of one bit pattern of `dtype`. */
export function halfValueOf(bits: number, dtype: HalfDType): number {
  return dtype === "bfloat16" ? bfloat16BitsToFloat32(bits) : float16BitsToFloat32(bits);
}
