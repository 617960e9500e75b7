import { readFileSync } from "node:fs";
import { deserialize, type RawTensor } from "@peftjs/io";
import { describe, expect, it } from "vitest";
import { fromRaw, TensorArgumentError, tensor, toRaw } from "../src/index.js";

const directory = new URL("./fixtures/safetensors/", import.meta.url);
const file = deserialize(new Uint8Array(readFileSync(new URL("dtypes_common.safetensors", directory))));
const expected = JSON.parse(readFileSync(new URL("dtypes_common.json", directory), "utf8")) as {
  tensors: Record<string, { dtype: string; shape: number[]; values: (number | string | boolean)[] }>;
};

function raw(name: string): RawTensor {
  const value = file.tensors.get(name);
  if (value === undefined) throw new Error(`fixture tensor ${name} missing`);
  return value;
}

/** JSON value → number ("-0", "NaN", "±Infinity" are strings; booleans are 0/1). */
function decode(value: number | string | boolean): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  return typeof value === "string" ? Number(value) : value;
}

describe("fromRaw / toRaw with safetensors written by torch", () => {
  it.each(["f32", "f64", "f16", "bf16", "f8_e4m3", "f8_e5m2"])(
    "widens %s to float32 exactly (F64 rounds to nearest)",
    (name) => {
      const t = fromRaw(raw(name));
      expect(t.dtype).toBe("float32");
      expect(t.shape).toEqual(expected.tensors[name]!.shape);
      // Object.is distinguishes -0 and matches NaN; F64 values are rounded to float32 (1e300 → Infinity, 5e-324 → 0).
      const want = expected.tensors[name]!.values.map((value) => Math.fround(decode(value)));
      const actual = Array.from(t.dataSync());
      for (const [index, value] of actual.entries()) {
        expect(Object.is(value, want[index]), `element ${index}: ${value} vs ${want[index]}`).toBe(true);
      }
    },
  );

  it.each(["i32", "i16", "i8", "u8", "bool"])(
    "reads %s as exact int32 and writes the same bytes back",
    (name) => {
      const source = raw(name);
      const t = fromRaw(source);
      expect(t.dtype).toBe("int32");
      expect(t.toArray()).toEqual(expected.tensors[name]!.values.map(decode));
      expect(toRaw(t, source.dtype)).toEqual({
        dtype: source.dtype,
        shape: source.shape,
        data: Uint8Array.from(source.data),
      });
    },
  );

  it.each(["f32", "f16", "bf16", "f8_e4m3", "f8_e5m2"])(
    "round-trips %s through float32 (bytes equal, NaN stays NaN)",
    (name) => {
      const source = raw(name);
      const back = toRaw(fromRaw(source), source.dtype);
      const values = expected.tensors[name]!.values;
      const width = source.data.length / values.length;
      // NaN payloads are not preserved (the fixture's BF16 NaN is 0xffff, torch's canonical one 0x7fc0); every other element is bit-exact.
      values.forEach((value, index) => {
        const slot = (bytes: Uint8Array) => Array.from(bytes.subarray(index * width, (index + 1) * width));
        if (value !== "NaN") expect(slot(back.data), `element ${index}`).toEqual(slot(source.data));
      });
      expect(
        Number.isNaN(fromRaw(back).toArray()[values.indexOf("NaN")] ?? 0) || !values.includes("NaN"),
      ).toBe(true);
    },
  );

  it("refuses I64 values outside int32 unless float32 is requested", () => {
    expect(() => fromRaw(raw("i64"))).toThrow(TensorArgumentError);
    expect(() => fromRaw(raw("i64"))).toThrow(
      "I64 value 4611686018427387904 at index 3 of [2, 3] does not fit int32",
    );
    expect(fromRaw(raw("i64"), { dtype: "float32" }).toArray().slice(0, 4)).toEqual([0, 1, -1, 2 ** 62]);
  });

  it("converts float32 to BF16 with round-to-nearest-even and int32 to F64 exactly", () => {
    // 1 + 2⁻⁸ is halfway between two bf16 values: ties go to the even mantissa (1.0).
    expect(
      Array.from(new Uint16Array(toRaw(tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8], [2]), "BF16").data.buffer)),
    ).toEqual([0x3f80, 0x3f82]);
    const big = tensor([2 ** 31 - 1, -(2 ** 31)], [2], "int32");
    expect(Array.from(new Float64Array(toRaw(big, "F64").data.buffer))).toEqual([2 ** 31 - 1, -(2 ** 31)]);
  });
});
