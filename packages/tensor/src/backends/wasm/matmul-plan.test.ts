import { describe, expect, it } from "vitest";
import { gemmBlocking } from "./generated/kernels-binary.js";
import { bands, planMatmul } from "./matmul-plan.js";

/** Asserts that `parts` tile [0, extent) in order, each start on the alignment. */
function expectTiling(parts: [number, number][], extent: number, align: number): void {
  let next = 0;
  for (const [start, size] of parts) {
    expect(start).toBe(next);
    expect(start % align).toBe(0);
    expect(size).toBeGreaterThan(0);
    next = start + size;
  }
  expect(next).toBe(extent);
}

describe("bands", () => {
  it("tiles the extent in decreasing aligned bands that end in single tiles", () => {
    const parts = bands(512, 2, 3);
    expectTiling(parts, 512, 3);
    const sizes = parts.map(([, size]) => size);
    // 171 tiles of 3 rows: a quarter of what is left each time.
    expect(sizes[0]).toBe(43 * 3);
    for (let index = 1; index < sizes.length; index++)
      expect(sizes[index]).toBeLessThanOrEqual(sizes[index - 1]!);
    expect(sizes.at(-1)).toBe(2); // the ragged last tile: 512 = 170·3 + 2
    expect(parts.length).toBeLessThan(24);
  });

  it("keeps every band at the minimum number of tiles except a ragged end", () => {
    const parts = bands(1536, 2, 12, 10);
    expectTiling(parts, 1536, 12);
    for (const [, size] of parts.slice(0, -1)) expect(size).toBeGreaterThanOrEqual(120);
  });

  it("gives one band to an extent of one tile and to one thread's worth of minimum", () => {
    expect(bands(7, 2, 12)).toEqual([[0, 7]]);
    expect(bands(100, 4, 3, 1000)).toEqual([[0, 100]]);
  });
});

describe("planMatmul", () => {
  const layout = {
    batch: 1,
    a: 0,
    b: 1 << 20,
    c: 1 << 24,
    aBatchStride: 0,
    bBatchStride: 0,
    transposeA: false,
    transposeB: true,
    aType: 0,
    bType: 0,
  };

  it("covers every row of C once when it splits rows", () => {
    const calls = planMatmul({ ...layout, m: 512, n: 576, k: 576, bPrepacked: true }, 2);
    expect(calls.length).toBeGreaterThan(4);
    let rows = 0;
    for (const call of calls) {
      expect(call[1]).toBe(576);
      expect(call[9]).toBe(layout.c + rows * 576 * 4);
      rows += call[0];
    }
    expect(rows).toBe(512);
  });

  it("covers every column of C once when it splits columns, each band at least eight tiles", () => {
    const calls = planMatmul({ ...layout, m: 16, n: 1536, k: 576 }, 2);
    let columns = 0;
    for (const call of calls) {
      expect(call[0]).toBe(16);
      expect(call[9]).toBe(layout.c + columns * 4);
      if (columns + call[1] < 1536) expect(call[1]).toBeGreaterThanOrEqual(8 * gemmBlocking.nr);
      columns += call[1];
    }
    expect(columns).toBe(1536);
  });

  it("keeps a small product whole", () => {
    expect(planMatmul({ ...layout, m: 16, n: 16, k: 576 }, 2)).toHaveLength(1);
  });
});
