import { describe, expect, it } from "vitest";
import {
  FrozenTensor,
  fingerprintModel,
  fingerprintTensor,
  isFingerprint,
  tensorFingerprintHeader,
} from "../src/index.js";
import { referenceMurmur3x86128 } from "./helpers/reference-murmur3.js";
import { float32Tensor, hex, patternTensor } from "./helpers/tensors.js";

describe("tensor fingerprints", () => {
  it("are fp1:<32 hex> of MurmurHash3_x86_128 over the padded header and the bytes", () => {
    const raw = float32Tensor([1, -2, 0.5], [3]);
    const header = tensorFingerprintHeader("F32", [3], 12);
    expect(new TextDecoder().decode(header)).toBe(`peftjs.tensor.v1\nF32\n3\n12\n${"\0".repeat(6)}`);
    expect(header.byteLength % 16).toBe(0);
    const input = new Uint8Array(header.byteLength + 12);
    input.set(header);
    input.set(raw.data, header.byteLength);
    const expected = `fp1:${hex(referenceMurmur3x86128(input, 0))}`;
    expect(fingerprintTensor(raw)).toBe(expected);
    expect(isFingerprint(expected)).toBe(true);
  });

  it("pins known values (a change of algorithm or layout must bump the fp1 version)", () => {
    expect(fingerprintTensor(float32Tensor([1, -2, 0.5], [3]))).toBe("fp1:cebb4c49f38e8cc388c0427773e1e2e0");
    expect(
      fingerprintTensor({
        dtype: "BF16",
        shape: [2, 2],
        data: new Uint8Array([0x80, 0x3f, 0, 0x40, 0, 0, 0x80, 0xbf]),
      }),
    ).toBe("fp1:e1c93ae4bde842b2ce9a3249fc99d4f5");
    expect(fingerprintTensor({ dtype: "F32", shape: [], data: new Uint8Array(4) })).toBe(
      "fp1:59121bbb435b8a3232e36ce89a630711",
    );
    expect(fingerprintModel([])).toBe("fp1:a2fd3012892b8fe78193937ca8e5b395");
  });

  it("depend on dtype and shape, not only on the bytes", () => {
    const bytes = patternTensor("F32", [4, 6], 3, 4).data;
    const fingerprints = new Set([
      fingerprintTensor({ dtype: "F32", shape: [4, 6], data: bytes }),
      fingerprintTensor({ dtype: "F32", shape: [6, 4], data: bytes }),
      fingerprintTensor({ dtype: "F32", shape: [24], data: bytes }),
      fingerprintTensor({ dtype: "I32", shape: [4, 6], data: bytes }),
      fingerprintTensor({ dtype: "BF16", shape: [4, 12], data: bytes }),
    ]);
    expect(fingerprints.size).toBe(5);
  });

  it("do not depend on where the bytes sit in memory", () => {
    const raw = patternTensor("F16", [33], 9, 2);
    const holder = new Uint8Array(raw.data.byteLength + 3);
    holder.set(raw.data, 3);
    expect(fingerprintTensor({ dtype: "F16", shape: [33], data: holder.subarray(3) })).toBe(
      fingerprintTensor(raw),
    );
  });
});

describe("model fingerprints", () => {
  const a = FrozenTensor.from(float32Tensor([1, 2]));
  const b = FrozenTensor.from(float32Tensor([3, 4]));

  it("hash the name-sorted lines of names and tensor fingerprints", () => {
    const text = `peftjs.model.v1\n"a" ${a.fingerprint}\n"b" ${b.fingerprint}\n`;
    const expected = `fp1:${hex(referenceMurmur3x86128(new TextEncoder().encode(text), 0))}`;
    expect(
      fingerprintModel([
        ["b", b.fingerprint],
        ["a", a.fingerprint],
      ]),
    ).toBe(expected);
  });

  it("change when a name changes or two tensors swap names", () => {
    const base = fingerprintModel([
      ["a", a.fingerprint],
      ["b", b.fingerprint],
    ]);
    expect(
      fingerprintModel([
        ["a", b.fingerprint],
        ["b", a.fingerprint],
      ]),
    ).not.toBe(base);
    expect(
      fingerprintModel([
        ["a", a.fingerprint],
        ["c", b.fingerprint],
      ]),
    ).not.toBe(base);
  });

  it("sort names by code point, as Python and Rust sort strings", () => {
    // "\u{10000}" (a surrogate pair in UTF-16) sorts after "\uffff" by code point, before it by code unit.
    const entries: Array<[string, `fp1:${string}`]> = [
      ["\uffff", a.fingerprint],
      ["\u{10000}", b.fingerprint],
    ];
    const text = `peftjs.model.v1\n"\uffff" ${a.fingerprint}\n"\u{10000}" ${b.fingerprint}\n`;
    expect(fingerprintModel(entries.reverse())).toBe(
      `fp1:${hex(referenceMurmur3x86128(new TextEncoder().encode(text), 0))}`,
    );
  });
});
