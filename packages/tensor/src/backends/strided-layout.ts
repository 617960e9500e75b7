/**
 * Strided iteration layouts shared by the backends' copy and broadcasting kernels: row-major strides, and the
 * simplification that merges contiguous axes so a layout fits a kernel of fixed rank (gpu: 6, wasm: 4).
 */

/** Row-major strides of a shape, in elements. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis]!;
  }
  return strides;
}

/** Number of elements of a shape (1 for `[]`). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const extent of shape) count *= extent;
  return count;
}

/** Output extents plus, for each operand, the stride of every output axis in that operand's storage. */
export interface StridedLayout {
  readonly extents: number[];
  readonly operandStrides: number[][];
}

/**
 * Simplifies a strided iteration so that it fits a kernel's fixed rank: drops axes of extent 1 and merges
 * neighbouring axes `i, i+1` whenever every operand steps through them contiguously (`s_i = s_{i+1}·d_{i+1}`,
 * which also holds for a pair of broadcast axes with stride 0). Then pads with leading extent-1 axes to
 * exactly `rank` axes.
 *
 * @returns `undefined` when more than `rank` axes remain.
 */
export function simplifyLayout(layout: StridedLayout, rank: number): StridedLayout | undefined {
  const extents: number[] = [];
  const operandStrides: number[][] = layout.operandStrides.map(() => []);
  for (let axis = 0; axis < layout.extents.length; axis++) {
    const extent = layout.extents[axis]!;
    if (extent === 1) continue;
    const last = extents.length - 1;
    const mergeable =
      last >= 0 &&
      layout.operandStrides.every(
        (strides, operand) => operandStrides[operand]![last] === strides[axis]! * extent,
      );
    if (mergeable) {
      extents[last] = extents[last]! * extent;
      layout.operandStrides.forEach((strides, operand) => {
        operandStrides[operand]![last] = strides[axis]!;
      });
    } else {
      extents.push(extent);
      layout.operandStrides.forEach((strides, operand) => {
        operandStrides[operand]!.push(strides[axis]!);
      });
    }
  }
  if (extents.length > rank) return undefined;
  while (extents.length < rank) {
    extents.unshift(1);
    for (const strides of operandStrides) strides.unshift(0);
  }
  return { extents, operandStrides };
}

/** Strides of an operand broadcast to an output of the same rank: 0 on its extent-1 axes. */
export function broadcastStrides(shape: readonly number[]): number[] {
  return rowMajorStrides(shape).map((stride, axis) => (shape[axis] === 1 ? 0 : stride));
}
