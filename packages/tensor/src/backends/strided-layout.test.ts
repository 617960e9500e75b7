import { describe, expect, it } from "vitest";
import { maxKernelRank } from "./gpu/kernel-sources.js";
import { broadcastStrides, elementCount, rowMajorStrides, simplifyLayout } from "./strided-layout.js";

/** Every operand offset visited by a layout, in row-major order of its extents. */
function offsets(extents: readonly number[], strides: readonly number[]): number[] {
  const result: number[] = [];
  const count = elementCount(extents);
  for (let index = 0; index < count; index++) {
    let rest = index;
    let offset = 0;
    for (let axis = extents.length - 1; axis >= 0; axis--) {
      offset += (rest % extents[axis]!) * strides[axis]!;
      rest = Math.floor(rest / extents[axis]!);
    }
    result.push(offset);
  }
  return result;
}

describe("simplifyLayout", () => {
  it("merges contiguous axes and drops extent-1 axes without changing the visited offsets", () => {
    const extents = [2, 1, 3, 4, 5];
    const a = broadcastStrides([2, 1, 3, 4, 5]);
    const b = broadcastStrides([1, 1, 3, 1, 5]);
    const simplified = simplifyLayout({ extents, operandStrides: [a, b] }, maxKernelRank)!;
    expect(simplified.extents).toHaveLength(maxKernelRank);
    expect(simplified.extents.filter((extent) => extent !== 1)).toEqual([2, 3, 4, 5]);
    expect(offsets(simplified.extents, simplified.operandStrides[0]!)).toEqual(offsets(extents, a));
    expect(offsets(simplified.extents, simplified.operandStrides[1]!)).toEqual(offsets(extents, b));
  });

  it("collapses a plain contiguous copy to one axis", () => {
    const extents = [3, 4, 5, 6, 7, 8, 9];
    const simplified = simplifyLayout(
      { extents, operandStrides: [rowMajorStrides(extents)] },
      maxKernelRank,
    )!;
    expect(simplified.extents).toEqual([1, 1, 1, 1, 1, elementCount(extents)]);
    expect(simplified.operandStrides[0]![maxKernelRank - 1]).toBe(1);
  });

  it("keeps a transpose's permuted axes apart", () => {
    const shape = [3, 5, 7];
    const strides = rowMajorStrides(shape);
    const permutation = [2, 0, 1];
    const extents = permutation.map((axis) => shape[axis]!);
    const permuted = permutation.map((axis) => strides[axis]!);
    const simplified = simplifyLayout({ extents, operandStrides: [permuted] }, maxKernelRank)!;
    // Axes 0 and 1 of the input stay contiguous after the permutation, so they merge: [7, 15].
    expect(simplified.extents.slice(-2)).toEqual([7, 15]);
    expect(offsets(simplified.extents, simplified.operandStrides[0]!)).toEqual(offsets(extents, permuted));
  });

  it("gives up (undefined) beyond the kernels' rank", () => {
    // Alternating broadcast axes cannot merge: 8 axes remain.
    const extents = [2, 2, 2, 2, 2, 2, 2, 2];
    const a = broadcastStrides([2, 1, 2, 1, 2, 1, 2, 1]);
    const b = broadcastStrides([1, 2, 1, 2, 1, 2, 1, 2]);
    expect(simplifyLayout({ extents, operandStrides: [a, b] }, maxKernelRank)).toBeUndefined();
  });
});
