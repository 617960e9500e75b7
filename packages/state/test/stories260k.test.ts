import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deserialize, type RawTensor, serialize } from "@peftjs/io";
import { readSafetensorsFile } from "@peftjs/io/node";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSnapshot, encodeSnapshot, tensorFingerprintHeader, WeightStore } from "../src/index.js";
import { readSnapshotFile, writeSnapshotFile } from "../src/node.js";
import { referenceMurmur3x86128 } from "./helpers/reference-murmur3.js";
import { hex } from "./helpers/tensors.js";

const MODEL_PATH = new URL("./fixtures/stories260k/model.safetensors", import.meta.url);

/** The model fingerprint of stories260k (fp1), checked below against an independent recomputation. */
const STORIES260K_FINGERPRINT = "fp1:7438212e98c9a5a22ef17b946af3130a";

/**
 * The same tensors built in memory, without @peftjs/io: the header is parsed by hand and every float32 is
 * read as a number and written into a fresh Float32Array.
 */
function buildInMemory(): Map<string, RawTensor> {
  const file = readFileSync(MODEL_PATH);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: "F32"; shape: number[]; data_offsets: [number, number] }
  >;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, RawTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [begin, end] = info.data_offsets;
    const values = new Float32Array((end - begin) / 4);
    for (let index = 0; index < values.length; index++)
      values[index] = view.getFloat32(dataStart + begin + index * 4, true);
    tensors.set(name, { dtype: info.dtype, shape: info.shape, data: new Uint8Array(values.buffer) });
  }
  return tensors;
}

/** The fp1 model fingerprint from its definition, with the naive reference hash. */
function referenceModelFingerprint(tensors: Map<string, RawTensor>): string {
  const lines = [...tensors]
    .map(([name, tensor]) => {
      const header = tensorFingerprintHeader(tensor.dtype, tensor.shape, tensor.data.byteLength);
      const input = new Uint8Array(header.byteLength + tensor.data.byteLength);
      input.set(header);
      input.set(tensor.data, header.byteLength);
      return [name, `fp1:${hex(referenceMurmur3x86128(input, 0))}`] as const;
    })
    // All names are ASCII here, so code unit order is code point order.
    .sort(([left], [right]) => (left < right ? -1 : 1))
    .map(([name, fingerprint]) => `${JSON.stringify(name)} ${fingerprint}\n`);
  return `fp1:${hex(referenceMurmur3x86128(new TextEncoder().encode(`peftjs.model.v1\n${lines.join("")}`), 0))}`;
}

describe("stories260k", () => {
  let fromDisk: WeightStore;
  const directory = mkdtempSync(join(tmpdir(), "peftjs-state-stories-"));
  beforeAll(async () => {
    fromDisk = WeightStore.from((await readSafetensorsFile(MODEL_PATH.pathname)).tensors, {
      policy: "silent",
    });
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("has the same fingerprint from disk and built in memory, equal to the definition", () => {
    const inMemory = buildInMemory();
    expect(fromDisk.size).toBe(47);
    expect(WeightStore.from(inMemory).modelFingerprint()).toBe(fromDisk.modelFingerprint());
    expect(referenceModelFingerprint(inMemory)).toBe(fromDisk.modelFingerprint());
    expect(fromDisk.modelFingerprint()).toBe(STORIES260K_FINGERPRINT);
  });

  it("keeps its fingerprint across safetensors save/load and snapshot files", async () => {
    const expected = fromDisk.modelFingerprint();
    const reloaded = deserialize(serialize(fromDisk.toRawTensors(), { format: "pt" })).tensors;
    expect(WeightStore.from(reloaded).modelFingerprint()).toBe(expected);
    expect(decodeSnapshot(encodeSnapshot(fromDisk.snapshot())).fingerprint()).toBe(expected);
    const path = join(directory, "stories.safetensors");
    await writeSnapshotFile(path, fromDisk.snapshot("stories260k"));
    expect((await readSnapshotFile(path)).fingerprint()).toBe(expected);
    // The snapshot file is an ordinary safetensors file with the same tensors.
    const plain = await readSafetensorsFile(path);
    expect(WeightStore.from(plain.tensors).modelFingerprint()).toBe(expected);
    expect(plain.metadata?.format).toBe("pt");
  });

  it("changes when any one bit of any tensor flips, and only that tensor's fingerprint changes", () => {
    const names = fromDisk.names();
    const original = fromDisk.modelFingerprint();
    fc.assert(
      fc.property(fc.nat({ max: names.length - 1 }), fc.nat(), (tensorIndex, bitSeed) => {
        const name = names[tensorIndex]!;
        const tensor = fromDisk.get(name);
        const bit = bitSeed % (tensor.byteLength * 8);
        const flipped = tensor.toRaw();
        flipped.data[bit >>> 3]! ^= 1 << (bit & 7);
        const fork = fromDisk.fork();
        fork.mutate(name, flipped, { reason: "flip one bit", by: "test" });
        expect(fork.modelFingerprint()).not.toBe(original);
        for (const other of names) {
          expect(fork.tensorFingerprint(other) === fromDisk.tensorFingerprint(other)).toBe(other !== name);
        }
        expect(fromDisk.modelFingerprint()).toBe(original);
      }),
      { numRuns: 60 },
    );
  });
});
