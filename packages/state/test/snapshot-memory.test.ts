import { describe, expect, it } from "vitest";
import { FrozenTensor, WeightStore } from "../src/index.js";

const MiB = 1 << 20;

/** Bytes allocated (JS heap + ArrayBuffers) while `action` runs; a GC during it can only lower the number. */
function allocatedBy(action: () => void): number {
  const before = process.memoryUsage();
  action();
  const after = process.memoryUsage();
  return after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
}

describe("a 1 GiB store", () => {
  // Four float32 tensors of 256 MiB each, built from one reused source buffer.
  const source = new Uint8Array(256 * MiB);
  for (let index = 0; index < source.length; index += 4096) source[index] = index >>> 12;
  const tensors = new Map<string, FrozenTensor>();
  for (let layer = 0; layer < 4; layer++) {
    source[0] = layer;
    tensors.set(
      `model.layers.${layer}.mlp.up_proj.weight`,
      FrozenTensor.from({ dtype: "F32", shape: [8192, 8192], data: source }),
    );
  }
  const store = WeightStore.from(tensors, { policy: "silent" });

  it("holds 1 GiB", () => {
    const total = [...store].reduce((sum, [, tensor]) => sum + tensor.byteLength, 0);
    expect(total).toBe(1024 * MiB);
  });

  it("snapshots, forks and restores allocating under 1 MiB each (tensors are shared, not copied)", () => {
    let snapshot = store.snapshot();
    const snapshotBytes = allocatedBy(() => {
      snapshot = store.snapshot("cheap");
    });
    expect(snapshotBytes).toBeLessThan(MiB);
    for (const [name, tensor] of store) expect(snapshot.get(name)).toBe(tensor);

    let fork = store;
    expect(
      allocatedBy(() => {
        fork = store.fork();
      }),
    ).toBeLessThan(MiB);
    expect(fork).not.toBe(store);
    expect(allocatedBy(() => fork.restore(snapshot))).toBeLessThan(MiB);
    expect(fork.get("model.layers.0.mlp.up_proj.weight")).toBe(
      store.get("model.layers.0.mlp.up_proj.weight"),
    );
  });
});
