import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ByteSource,
  bytesSource,
  compareCodePoints,
  DTYPES,
  type Dtype,
  deserialize,
  dtypeBitSize,
  dtypeRank,
  isPeftjsError,
  openSafetensorsSource,
  type RawTensor,
  SafetensorsError,
  serialize,
} from "../src/index.js";
import { fixtureBytes, validFixtureNames } from "./helpers.js";

const dtypeArbitrary = fc.constantFrom(...DTYPES);

/** A random tensor of `dtype` whose element count fills whole bytes (F4 needs pairs, F6 needs fours). */
function tensorArbitrary(dtype: Dtype): fc.Arbitrary<RawTensor> {
  return fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }).chain((dimensions) => {
    const bits = dtypeBitSize(dtype);
    const shape = bits % 8 === 0 ? dimensions : [...dimensions, bits === 4 ? 2 : 4];
    const length = (shape.reduce((product, dimension) => product * dimension, 1) * bits) / 8;
    return fc.uint8Array({ minLength: length, maxLength: length }).map((data) => ({ dtype, shape, data }));
  });
}

const tensorsArbitrary = fc.uniqueArray(
  fc.tuple(
    fc.string({ unit: "grapheme", maxLength: 6 }).filter((name) => name !== "__metadata__"),
    dtypeArbitrary.chain(tensorArbitrary),
  ),
  { selector: ([name]) => name, maxLength: 8 },
);

const metadataArbitrary = fc.option(
  fc.dictionary(fc.string({ unit: "grapheme", maxLength: 5 }), fc.string({ unit: "grapheme" })),
  {
    nil: undefined,
  },
);

describe("round trip", () => {
  it("random tensors of every dtype survive serialize → deserialize bit for bit, in the official order", () => {
    fc.assert(
      fc.property(tensorsArbitrary, metadataArbitrary, (entries, metadata) => {
        const bytes = serialize(new Map(entries), metadata);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerLength % 8).toBe(0);
        const { tensors, metadata: readMetadata } = deserialize(bytes);
        expect(readMetadata).toEqual(metadata ?? null);
        expect(tensors.size).toBe(entries.length);
        for (const [name, tensor] of entries) {
          const read = tensors.get(name) as RawTensor;
          expect(read.dtype).toBe(tensor.dtype);
          expect(read.shape).toEqual(tensor.shape);
          expect([...read.data]).toEqual([...tensor.data]);
        }
        const order = [...tensors.entries()];
        for (let index = 1; index < order.length; index++) {
          const [previousName, previous] = order[index - 1] as [string, RawTensor];
          const [name, tensor] = order[index] as [string, RawTensor];
          const byRank = dtypeRank(previous.dtype) - dtypeRank(tensor.dtype);
          expect(byRank > 0 || (byRank === 0 && compareCodePoints(previousName, name) < 0)).toBe(true);
        }
        expect(serialize(tensors, readMetadata)).toEqual(bytes);
      }),
      { numRuns: 1500 },
    );
  });
});

/** Wraps a source and counts the bytes asked for, to show that nothing beyond the source is requested. */
function countingSource(inner: ByteSource): ByteSource & { requested: number } {
  const counted = {
    requested: 0,
    size: inner.size,
    description: inner.description,
    read: (offset: number, length: number) => {
      counted.requested += length;
      return inner.read(offset, length);
    },
    close: () => inner.close(),
  };
  return counted;
}

const files = validFixtureNames.map((name) => fixtureBytes(`${name}.safetensors`));

/** A corrupted copy of a valid file: byte overwrites (mostly in the header), truncation, insertion or deletion. */
const corruptedArbitrary = fc
  .tuple(
    fc.integer({ min: 0, max: files.length - 1 }),
    fc.array(
      fc.oneof(
        fc.record({
          kind: fc.constant("set" as const),
          at: fc.nat(),
          value: fc.integer({ min: 0, max: 255 }),
          header: fc.boolean(),
        }),
        fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
        fc.record({
          kind: fc.constant("insert" as const),
          at: fc.nat(),
          value: fc.integer({ min: 0, max: 255 }),
        }),
        fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([fileIndex, edits]) => {
    let bytes = Array.from(files[fileIndex] as Uint8Array);
    const headerEnd = Math.min(
      bytes.length,
      8 + Number(new DataView(Uint8Array.from(bytes).buffer).getBigUint64(0, true)),
    );
    for (const edit of edits) {
      if (bytes.length === 0) break;
      const at =
        edit.kind === "set" && edit.header ? edit.at % Math.max(1, headerEnd) : edit.at % bytes.length;
      if (edit.kind === "set") bytes[at] = edit.value;
      else if (edit.kind === "truncate") bytes = bytes.slice(0, at);
      else if (edit.kind === "insert") bytes.splice(at, 0, edit.value);
      else bytes.splice(at, 1);
    }
    return Uint8Array.from(bytes);
  });

function expectTypedOrNothing(error: unknown): void {
  if (error === undefined) return;
  expect(error).toBeInstanceOf(SafetensorsError);
  expect(isPeftjsError(error)).toBe(true);
}

describe("corrupted files", () => {
  it("deserialize either succeeds or throws a SafetensorsError (3000 mutations)", () => {
    fc.assert(
      fc.property(corruptedArbitrary, (bytes) => {
        let caught: unknown;
        try {
          const { tensors } = deserialize(bytes);
          for (const tensor of tensors.values())
            expect(tensor.data.byteOffset + tensor.data.length).toBeLessThanOrEqual(bytes.length);
        } catch (error) {
          caught = error;
        }
        expectTypedOrNothing(caught);
      }),
      { numRuns: 3000 },
    );
  });

  it("lazy readers either succeed or throw a SafetensorsError and never ask for more bytes than the source has", async () => {
    await fc.assert(
      fc.asyncProperty(corruptedArbitrary, async (bytes) => {
        const source = countingSource(bytesSource(bytes));
        let caught: unknown;
        try {
          const reader = await openSafetensorsSource(source);
          await reader.readAll();
        } catch (error) {
          caught = error;
        }
        expectTypedOrNothing(caught);
        expect(source.requested).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 1500 },
    );
  });

  it("truncations of every valid file are rejected with a SafetensorsError", () => {
    for (const file of files) {
      // Every length up to the first 64 data bytes, then a stride through the rest and the last 16 lengths.
      const headerEnd = 8 + Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
      const stride = Math.max(1, Math.floor(file.length / 300));
      const lengths = new Set<number>();
      for (let length = 0; length < Math.min(file.length, 200); length++) lengths.add(length);
      for (let length = Math.max(0, headerEnd - 16); length < Math.min(file.length, headerEnd + 64); length++)
        lengths.add(length);
      for (let length = 0; length < file.length; length += stride) lengths.add(length);
      for (let length = file.length - 16; length < file.length; length++) lengths.add(length);
      for (const length of lengths) {
        let caught: unknown;
        try {
          deserialize(file.subarray(0, length));
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(SafetensorsError);
      }
    }
  });
});
