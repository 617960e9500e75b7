import { describe, expect, it } from "vitest";
import { blockAlignment, WasmHeap } from "./heap.js";

function heap(pages = 1): WasmHeap {
  return new WasmHeap(new WebAssembly.Memory({ initial: pages, maximum: 1024 }));
}

describe("WasmHeap", () => {
  it("hands out aligned, disjoint blocks and never offset 0", () => {
    const memory = heap();
    const offsets = [1, 63, 64, 65, 1000, 4].map((bytes) => memory.allocate(bytes));
    for (const offset of offsets) {
      expect(offset).toBeGreaterThan(0);
      expect(offset % blockAlignment).toBe(0);
    }
    const sorted = [...offsets].sort((left, right) => left - right);
    for (let index = 1; index < sorted.length; index++)
      expect(sorted[index]).toBeGreaterThan(sorted[index - 1]!);
    expect(memory.blockCount).toBe(6);
    expect(memory.bytesInUse).toBe(64 + 64 + 64 + 128 + 1024 + 64);
  });

  it("reuses freed blocks first-fit and coalesces neighbours", () => {
    const memory = heap();
    const first = memory.allocate(64);
    const second = memory.allocate(64);
    const third = memory.allocate(64);
    const guard = memory.allocate(64);
    memory.free(first);
    memory.free(third);
    memory.free(second);
    // first..third merged into one 192-byte block: a 192-byte request fits exactly where `first` was.
    expect(memory.allocate(192)).toBe(first);
    memory.free(guard);
    expect(memory.blockCount).toBe(1);
  });

  it("returns the top of the heap to the bump region", () => {
    const memory = heap();
    const bottom = memory.allocate(64);
    const top = memory.allocate(64);
    memory.free(top);
    expect(memory.allocate(128)).toBe(top);
    memory.free(bottom);
  });

  it("grows the memory and refreshes its views", () => {
    const memory = heap(1);
    const before = memory.float32;
    const offset = memory.allocate(3 * 65536);
    expect(memory.memory.buffer.byteLength).toBeGreaterThanOrEqual(offset + 3 * 65536);
    // The old view belongs to the detached buffer of an unshared memory; the new one spans the grown memory.
    expect(before.length).toBe(0);
    expect(memory.float32.length * 4).toBe(memory.memory.buffer.byteLength);
    memory.float32[(offset + 3 * 65536) / 4 - 1] = 7;
    expect(memory.bytes.byteLength).toBe(memory.memory.buffer.byteLength);
  });

  it("rejects freeing a block that is not live", () => {
    const memory = heap();
    const offset = memory.allocate(64);
    memory.free(offset);
    expect(() => memory.free(offset)).toThrow(/no live block/);
  });
});
