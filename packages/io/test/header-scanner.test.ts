import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseHeader } from "../src/index.js";
import { referenceParseHeader } from "./support/reference-header.js";

/**
 * The one-pass header scanner must give exactly the verdicts of the tree-based reading it replaced
 * (`support/reference-header.ts`): the same result, or the same error class with the same message. The
 * headers are built from header-shaped pieces (right and wrong dtypes, numbers of every form, repeated keys
 * and fields, metadata, nesting), then mutated character by character.
 */

const numberLiteral = fc.oneof(
  fc.nat({ max: 64 }).map(String),
  fc.constantFrom(
    "0",
    "-1",
    "1.0",
    "1e3",
    "01",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "4294967296",
    "1152921504606846976",
  ),
);
const scalar = fc.oneof(numberLiteral, fc.constantFrom("null", "true", "false", '"x"', '"F32"', "[]", "{}"));
const list = fc.array(fc.oneof({ weight: 5, arbitrary: numberLiteral }, scalar), { maxLength: 4 });
const dtype = fc.oneof(
  fc.constantFrom('"F32"', '"U8"', '"F16"', '"F4"', '"F6_E2M3"', '"BOOL"', '"I64"'),
  fc.constantFrom('"f32"', '"X"', "32", "null", "[]"),
);
const key = fc.constantFrom("a", "b", "c", "", "\\u00e9", "__metadata__");

const field = fc.oneof(
  dtype.map((value) => `"dtype":${value}`),
  list.map((items) => `"shape":[${items.join(",")}]`),
  fc
    .tuple(fc.nat({ max: 40 }), fc.nat({ max: 40 }))
    .map(([start, length]) => `"data_offsets":[${start},${start + length}]`),
  list.map((items) => `"data_offsets":[${items.join(",")}]`),
  scalar.map((value) => `"shape":${value}`),
  scalar.map((value) => `"extra":${value}`),
  fc.constant(`"x":[[[{"y":[1,2]}]]]`),
);
const plainEntry = fc
  .tuple(
    fc.constantFrom("F32", "U8", "F16", "I64"),
    fc.array(fc.nat({ max: 3 }), { maxLength: 2 }),
    fc.nat({ max: 8 }),
  )
  .map(([type, shape, start]) => {
    const size = { F32: 4, U8: 1, F16: 2, I64: 8 }[type] as number;
    const bytes = shape.reduce((product, dimension) => product * dimension, 1) * size;
    return `{"dtype":"${type}","shape":[${shape.join(",")}],"data_offsets":[${start},${start + bytes}]}`;
  });
const value = fc.oneof(
  { weight: 4, arbitrary: plainEntry },
  { weight: 4, arbitrary: fc.array(field, { maxLength: 5 }).map((fields) => `{${fields.join(",")}}`) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(key, scalar), { maxLength: 3 })
      .map((pairs) => `{${pairs.map(([name, item]) => `"${name}":${item}`).join(",")}}`),
  },
  { weight: 1, arbitrary: scalar },
);
const header = fc
  .array(fc.tuple(key, value), { maxLength: 6 })
  .map((members) => `{${members.map(([name, item]) => `"${name}":${item}`).join(", ")}}`);

/** Headers that tile their data section (in shuffled member order), so most of them are valid. */
const tiled = fc
  .array(
    fc.tuple(
      fc.constantFrom("F32", "U8", "F16", "I64", "F4"),
      fc.array(fc.nat({ max: 3 }), { maxLength: 3 }),
    ),
    { maxLength: 6 },
  )
  .chain((tensors) => {
    let offset = 0;
    const members = tensors.map(([type, shape], index) => {
      const bits = { F32: 32, U8: 8, F16: 16, I64: 64, F4: 4 }[type] as number;
      const bytes = Math.ceil((shape.reduce((product, dimension) => product * dimension, 1) * bits) / 8);
      const member = `"t${index}":{"dtype":"${type}","shape":[${shape.join(",")}],"data_offsets":[${offset},${offset + bytes}]}`;
      offset += bytes;
      return member;
    });
    return fc.shuffledSubarray(members, { minLength: members.length }).map((shuffled) => ({
      text: `{${shuffled.join(",")}}`,
      dataLength: offset,
    }));
  });

/** Deletes, duplicates or inserts a JSON-significant character at random places. */
const mutated = fc
  .tuple(
    header,
    fc.array(
      fc.tuple(fc.nat(), fc.constantFrom("delete", "duplicate", ",", "]", "}", '"', ":", " ", "0", "-")),
      { maxLength: 3 },
    ),
  )
  .map(([text, edits]) => {
    let result = text;
    for (const [position, edit] of edits) {
      const at = result.length === 0 ? 0 : position % result.length;
      if (edit === "delete") result = result.slice(0, at) + result.slice(at + 1);
      else if (edit === "duplicate") result = result.slice(0, at + 1) + result.slice(at);
      else result = result.slice(0, at) + edit + result.slice(at);
    }
    return result;
  });

function verdict(parse: (bytes: Uint8Array, size: number) => unknown, text: string, dataLength: number) {
  const bytes = new TextEncoder().encode(text);
  try {
    return { ok: parse(bytes, 8 + bytes.length + dataLength) };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

describe("the header scanner gives the reference reading's verdicts", () => {
  it.each([
    ["built headers", header, 4000],
    ["mutated headers", mutated, 4000],
  ])("on %s", (_label, arbitrary, numRuns) => {
    fc.assert(
      fc.property(arbitrary, fc.nat({ max: 48 }), (text, dataLength) => {
        expect(verdict(parseHeader, text, dataLength)).toEqual(
          verdict(referenceParseHeader, text, dataLength),
        );
      }),
      { numRuns },
    );
  });

  it("on tiled headers, most of them valid", () => {
    let accepted = 0;
    fc.assert(
      fc.property(tiled, ({ text, dataLength }) => {
        const result = verdict(parseHeader, text, dataLength);
        expect(result).toEqual(verdict(referenceParseHeader, text, dataLength));
        if ("ok" in result) accepted++;
      }),
      { numRuns: 1000 },
    );
    expect(accepted).toBeGreaterThan(500);
  });

  it("keeps constant memory for skipped parts: a deep, wide value after the first error is only checked", () => {
    const skipped = `[${`{"k":[1,2,{"z":null}]},`.repeat(20_000)}0]`;
    const text = `{"a":{"dtype":"X","shape":[],"data_offsets":[0,0]},"b":${skipped}}`;
    expect(verdict(parseHeader, text, 0)).toEqual(verdict(referenceParseHeader, text, 0));
    expect(verdict(parseHeader, `${text.slice(0, -2)}}`, 0)).toEqual(
      verdict(referenceParseHeader, `${text.slice(0, -2)}}`, 0),
    );
  });
});
