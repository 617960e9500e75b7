import { mkdtemp, rm, stat, statfs } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { toTypedArray } from "../src/index.js";
import { type LazyTensor, openSafetensorsFile, writeSafetensorsFile } from "../src/node.js";

const mebibyte = 2 ** 20;
const bigTensorBytes = 256 * mebibyte;
const bigTensorCount = 8; // 2 GiB of zeros between a tensor at offset 0 and one beyond 2^31
const required = bigTensorCount * bigTensorBytes + 64 * mebibyte;
const free = await statfs(tmpdir()).then(
  (stats) => stats.bavail * stats.bsize,
  () => 0,
);
const hasRoom = free >= required;
const title = hasRoom
  ? "writes a file over 2 GiB by streaming and reads tensors past 2 GiB lazily, with bounded memory"
  : `skipped: needs ${(required / 2 ** 30).toFixed(2)} GiB free in ${tmpdir()}, only ${(free / 2 ** 30).toFixed(2)} GiB available`;

/** A zero-filled F32 tensor produced as 16 MiB chunks of one shared buffer (never the whole tensor at once). */
function zeros(chunk: Uint8Array): LazyTensor {
  return {
    dtype: "F32",
    shape: [bigTensorBytes / 4],
    data: function* () {
      for (let written = 0; written < bigTensorBytes; written += chunk.length) yield chunk;
    },
  };
}

describe("files larger than 2 GiB", () => {
  it.skipIf(!hasRoom)(title, { timeout: 180_000 }, async () => {
    const folder = await mkdtemp(join(tmpdir(), "peftjs-io-large-"));
    try {
      const path = join(folder, "large.safetensors");
      const chunk = new Uint8Array(16 * mebibyte);
      const tensors: Record<string, LazyTensor | { dtype: "U8" | "F64"; shape: number[]; data: Uint8Array }> =
        {
          first: { dtype: "F64", shape: [2], data: new Uint8Array(new Float64Array([Math.PI, -1]).buffer) },
          marker: { dtype: "U8", shape: [5], data: Uint8Array.from([1, 2, 3, 4, 5]) },
        };
      for (let index = 0; index < bigTensorCount; index++) tensors[`big.${index}`] = zeros(chunk);

      const before = process.memoryUsage();
      await writeSafetensorsFile(path, tensors, { purpose: "large-file test" });
      const afterWrite = process.memoryUsage();
      // Streaming keeps one 16 MiB chunk plus the writer's 4 MiB buffer, not 2 GiB; 128 MiB leaves room
      // for allocator noise.
      expect(afterWrite.arrayBuffers - before.arrayBuffers).toBeLessThan(128 * mebibyte);
      expect(afterWrite.rss - before.rss).toBeLessThan(512 * mebibyte);
      expect((await stat(path)).size).toBeGreaterThan(2 ** 31);

      const reader = await openSafetensorsFile(path);
      expect(reader.header.metadata).toEqual({ purpose: "large-file test" });
      const markerInfo = reader.info("marker");
      expect(markerInfo?.dataOffsets[0]).toBeGreaterThan(2 ** 31);
      const marker = await reader.read("marker");
      expect([...marker.data]).toEqual([1, 2, 3, 4, 5]);
      expect([...toTypedArray(await reader.read("first"))]).toEqual([Math.PI, -1]);
      const afterRead = process.memoryUsage();
      // Lazy reads fetch only the asked byte ranges (13 bytes here).
      expect(afterRead.arrayBuffers - before.arrayBuffers).toBeLessThan(128 * mebibyte);
      expect(afterRead.rss - before.rss).toBeLessThan(512 * mebibyte);
      await reader.close();
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
