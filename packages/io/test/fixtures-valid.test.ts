import { describe, expect, it } from "vitest";
import {
  deserialize,
  elementCount,
  openSafetensors,
  type RawTensor,
  serialize,
  toFloat32,
  toTypedArray,
} from "../src/index.js";
import { openSafetensorsFile, readSafetensorsFile } from "../src/node.js";
import {
  type ExpectedTensor,
  expectedBytes,
  fixtureBytes,
  fixtureJson,
  fixtureNumber,
  fixturesFolder,
  validFixtureNames,
} from "./helpers.js";

interface ValidFixture {
  header_length_N: number;
  header_order: string[];
  metadata: Record<string, string> | null;
  tensors: Record<string, ExpectedTensor>;
}

const floatDtypes = new Set([
  "F64",
  "F32",
  "F16",
  "BF16",
  "F8_E4M3",
  "F8_E5M2",
  "F8_E4M3FNUZ",
  "F8_E5M2FNUZ",
  "F8_E8M0",
]);

function checkTensor(name: string, actual: RawTensor, expected: ExpectedTensor): void {
  expect(actual.dtype, name).toBe(expected.dtype);
  expect(actual.shape, name).toEqual(expected.shape);
  expect([...actual.data], name).toEqual([...expectedBytes(expected)]);
  if (floatDtypes.has(expected.dtype) && expected.values !== undefined) {
    // Decoded values must equal the fixture's exact values; F64 is compared after rounding to float32
    // (toFloat32 returns float32), every narrower format widens exactly.
    const decoded = [...toFloat32(actual)];
    const wanted = expected.values.map((value) => Math.fround(fixtureNumber(value)));
    expect(decoded, name).toEqual(wanted);
  }
}

describe.each(validFixtureNames)("valid fixture %s", (fixture) => {
  const expected = fixtureJson<ValidFixture>(`${fixture}.json`);
  const bytes = fixtureBytes(`${fixture}.safetensors`);

  it("deserializes bit for bit, in file order, with its metadata", () => {
    const { tensors, metadata } = deserialize(bytes);
    expect(metadata).toEqual(expected.metadata);
    expect([...tensors.keys()]).toEqual(expected.header_order.filter((key) => key !== "__metadata__"));
    expect(tensors.size).toBe(Object.keys(expected.tensors).length);
    for (const [name, tensor] of Object.entries(expected.tensors)) {
      checkTensor(name, tensors.get(name) as RawTensor, tensor);
    }
  });

  it("re-serializes to the identical bytes", () => {
    const { tensors, metadata } = deserialize(bytes);
    expect(Buffer.from(serialize(tensors, metadata)).equals(Buffer.from(bytes))).toBe(true);
  });

  it("reads lazily from a file, a Blob and bytes with the same header and tensors", async () => {
    const readers = [
      await openSafetensorsFile(`${fixturesFolder}/${fixture}.safetensors`),
      await openSafetensors(new Blob([bytes])),
      await openSafetensors(bytes.buffer as ArrayBuffer),
    ];
    for (const reader of readers) {
      expect(reader.header.headerLength).toBe(expected.header_length_N);
      for (const info of reader.header.tensors) {
        const wanted = expected.tensors[info.name] as ExpectedTensor;
        expect(info.dataOffsets).toEqual(wanted.data_offsets);
        checkTensor(info.name, await reader.read(info.name), wanted);
      }
      await reader.close();
    }
  });

  it("gives zero-copy typed views of every tensor read from a file", async () => {
    const { tensors } = await readSafetensorsFile(`${fixturesFolder}/${fixture}.safetensors`);
    for (const [name, tensor] of tensors) {
      const view = toTypedArray(tensor);
      expect(view.buffer, name).toBe(tensor.data.buffer);
      if (tensor.dtype !== "F4" && tensor.dtype !== "C64") {
        expect(view.length, name).toBe(elementCount(tensor.shape));
      }
    }
  });
});
