import { describe, expect, it } from "vitest";
import {
  compareCodePoints,
  deserialize,
  openSafetensors,
  SafetensorsDuplicateKeyError,
  SafetensorsHeaderJsonError,
  SafetensorsHeaderSchemaError,
  SafetensorsHeaderTooLargeError,
  SafetensorsInvalidMetadataError,
  SafetensorsInvalidTensorError,
  SafetensorsMisalignedError,
  SafetensorsShapeOverflowError,
  serialize,
} from "../src/index.js";

/** A file with the given header text (unpadded) and `dataLength` zero bytes of data. */
function fileWithHeader(header: string, dataLength = 0): Uint8Array {
  const json = new TextEncoder().encode(header);
  const bytes = new Uint8Array(8 + json.length + dataLength);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

const entry = (dtype: string, shape: string, offsets: string) =>
  `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;

describe("header parsing follows serde_json and safetensors 0.8", () => {
  it.each([
    ["a byte-order mark", `\ufeff{}`, SafetensorsHeaderJsonError],
    ["a lone surrogate escape", `{"\\ud800":${entry("U8", "[0]", "[0,0]")}}`, SafetensorsHeaderJsonError],
    ["a trailing comma", `{"a":${entry("U8", "[0]", "[0,0]")},}`, SafetensorsHeaderJsonError],
    [
      "a raw control character in a string",
      `{"a\u0001":${entry("U8", "[0]", "[0,0]")}}`,
      SafetensorsHeaderJsonError,
    ],
    [
      "129 levels of nesting",
      `{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":${"[".repeat(128)}${"]".repeat(128)}}}`,
      SafetensorsHeaderJsonError,
    ],
    ["an exponent in an offset", `{"a":${entry("U8", "[1]", "[0,1e0]")}}`, SafetensorsHeaderSchemaError],
    [
      "an offset beyond 64 bits",
      `{"a":${entry("U8", "[1]", "[0,18446744073709551616]")}}`,
      SafetensorsHeaderSchemaError,
    ],
    ["three data offsets", `{"a":${entry("U8", "[1]", "[0,1,1]")}}`, SafetensorsHeaderSchemaError],
    [
      "a dtype that is a number",
      `{"a":${entry("U8", "[1]", "[0,1]").replace('"U8"', "8")}}`,
      SafetensorsHeaderSchemaError,
    ],
    ["a tensor that is a string", `{"a":"F32"}`, SafetensorsHeaderSchemaError],
    ["metadata that is an array", `{"__metadata__":[]}`, SafetensorsHeaderSchemaError],
    [
      "a repeated dtype field",
      `{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
      SafetensorsDuplicateKeyError,
    ],
    ["differing repeated metadata keys", `{"__metadata__":{"k":"1","k":"2"}}`, SafetensorsDuplicateKeyError],
    ["an odd number of F4 elements", `{"a":${entry("F4", "[3]", "[0,1]")}}`, SafetensorsMisalignedError],
    [
      "a dimension beyond 2^53 with zero elements",
      `{"a":${entry("U8", "[0,9007199254740993]", "[0,0]")}}`,
      SafetensorsShapeOverflowError,
    ],
  ])("rejects %s", (_label, header, errorClass) => {
    expect(() =>
      deserialize(fileWithHeader(header, 1).subarray(0, 8 + new TextEncoder().encode(header).length)),
    ).toThrow(errorClass);
  });

  it("accepts JSON whitespace, escaped names, identical repeated metadata keys and 64-bit-sized empty shapes", () => {
    const header = `\t\r\n {"__metadata__":{"k":"v","k":"v"}, "\\u00e9\\/" : ${entry("U8", "[2]", "[0, 2]")} }\n`;
    const { tensors, metadata } = deserialize(fileWithHeader(header, 2));
    expect(metadata).toEqual({ k: "v" });
    expect([...tensors.keys()]).toEqual(["é/"]);
  });

  it("names the tensor and the numbers in its messages", () => {
    expect(() => deserialize(fileWithHeader(`{"w":${entry("F32", "[4]", "[0,12]")}}`, 12))).toThrow(
      /tensor "w": F32 \[4\] needs 16 bytes but data_offsets \[0, 12\] span 12/,
    );
    expect(() => deserialize(fileWithHeader(`{"w":${entry("F32", "[1]", "[0,4]")}}`, 1024))).toThrow(
      /the tensors cover 4 bytes \(the last, "w", ends at 4\) but the data section has 1024/,
    );
  });

  it("opens a header-only file lazily and lists names in file order", async () => {
    const bytes = serialize({
      b: { dtype: "U8", shape: [1], data: Uint8Array.from([2]) },
      a: { dtype: "F32", shape: [], data: new Uint8Array(4) },
    });
    const reader = await openSafetensors(bytes);
    expect(reader.names).toEqual(["a", "b"]);
    expect(reader.header.tensors[1]).toEqual({ name: "b", dtype: "U8", shape: [1], dataOffsets: [4, 5] });
  });
});

describe("serialize validates what it writes", () => {
  const u8 = (length: number) => ({ dtype: "U8" as const, shape: [length], data: new Uint8Array(length) });

  it("rejects wrong data lengths, bad shapes, unknown dtypes, reserved and ill-formed names, bad metadata", () => {
    expect(() => serialize({ a: { ...u8(2), shape: [3] } })).toThrow(/needs 3 bytes, got 2/);
    expect(() => serialize({ a: { ...u8(2), shape: [-2] } })).toThrow(SafetensorsInvalidTensorError);
    expect(() => serialize({ a: { ...u8(2), shape: [1.5] } })).toThrow(SafetensorsInvalidTensorError);
    expect(() => serialize({ a: { ...u8(2), dtype: "f32" as "F32" } })).toThrow(/unknown dtype "f32"/);
    expect(() => serialize({ __metadata__: u8(1) })).toThrow(/reserved/);
    expect(() => serialize({ "\ud800": u8(1) })).toThrow(/unpaired surrogate/);
    expect(() => serialize({ a: { dtype: "F4", shape: [3], data: new Uint8Array(2) } })).toThrow(
      /not a whole number of bytes/,
    );
    expect(() => serialize({}, { n: 1 as unknown as string })).toThrow(SafetensorsInvalidMetadataError);
    expect(() => serialize({ ["x".repeat(100_000_001)]: u8(0) })).toThrow(SafetensorsHeaderTooLargeError);
  });

  it("writes metadata first and escapes strings as serde_json", () => {
    const bytes = serialize({ 'q"\\\n\u0001\u007f é': u8(0) }, { format: "pt" });
    const header = new TextDecoder().decode(
      bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))),
    );
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"q\\"\\\\\\n\\u0001\u007f é":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
    );
    expect(serialize({})).toEqual(
      Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]),
    );
  });

  it("orders names by code point, as Rust compares strings", () => {
    const names = ["\uffff", "\u{10000}", "b", "a", "ä"];
    expect([...names].sort(compareCodePoints)).toEqual(["a", "b", "ä", "\uffff", "\u{10000}"]);
  });
});

describe("metadata given as a Map", () => {
  it("is written in the Map's order", () => {
    const bytes = serialize(
      {},
      new Map([
        ["b", "1"],
        ["a", "2"],
      ]),
    );
    expect(deserialize(bytes).metadata).toEqual({ b: "1", a: "2" });
    expect(new TextDecoder().decode(bytes.subarray(8)).trimEnd()).toBe('{"__metadata__":{"b":"1","a":"2"}}');
  });
});
