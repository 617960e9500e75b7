import { describe, expect, it } from "vitest";
import { philox4x32 } from "../src/index.js";
import { multiplyHigh, philoxBlocks } from "../src/random/philox.js";

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
    // Products whose low word is near 0 or 2^32 are where a rounded double product would floor wrongly.
    let state = 0x9e3779b9;
    const next = () => (state = (Math.imul(state, 0x2c9277b5) + 0xac564b05) >>> 0);
    for (let sample = 0; sample < 20_000; sample++) {
      const left = next();
      const right = sample % 2 === 0 ? next() : Math.floor(2 ** 32 / Math.max(1, left)) + (sample % 3) - 1;
      const exact = Number((BigInt(left) * BigInt(right >>> 0)) >> 32n);
      expect(multiplyHigh(left, right >>> 0)).toBe(exact);
    }
  });

  it("runs consecutive blocks with the carry from the low counter word into the next", () => {
    const key = [0xa4093822, 0x299f31d0];
    const many = new Uint32Array(12);
    philoxBlocks(0xfffffffe, 7, 0, 0, key, many, 0, 3);
    const one = new Uint32Array(4);
    const expected = [
      [0xfffffffe, 7],
      [0xffffffff, 7],
      [0, 8],
    ].flatMap(([low, high]) => {
      philox4x32([low!, high!, 0, 0], key, one);
      return [...one];
    });
    expect([...many]).toEqual(expected);
  });
});
