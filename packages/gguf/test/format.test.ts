/**
 * The GGUF container: what the writer puts on disk is what `@huggingface/gguf` (and the reader built on it) reads
 * back, byte layout as the spec and llama.cpp's gguf.cpp define it, and refusals for what llama.cpp would reject.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GGUFValueType } from "@huggingface/gguf";
import { blobSource, bytesSource, fromFloat32, toFloat32 } from "@peftjs/io";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GgufFormatError,
  GgufMetadataBuilder,
  type GgufTensorSource,
  type GgufTensorType,
  ggufToBlob,
  ggufToBytes,
  metadataNumber,
  metadataString,
  metadataStringArray,
  planGgufLayout,
  readGguf,
} from "../src/index.js";
import { openGgufFile, writeGgufFile } from "../src/node.js";

function tensor(name: string, type: GgufTensorType, shape: number[], values: number[]): GgufTensorSource {
  return { name, type, shape, data: fromFloat32(Float32Array.from(values), type) };
}

describe("GGUF writer and reader", () => {
  it("lays the file out as GGUF v3: magic, counts, metadata, tensor infos with reversed shapes, aligned data", async () => {
    const metadata = new GgufMetadataBuilder()
      .string("general.architecture", "llama")
      .uint32("llama.block_count", 2)
      .build();
    const bytes = await ggufToBytes({
      metadata,
      tensors: [tensor("a", "F32", [2, 3], [1, 2, 3, 4, 5, 6]), tensor("b", "F16", [3], [0.5, -1, 2])],
    });
    const view = new DataView(bytes.buffer);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("GGUF");
    expect(view.getUint32(4, true)).toBe(3);
    expect(view.getBigUint64(8, true)).toBe(2n);
    expect(view.getBigUint64(16, true)).toBe(2n);
    const file = await readGguf(bytesSource(bytes));
    const [a, b] = file.tensors;
    expect(a).toMatchObject({ name: "a", type: "F32", shape: [2, 3] });
    expect(b).toMatchObject({ name: "b", type: "F16", shape: [3] });
    expect(a!.offset % GGUF_DEFAULT_ALIGNMENT).toBe(0);
    expect(b!.offset - a!.offset).toBe(32); // 24 bytes padded to the alignment
    // tensor info of "a": u64 name length 1, "a", u32 n_dims 2, u64 ne 3 then 2 (innermost first), u32 type 0, u64 offset 0
    const info = [
      1, 0, 0, 0, 0, 0, 0, 0, 0x61, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    expect(Buffer.from(bytes).indexOf(Buffer.from(info))).toBeGreaterThan(24);
    expect(Array.from(toFloat32(await file.readTensor("a")))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(toFloat32(await file.readTensor("b")))).toEqual([0.5, -1, 2]);
    expect(bytes.length).toBe(b!.offset + 32);
    expect(planGgufLayout({ metadata, tensors: [] }).fileSize).toBe(
      planGgufLayout({ metadata, tensors: [] }).header.length,
    );
  });

  it("round-trips every metadata type it writes, through bytes, a Blob and a file", async () => {
    const metadata = new GgufMetadataBuilder()
      .string("s", "héllo ▁ 🦙")
      .uint32("u", 4_000_000_000)
      .int32("i", -7)
      .float32("f", 0.1)
      .bool("b", true)
      .stringArray("sa", ["<s>", "", "▁the"])
      .float32Array("fa", [0, -1.5, 3e-8])
      .int32Array("ia", [1, 2, -3])
      .uint32Array("ua", [7])
      .build();
    const contents = { metadata, tensors: [tensor("t", "BF16", [1, 2], [1.5, -2])] };
    const folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-format-"));
    try {
      const path = join(folder, "x.gguf");
      const size = await writeGgufFile(path, contents);
      const bytes = await ggufToBytes(contents);
      expect(Buffer.from(await readFile(path)).equals(Buffer.from(bytes))).toBe(true);
      expect(size).toBe(bytes.length);
      for (const file of [
        await readGguf(bytesSource(bytes)),
        await readGguf(blobSource(await ggufToBlob(contents))),
        await openGgufFile(path),
      ]) {
        expect(metadataString(file.metadata, "s")).toBe("héllo ▁ 🦙");
        expect(metadataNumber(file.metadata, "u")).toBe(4_000_000_000);
        expect(metadataNumber(file.metadata, "i")).toBe(-7);
        expect(metadataNumber(file.metadata, "f")).toBe(Math.fround(0.1));
        expect(file.metadata.get("b")).toEqual({ type: GGUFValueType.BOOL, value: true });
        expect(metadataStringArray(file.metadata, "sa")).toEqual(["<s>", "", "▁the"]);
        expect(file.metadata.get("fa")?.value).toEqual([0, -1.5, Math.fround(3e-8)]);
        expect(file.metadata.get("ia")).toEqual({
          type: GGUFValueType.ARRAY,
          subType: GGUFValueType.INT32,
          value: [1, 2, -3],
        });
        expect(file.metadata.get("ua")?.subType).toBe(GGUFValueType.UINT32);
        expect(Array.from(toFloat32(await file.readTensor("t")))).toEqual([1.5, -2]);
        await file.close();
      }
      expect(() => metadataNumber(metadata, "s")).toThrow(GgufFormatError);
      expect(() => metadataString(metadata, "u")).toThrow(/"u" is UINT32, expected STRING/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it("property: any float tensors and metadata written come back exactly", async () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_.]{0,30}$/);
    const tensorArbitrary = fc
      .record({
        type: fc.constantFrom<GgufTensorType>("F32", "F16", "BF16"),
        shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
        seed: fc.integer(),
      })
      .map(({ type, shape, seed }) => {
        const count = shape.reduce((product, dimension) => product * dimension, 1);
        const values = Array.from({ length: count }, (_, index) => Math.sin(seed + index) * 100);
        return {
          type,
          shape,
          values: toFloat32({ dtype: type, shape, data: fromFloat32(Float32Array.from(values), type) }),
        };
      });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.tuple(name, tensorArbitrary), { selector: ([key]) => key, maxLength: 6 }),
        fc.dictionary(name, fc.string(), { maxKeys: 5 }),
        async (tensors, strings) => {
          const metadata = new GgufMetadataBuilder();
          for (const [key, value] of Object.entries(strings)) metadata.string(`k.${key}`, value);
          const sources = tensors.map(([key, t]) => tensor(key, t.type, t.shape, Array.from(t.values)));
          const file = await readGguf(
            bytesSource(await ggufToBytes({ metadata: metadata.build(), tensors: sources })),
          );
          for (const [key, value] of Object.entries(strings))
            expect(metadataString(file.metadata, `k.${key}`)).toBe(value);
          for (const [key, t] of tensors) {
            const raw = await file.readTensor(key);
            expect(raw.shape).toEqual(t.shape);
            expect(Array.from(toFloat32(raw))).toEqual(Array.from(t.values));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("refuses what llama.cpp would reject, naming the value", async () => {
    const metadata = new GgufMetadataBuilder().build();
    const write = (tensors: GgufTensorSource[]) => ggufToBytes({ metadata, tensors });
    await expect(write([tensor("x".repeat(64), "F32", [1], [0])])).rejects.toThrow(
      /64 bytes; llama.cpp takes 1 to 63/,
    );
    await expect(write([tensor("a", "F32", [1], [0]), tensor("a", "F32", [1], [0])])).rejects.toThrow(
      /"a" appears twice/,
    );
    await expect(write([tensor("a", "F32", [1, 1, 1, 1, 1], [0])])).rejects.toThrow(/5 dimensions/);
    await expect(write([tensor("nan", "F32", [2], [1, Number.NaN])])).rejects.toThrow(
      /"nan" holds NaN at element 1/,
    );
    await expect(write([tensor("inf", "F16", [1], [70000])])).rejects.toThrow(/"inf" holds Infinity/);
    await expect(
      write([{ name: "short", type: "F32", shape: [4], data: new Uint8Array(8) }]),
    ).rejects.toThrow(/needs 16 bytes, got 8/);
    expect(() => new GgufMetadataBuilder().float32("f", Number.POSITIVE_INFINITY)).toThrow(/"f" is Infinity/);
    expect(() => new GgufMetadataBuilder().uint32("u", -1)).toThrow(/not an unsigned 32-bit integer/);
    expect(() =>
      planGgufLayout({ metadata: new GgufMetadataBuilder().string("version", "x").build(), tensors: [] }),
    ).toThrow(/"version" cannot be written/);
  });

  it("refuses bytes that are not GGUF and tensors it cannot read", async () => {
    await expect(
      readGguf(bytesSource(new TextEncoder().encode("GGML not a gguf file at all"))),
    ).rejects.toThrow(GgufFormatError);
    const bytes = await ggufToBytes({
      metadata: new Map(),
      tensors: [tensor("t", "F32", [8], [1, 2, 3, 4, 5, 6, 7, 8])],
    });
    const truncated = await readGguf(bytesSource(bytes.subarray(0, bytes.length - 20)));
    await expect(truncated.readTensor("t")).rejects.toThrow(/needs bytes/);
    await expect(truncated.readTensor("missing")).rejects.toThrow(/no tensor "missing"/);
    // a quantized tensor (type 12, Q4_K) is listed but not read
    const quantized = Uint8Array.from(bytes);
    const folder = await mkdtemp(join(tmpdir(), "peftjs-gguf-format-"));
    try {
      // the tensor info: name "t" (after its u64 length), u32 n_dims 1, u64 ne 8, then the u32 type
      const nameAt = quantized.indexOf(0x74, 24);
      new DataView(quantized.buffer).setUint32(nameAt + 1 + 4 + 8, 12, true);
      await writeFile(join(folder, "q.gguf"), quantized);
      const file = await openGgufFile(join(folder, "q.gguf"));
      expect(file.tensors[0]?.type).toBeUndefined();
      await expect(file.readTensor("t")).rejects.toThrow(
        /"t" is Q4_K; peftjs reads F32, F16 and BF16 tensors only/,
      );
      await file.close();
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
