import { describe, expect, it } from "vitest";
import { philox4x32 } from "../src/index.js";
import { multiplyHigh } from "../src/random/philox.js";

/** Runs one block and returns the four words as hex strings. */
function block(counter: number[], key: number[]): string[] {
  const output = new Uint32Array(4);
  philox4x32(counter, key, output);
  return Array.from(output, (word) => word.toString(16).padStart(8, "0"));
}

describe("Philox4x32-10", () => {
  // Known-answer vectors from Random123's kat_vectors (philox4x32 with 10 rounds).
  it("matches the zero counter/key known answer", () => {
    expect(block([0, 0, 0, 0], [0, 0])).toEqual(["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
  });

  it("matches the all-ones counter/key known answer", () => {
    const ones = 0xffffffff;
    expect(block([ones, ones, ones, ones], [ones, ones])).toEqual([
      "408f276d",
      "41c83b0e",
      "a20bc7c6",
      "6d5451fd",
    ]);
  });

  it("matches the digits-of-pi known answer", () => {
    expect(block([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      "d16cfe09",
      "94fdcceb",
      "5001e420",
      "24126ea1",
    ]);
  });

  it("computes the exact high word of 32×32-bit products", () => {
    const samples = [0, 1, 0xffff, 0x10000, 0xd2511f53, 0xcd9e8d57, 0xffffffff, 0x80000000, 0x12345678];
    for (const left of samples) {
      for (const right of samples) {
        expect(multiplyHigh(left, right)).toBe(Number((BigInt(left) * BigInt(right)) >> 32n));
      }
    }
  });
});
