/**
 * The demo's zip writer, in Node: CRC-32 against its check value and Node's own `zlib.crc32`, and archives
 * read back by an independent reader (`unzip.ts`, which checks every signature, size and CRC).
 */
import { crc32 as nodeCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, createZip } from "../.vitepress/theme/demo/zip.js";
import { unzipStored } from "./unzip.js";

describe("createZip", () => {
  it("computes CRC-32 as zlib does", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926); // the standard check value
    expect(crc32(new Uint8Array())).toBe(0);
    const bytes = Uint8Array.from({ length: 4099 }, (_, index) => (index * 7919 + (index >> 3)) & 0xff);
    expect(crc32(bytes)).toBe(nodeCrc32(bytes) >>> 0);
  });

  it("writes stored entries that read back byte for byte, with UTF-8 names", () => {
    const entries = [
      { path: "peftjs-lora-adapter/adapter_config.json", data: new TextEncoder().encode('{"r": 4}') },
      {
        path: "peftjs-lora-adapter/adapter_model.safetensors",
        data: Uint8Array.from({ length: 1000 }, (_, i) => i % 251),
      },
      { path: "peftjs-lora-adapter/empty", data: new Uint8Array() },
      { path: "ünïcødé/α.txt", data: new TextEncoder().encode("β") },
    ];
    const zip = createZip(entries, new Date(2026, 10, 28, 16, 30, 12));
    expect(unzipStored(zip)).toEqual(entries);
    // local headers (30 + name + data each), central headers (46 + name each), end record (22)
    const names = entries.reduce((total, entry) => total + new TextEncoder().encode(entry.path).length, 0);
    const data = entries.reduce((total, entry) => total + entry.data.length, 0);
    expect(zip.length).toBe(entries.length * (30 + 46) + 2 * names + data + 22);
  });

  it("writes an empty archive as a lone end record", () => {
    expect(createZip([])).toEqual(Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]));
  });
});
