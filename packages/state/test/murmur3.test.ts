import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HasherFinishedError } from "../src/errors.js";
import { Murmur3Hasher128, murmur3x86128 } from "../src/murmur3.js";
import { referenceMurmur3x86128 } from "./helpers/reference-murmur3.js";

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/**
 * SMHasher's verification procedure: hash the keys {}, {0}, {0,1}, …, {0..254} with seed 256 − length,
 * concatenate the digests, hash that with seed 0 and read the first 4 bytes little-endian. SMHasher's table
 * gives 0xB3ECE62A for MurmurHash3_x86_128 ("Murmur3C").
 */
function smhasherVerification(hash: (bytes: Uint8Array, seed: number) => Uint8Array): number {
  const key = new Uint8Array(256);
  const digests = new Uint8Array(16 * 256);
  for (let length = 0; length < 256; length++) {
    key[length] = length;
    digests.set(hash(key.subarray(0, length), 256 - length), length * 16);
  }
  const final = hash(digests, 0);
  return new DataView(final.buffer).getUint32(0, true);
}

describe("MurmurHash3_x86_128", () => {
  it("passes SMHasher's verification value 0xB3ECE62A", () => {
    expect(smhasherVerification(murmur3x86128).toString(16)).toBe("b3ece62a");
    expect(smhasherVerification(referenceMurmur3x86128).toString(16)).toBe("b3ece62a");
  });

  it("hashes the empty input with seed 0 to sixteen zero bytes (all lanes stay 0 through fmix)", () => {
    expect(hex(murmur3x86128(new Uint8Array(0)))).toBe("0".repeat(32));
  });

  // Digests published by other MurmurHash3_x86_128 implementations (hex of h1..h4, each little-endian).
  it.each([
    ["Hello, world!", 0, "a7dbac26fc8d63f063422b40c3d4fd0a"],
    ["Hello, world!", 1234, "0945e7f97bc156c7d9b7fe35ffcdd907"],
    ["The quick brown fox jumps over the lazy dog", 0, "c383152f672ceeec6cf67b5d2c1de9e5"],
    ["The quick brown fox jumps over the lazy cog", 0, "8843d60e79e79a3e934503972ff3b349"],
    ["the quick brown fox jumps over the lazy cog", 0x9747b28c | 0, "ba7799e33bd19f1c3d49a292432788fe"],
  ])("reproduces the known digest of %j with seed %i", (text, seed, expected) => {
    const bytes = new TextEncoder().encode(text);
    expect(hex(murmur3x86128(bytes, seed))).toBe(expected);
    expect(hex(referenceMurmur3x86128(bytes, seed))).toBe(expected);
  });

  it("agrees with the naive reference for any content, seed, split and memory offset", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.nat({ max: 300 }), { maxLength: 5 }),
        fc.nat({ max: 7 }),
        (bytes, seed, cuts, offset) => {
          // Place the input at an arbitrary (possibly unaligned) offset of a larger buffer.
          const holder = new Uint8Array(bytes.length + offset);
          holder.set(bytes, offset);
          const input = holder.subarray(offset);
          const hasher = new Murmur3Hasher128(seed | 0);
          let start = 0;
          for (const cut of [...cuts].sort((left, right) => left - right)) {
            const end = Math.min(cut, input.length);
            hasher.update(input.subarray(start, Math.max(start, end)));
            start = Math.max(start, end);
          }
          hasher.update(input.subarray(start));
          expect(hex(hasher.digest())).toBe(hex(referenceMurmur3x86128(bytes, seed)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("agrees for long inputs spanning several 64 KiB scratch chunks at an odd offset", () => {
    const length = (1 << 16) * 2 + 37;
    const holder = new Uint8Array(length + 3);
    for (let index = 0; index < holder.length; index++) holder[index] = (index * 2654435761) >>> 24;
    const input = holder.subarray(3);
    expect(hex(murmur3x86128(input))).toBe(hex(referenceMurmur3x86128(input, 0)));
  });

  it("refuses to be used after its digest was taken", () => {
    const hasher = new Murmur3Hasher128();
    hasher.digest();
    expect(() => hasher.update(new Uint8Array(1))).toThrow(HasherFinishedError);
    expect(() => hasher.digest()).toThrow(HasherFinishedError);
  });
});
