import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bfloat16BitsToFloat32,
  bitsToFloat32,
  firstNonFiniteIndex,
  float4E2M1BitsToFloat32,
  float8E4M3BitsToFloat32,
  float8E4M3FnuzBitsToFloat32,
  float8E5M2BitsToFloat32,
  float8E5M2FnuzBitsToFloat32,
  float8E8M0BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToBits,
  float32ToFloat4E2M1Bits,
  float32ToFloat8E4M3Bits,
  float32ToFloat8E4M3FnuzBits,
  float32ToFloat8E5M2Bits,
  float32ToFloat8E5M2FnuzBits,
  float32ToFloat8E8M0Bits,
  float32ToFloat16Bits,
  fromFloat32,
  fromFloat32Finite,
  SafetensorsConversionError,
  toFloat32,
} from "../src/index.js";

/**
 * An independent model of each format: the value of every magnitude code by the textbook formula
 * (subnormal: m·2^(1−bias−M); normal: (1 + m/2^M)·2^(e−bias)), and what torch returns for NaN, infinity and
 * values that round past the largest finite code.
 */
interface Format {
  name: string;
  exponentBits: number;
  mantissaBits: number;
  bias: number;
  encode: (value: number) => number;
  decode: (bits: number) => number;
  /** Largest finite magnitude code. */
  maxCode: number;
  /** Result for a magnitude that rounds past maxCode, by sign bit. */
  overflow: (negative: boolean) => number;
  nan: (negative: boolean) => number;
  infinity: (negative: boolean) => number;
  signBit: number;
  /** FNUZ formats have no negative zero. */
  negativeZero: boolean;
}

const formats: Format[] = [
  {
    name: "F16",
    exponentBits: 5,
    mantissaBits: 10,
    bias: 15,
    encode: float32ToFloat16Bits,
    decode: float16BitsToFloat32,
    maxCode: 0x7bff,
    overflow: (n) => (n ? 0xfc00 : 0x7c00),
    nan: (n) => (n ? 0xfe00 : 0x7e00),
    infinity: (n) => (n ? 0xfc00 : 0x7c00),
    signBit: 0x8000,
    negativeZero: true,
  },
  {
    name: "BF16",
    exponentBits: 8,
    mantissaBits: 7,
    bias: 127,
    encode: float32ToBfloat16Bits,
    decode: bfloat16BitsToFloat32,
    maxCode: 0x7f7f,
    overflow: (n) => (n ? 0xff80 : 0x7f80),
    nan: () => 0x7fc0,
    infinity: (n) => (n ? 0xff80 : 0x7f80),
    signBit: 0x8000,
    negativeZero: true,
  },
  {
    name: "F8_E4M3",
    exponentBits: 4,
    mantissaBits: 3,
    bias: 7,
    encode: float32ToFloat8E4M3Bits,
    decode: float8E4M3BitsToFloat32,
    maxCode: 0x7e,
    overflow: (n) => (n ? 0xff : 0x7f),
    nan: (n) => (n ? 0xff : 0x7f),
    infinity: (n) => (n ? 0xff : 0x7f),
    signBit: 0x80,
    negativeZero: true,
  },
  {
    name: "F8_E5M2",
    exponentBits: 5,
    mantissaBits: 2,
    bias: 15,
    encode: float32ToFloat8E5M2Bits,
    decode: float8E5M2BitsToFloat32,
    maxCode: 0x7b,
    overflow: (n) => (n ? 0xfc : 0x7c),
    nan: (n) => (n ? 0xff : 0x7f),
    infinity: (n) => (n ? 0xfc : 0x7c),
    signBit: 0x80,
    negativeZero: true,
  },
  {
    name: "F8_E4M3FNUZ",
    exponentBits: 4,
    mantissaBits: 3,
    bias: 8,
    encode: float32ToFloat8E4M3FnuzBits,
    decode: float8E4M3FnuzBitsToFloat32,
    maxCode: 0x7f,
    overflow: () => 0x80,
    nan: () => 0x80,
    infinity: () => 0x80,
    signBit: 0x80,
    negativeZero: false,
  },
  {
    name: "F8_E5M2FNUZ",
    exponentBits: 5,
    mantissaBits: 2,
    bias: 16,
    encode: float32ToFloat8E5M2FnuzBits,
    decode: float8E5M2FnuzBitsToFloat32,
    maxCode: 0x7f,
    overflow: () => 0x80,
    nan: () => 0x80,
    infinity: () => 0x80,
    signBit: 0x80,
    negativeZero: false,
  },
];

function textbookValue(format: Format, code: number): number {
  const exponent = Math.floor(code / 2 ** format.mantissaBits);
  const mantissa = code % 2 ** format.mantissaBits;
  if (exponent === 0) return mantissa * 2 ** (1 - format.bias - format.mantissaBits);
  return (1 + mantissa / 2 ** format.mantissaBits) * 2 ** (exponent - format.bias);
}

/** Round to nearest, ties to the even code, by search over every finite code plus the first code past the end. */
function oracleEncode(format: Format, value: number): number {
  const negative = value < 0 || Object.is(value, -0);
  const sign = negative ? format.signBit : 0;
  if (Number.isNaN(value)) return format.nan(negative);
  if (!Number.isFinite(value)) return format.infinity(negative);
  const magnitude = Math.abs(value);
  let low = 0;
  let high = format.maxCode + 1;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (textbookValue(format, middle) <= magnitude) low = middle;
    else high = middle;
  }
  const below = textbookValue(format, low);
  const above = textbookValue(format, low + 1);
  let code: number;
  if (magnitude - below < above - magnitude) code = low;
  else if (magnitude - below > above - magnitude) code = low + 1;
  else code = low % 2 === 0 ? low : low + 1;
  if (code > format.maxCode) return format.overflow(negative);
  if (code === 0 && !format.negativeZero) return 0;
  return sign | code;
}

/** Interesting inputs: every code's value, the midpoints between neighbours, and one float32 ulp either side. */
function probeValues(format: Format): number[] {
  const values: number[] = [
    0,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    3.4028234663852886e38,
  ];
  for (let code = 0; code <= format.maxCode + 1; code++) {
    const value = textbookValue(format, code);
    const next = textbookValue(format, code + 1);
    const middle = (value + next) / 2;
    for (const probe of [value, middle]) {
      const bits = float32ToBits(probe);
      for (const neighbour of [probe, bitsToFloat32(bits + 1), bits > 0 ? bitsToFloat32(bits - 1) : 0]) {
        values.push(neighbour, -neighbour);
      }
    }
  }
  return values;
}

describe.each(formats)("$name", (format) => {
  it("decodes every finite code to its textbook value and back to the same code", () => {
    for (let code = 0; code <= format.maxCode; code++) {
      expect(format.decode(code)).toBe(textbookValue(format, code));
      expect(format.encode(format.decode(code))).toBe(code);
      if (code !== 0 || format.negativeZero) {
        expect(format.decode(code | format.signBit)).toBe(-textbookValue(format, code));
        expect(format.encode(format.decode(code | format.signBit))).toBe(code | format.signBit);
      }
    }
  });

  it("rounds to nearest even exactly at and around every tie, with torch's NaN/infinity/overflow codes", () => {
    for (const value of probeValues(format)) {
      const rounded = Math.fround(value);
      const actual = format.encode(rounded);
      const expected = oracleEncode(format, rounded);
      if (actual !== expected)
        expect({ value: rounded, actual }).toEqual({ value: rounded, actual: expected });
    }
  });

  it("agrees with the oracle on random float32 bit patterns", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (bits) => {
        const value = bitsToFloat32(bits);
        // A JavaScript NaN carries no observable sign, so either of torch's two NaN codes is right.
        if (Number.isNaN(value)) return [format.nan(false), format.nan(true)].includes(format.encode(value));
        return format.encode(value) === oracleEncode(format, value);
      }),
      { numRuns: 20000 },
    );
  });
});

describe("F8_E8M0 (torch float8_e8m0fnu)", () => {
  it("decodes powers of two, 0xFF as NaN", () => {
    expect(float8E8M0BitsToFloat32(127)).toBe(1);
    expect(float8E8M0BitsToFloat32(0)).toBe(2 ** -127);
    expect(float8E8M0BitsToFloat32(254)).toBe(2 ** 127);
    expect(float8E8M0BitsToFloat32(255)).toBeNaN();
  });
  it("rounds the float32 exponent as torch: up past half, ties up only with the implicit bit set", () => {
    expect(float32ToFloat8E8M0Bits(1)).toBe(127);
    expect(float32ToFloat8E8M0Bits(1.5)).toBe(128); // tie, implicit bit 1 → up
    expect(float32ToFloat8E8M0Bits(1.4999999)).toBe(127);
    expect(float32ToFloat8E8M0Bits(-2)).toBe(128); // sign ignored
    expect(float32ToFloat8E8M0Bits(Number.NaN)).toBe(255);
    expect(float32ToFloat8E8M0Bits(Number.NEGATIVE_INFINITY)).toBe(255);
    expect(float32ToFloat8E8M0Bits(bitsToFloat32(0x00600000))).toBe(1); // subnormal 0.75·2^-126: g, r set
    expect(float32ToFloat8E8M0Bits(bitsToFloat32(0x00400000))).toBe(0); // subnormal tie, no implicit bit
    for (let bits = 0; bits < 255; bits++)
      expect(float32ToFloat8E8M0Bits(float8E8M0BitsToFloat32(bits))).toBe(bits);
  });
});

describe("F4 (e2m1)", () => {
  it("decodes the eight magnitudes and encodes them back", () => {
    const magnitudes = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
    magnitudes.forEach((value, code) => {
      expect(float4E2M1BitsToFloat32(code)).toBe(value);
      expect(float4E2M1BitsToFloat32(code | 8)).toBe(-value);
      expect(float32ToFloat4E2M1Bits(value)).toBe(code);
    });
    expect(float32ToFloat4E2M1Bits(100)).toBe(7); // saturates
    expect(float32ToFloat4E2M1Bits(Number.NEGATIVE_INFINITY)).toBe(15);
    expect(float32ToFloat4E2M1Bits(2.5)).toBe(4); // tie → even mantissa (2)
    expect(float32ToFloat4E2M1Bits(5)).toBe(6); // tie between 4 and 6 → 4 (code 6 is even)
  });
});

describe("toFloat32 / fromFloat32", () => {
  it("round-trip every float dtype through its own values exactly", () => {
    const values = Float32Array.from([0, -0, 1, -1.5, 0.25, 2, -4]);
    for (const dtype of [
      "F64",
      "F32",
      "F16",
      "BF16",
      "F8_E4M3",
      "F8_E5M2",
      "F8_E4M3FNUZ",
      "F8_E5M2FNUZ",
    ] as const) {
      const bytes = fromFloat32(values, dtype);
      const back = toFloat32({ dtype, shape: [values.length], data: bytes });
      const expected = dtype.includes("FNUZ") ? values.map((v) => (v === 0 ? 0 : v)) : values;
      expect([...back], dtype).toEqual([...expected]);
    }
  });

  it("truncate toward zero into integers and reject values out of range", () => {
    const bytes = fromFloat32([1.9, -1.9, 127], "I8");
    expect([...new Int8Array(bytes.buffer)]).toEqual([1, -1, 127]);
    expect(() => fromFloat32([128], "I8")).toThrow(/does not fit I8/);
    expect(() => fromFloat32([2 ** 63], "I64")).toThrow(/does not fit I64/);
    expect(() => fromFloat32([Number.NaN], "I32")).toThrow(/does not fit I32/);
    const big = fromFloat32([-(2 ** 40)], "I64");
    expect(toFloat32({ dtype: "I64", shape: [1], data: big })[0]).toBe(-(2 ** 40));
  });

  it("convert BOOL, F4 and C64", () => {
    expect([...fromFloat32([0, 2, Number.NaN], "BOOL")]).toEqual([0, 1, 1]);
    expect([...toFloat32({ dtype: "BOOL", shape: [3], data: Uint8Array.from([0, 2, 255]) })]).toEqual([
      0, 1, 1,
    ]);
    const packed = fromFloat32([0.5, 1, 6, -6], "F4");
    expect([...packed]).toEqual([0x21, 0xf7]);
    expect([...toFloat32({ dtype: "F4", shape: [4], data: packed })]).toEqual([0.5, 1, 6, -6]);
    expect(() => fromFloat32([Number.NaN, 0], "F4")).toThrow(/no NaN/);
    expect([...toFloat32({ dtype: "C64", shape: [1], data: fromFloat32([1, -2], "C64") })]).toEqual([1, -2]);
  });

  it("refuse F6 with a typed error", () => {
    expect(() => toFloat32({ dtype: "F6_E2M3", shape: [4], data: new Uint8Array(3) })).toThrow(/F6_E2M3/);
    expect(() => fromFloat32([1, 2, 3, 4], "F6_E3M2")).toThrow(/F6_E3M2/);
  });
});

describe("fromFloat32Finite", () => {
  it("refuses non-finite values and values beyond the target's range, and passes everything else as fromFloat32", () => {
    expect(() => fromFloat32Finite([1, Number.NaN], "F32")).toThrow(/value NaN at index 1 is not finite/);
    expect(() => fromFloat32Finite([Number.NEGATIVE_INFINITY], "BF16")).toThrow(SafetensorsConversionError);
    expect(() => fromFloat32Finite([0, 70000], "F16")).toThrow(/70000 at index 1 is beyond the range of F16/);
    // 65519 rounds down to 65504, the largest float16; 65520 rounds to Infinity.
    expect(fromFloat32Finite([65519, -65504], "F16")).toEqual(fromFloat32([65519, -65504], "F16"));
    expect(() => fromFloat32Finite([65520], "F16")).toThrow(SafetensorsConversionError);
    expect(() => fromFloat32Finite([1e39], "BF16")).toThrow(/beyond the range of BF16/);
    expect(() => fromFloat32Finite([1e39], "F32")).toThrow(/beyond the range of F32/);
    expect(() => fromFloat32Finite([500], "F8_E4M3")).toThrow(SafetensorsConversionError);
    expect(fromFloat32Finite([3, 4], "I32")).toEqual(fromFloat32([3, 4], "I32"));
    expect(firstNonFiniteIndex(new Float32Array([0, 1, Number.POSITIVE_INFINITY]))).toBe(2);
    expect(firstNonFiniteIndex([])).toBe(-1);
  });
});
