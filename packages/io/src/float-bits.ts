/**
 * Exact conversions between float32 and the narrow float formats of safetensors, bit pattern by bit pattern.
 *
 * Narrowing (`float32To…Bits`) rounds to nearest, ties to even, and treats NaN, infinities and overflow the
 * way torch's c10 types do (c10::Half, c10::BFloat16, c10::Float8_e4m3fn, _e5m2, _e4m3fnuz, _e5m2fnuz,
 * _e8m0fnu). The input is first rounded to float32, because torch converts from float32.
 * Widening (`…BitsToFloat32`) is exact: every value of these formats is a float32.
 */

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** The IEEE-754 bit pattern of `value` rounded to float32. */
export function float32ToBits(value: number): number {
  scratchFloat[0] = value;
  return scratchBits[0] as number;
}

/** The float32 whose bit pattern is `bits` (NaN payloads are not preserved by JavaScript numbers). */
export function bitsToFloat32(bits: number): number {
  scratchBits[0] = bits >>> 0;
  return scratchFloat[0] as number;
}

/**
 * Rounds the magnitude of a float32 (given as bits without the sign) to a format with `mantissaBits` stored
 * mantissa bits and exponent `bias`, ignoring the format's top end. Returns the code
 * (biased exponent << mantissaBits | mantissa), which may run past the largest finite code on overflow.
 *
 * With M the float32 significand and 2^scale its unit (value = M·2^scale), the target quantum is
 * 2^(max(u, emin) − mantissaBits) where u = floor(log2 value) and emin = 1 − bias; the code is then
 * ((max(u, emin) + bias − 1) << mantissaBits) + round_half_even(value / quantum), which carries correctly
 * into the next binade and from subnormals into normals.
 */
function roundMagnitude(magnitudeBits: number, mantissaBits: number, bias: number): number {
  const exponentField = magnitudeBits >>> 23;
  const fraction = magnitudeBits & 0x7fffff;
  const significand = exponentField === 0 ? fraction : fraction | 0x800000;
  if (significand === 0) return 0;
  const scale = exponentField === 0 ? -149 : exponentField - 150;
  const unbiased = scale + (31 - Math.clz32(significand));
  const minimumExponent = 1 - bias;
  const binade = Math.max(unbiased, minimumExponent);
  const shift = binade - mantissaBits - scale;
  // Every target has fewer than 23 mantissa bits, so shift >= 1; past 25 the value is below half a quantum.
  if (shift > 25) return 0;
  let quotient = significand >>> shift;
  const remainder = significand - quotient * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (remainder > half || (remainder === half && (quotient & 1) === 1)) quotient++;
  return (binade + bias - 1) * 2 ** mantissaBits + quotient;
}

/** Value of a code of a format without special values (the caller handles NaN/infinity codes first). */
function decodeMagnitude(code: number, mantissaBits: number, bias: number): number {
  const exponentField = code >>> mantissaBits;
  const mantissa = code & ((1 << mantissaBits) - 1);
  if (exponentField === 0) return mantissa * 2 ** (1 - bias - mantissaBits);
  return (2 ** mantissaBits + mantissa) * 2 ** (exponentField - bias - mantissaBits);
}

/** IEEE half precision (F16) bits → float32 value. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const magnitude = bits & 0x7fff;
  if (magnitude >= 0x7c00) return magnitude === 0x7c00 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * decodeMagnitude(magnitude, 10, 15);
}

/** float32 → F16 bits, round to nearest even; overflow → ±infinity; NaN → 0x7E00 with the sign kept (as torch). */
export function float32ToFloat16Bits(value: number): number {
  const bits = float32ToBits(value);
  const sign = (bits >>> 16) & 0x8000;
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits > 0x7f800000) return sign | 0x7e00;
  const code = roundMagnitude(magnitudeBits, 10, 15);
  return sign | Math.min(code, 0x7c00);
}

/** bfloat16 (BF16) bits → float32 value (the bits are the top half of the float32). */
export function bfloat16BitsToFloat32(bits: number): number {
  return bitsToFloat32((bits & 0xffff) << 16);
}

/** float32 → BF16 bits, round to nearest even; overflow → ±infinity; NaN → 0x7FC0 (as torch). */
export function float32ToBfloat16Bits(value: number): number {
  const bits = float32ToBits(value);
  const sign = (bits >>> 16) & 0x8000;
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits > 0x7f800000) return 0x7fc0;
  const code = roundMagnitude(magnitudeBits, 7, 127);
  return sign | Math.min(code, 0x7f80);
}

/** F8_E4M3 (float8_e4m3fn: no infinities, 0x7F/0xFF are NaN, max 448) bits → float32 value. */
export function float8E4M3BitsToFloat32(bits: number): number {
  const magnitude = bits & 0x7f;
  if (magnitude === 0x7f) return Number.NaN;
  return (bits & 0x80 ? -1 : 1) * decodeMagnitude(magnitude, 3, 7);
}

/** float32 → F8_E4M3 bits, round to nearest even; NaN, ±infinity and anything rounding past 448 → NaN (0x7F | sign). */
export function float32ToFloat8E4M3Bits(value: number): number {
  const bits = float32ToBits(value);
  const sign = (bits >>> 24) & 0x80;
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits >= 0x7f800000) return sign | 0x7f;
  return sign | Math.min(roundMagnitude(magnitudeBits, 3, 7), 0x7f);
}

/** F8_E5M2 (IEEE-like: infinities 0x7C/0xFC, NaN above) bits → float32 value. */
export function float8E5M2BitsToFloat32(bits: number): number {
  const sign = bits & 0x80 ? -1 : 1;
  const magnitude = bits & 0x7f;
  if (magnitude >= 0x7c) return magnitude === 0x7c ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * decodeMagnitude(magnitude, 2, 15);
}

/** float32 → F8_E5M2 bits, round to nearest even; overflow → ±infinity; NaN → 0x7F | sign (as torch). */
export function float32ToFloat8E5M2Bits(value: number): number {
  const bits = float32ToBits(value);
  const sign = (bits >>> 24) & 0x80;
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits > 0x7f800000) return sign | 0x7f;
  return sign | Math.min(roundMagnitude(magnitudeBits, 2, 15), 0x7c);
}

/** F8_E4M3FNUZ (bias 8, no negative zero, no infinities, 0x80 is the only NaN) bits → float32 value. */
export function float8E4M3FnuzBitsToFloat32(bits: number): number {
  if ((bits & 0xff) === 0x80) return Number.NaN;
  return (bits & 0x80 ? -1 : 1) * decodeMagnitude(bits & 0x7f, 3, 8);
}

/** float32 → F8_E4M3FNUZ bits, round to nearest even; NaN, ±infinity and overflow (past 240) → 0x80; ±0 → 0. */
export function float32ToFloat8E4M3FnuzBits(value: number): number {
  return float32ToFnuzBits(value, 3, 8);
}

/** F8_E5M2FNUZ (bias 16, no negative zero, no infinities, 0x80 is the only NaN) bits → float32 value. */
export function float8E5M2FnuzBitsToFloat32(bits: number): number {
  if ((bits & 0xff) === 0x80) return Number.NaN;
  return (bits & 0x80 ? -1 : 1) * decodeMagnitude(bits & 0x7f, 2, 16);
}

/** float32 → F8_E5M2FNUZ bits, round to nearest even; NaN, ±infinity and overflow (past 57344) → 0x80; ±0 → 0. */
export function float32ToFloat8E5M2FnuzBits(value: number): number {
  return float32ToFnuzBits(value, 2, 16);
}

function float32ToFnuzBits(value: number, mantissaBits: number, bias: number): number {
  const bits = float32ToBits(value);
  const magnitudeBits = bits & 0x7fffffff;
  if (magnitudeBits >= 0x7f800000) return 0x80;
  const code = roundMagnitude(magnitudeBits, mantissaBits, bias);
  if (code >= 0x80) return 0x80;
  if (code === 0) return 0;
  return ((bits >>> 24) & 0x80) | code;
}

/** F8_E8M0 (unsigned power of two 2^(bits − 127); 0xFF is NaN) bits → float32 value. */
export function float8E8M0BitsToFloat32(bits: number): number {
  const exponent = bits & 0xff;
  if (exponent === 0xff) return Number.NaN;
  return 2 ** (exponent - 127);
}

/**
 * float32 → F8_E8M0 bits as torch does: the sign is ignored, the float32 exponent field is kept and rounded
 * up when the mantissa is past one half, or exactly one half with an implicit leading 1 (ties to even on the
 * implicit bit); NaN and ±infinity → 0xFF.
 */
export function float32ToFloat8E8M0Bits(value: number): number {
  const bits = float32ToBits(value);
  const exponent = (bits >>> 23) & 0xff;
  if (exponent === 0xff) return 0xff;
  const guard = (bits & 0x400000) !== 0;
  const roundOrSticky = (bits & 0x3fffff) !== 0;
  const implicitBit = exponent > 0;
  return guard && (roundOrSticky || implicitBit) ? exponent + 1 : exponent;
}

/** One F4 (float4_e2m1: 1 sign, 2 exponent, 1 mantissa bit, bias 1, no NaN/infinity) nibble → float32 value. */
export function float4E2M1BitsToFloat32(nibble: number): number {
  return (nibble & 0x8 ? -1 : 1) * decodeMagnitude(nibble & 0x7, 1, 1);
}

/** float32 → F4 (e2m1) nibble, round to nearest even, saturating at ±6 (OCP MX conversion); NaN → a typed error upstream. */
export function float32ToFloat4E2M1Bits(value: number): number {
  const bits = float32ToBits(value);
  const sign = (bits >>> 28) & 0x8;
  const magnitudeBits = bits & 0x7fffffff;
  return sign | Math.min(roundMagnitude(Math.min(magnitudeBits, 0x7f000000), 1, 1), 0x7);
}
