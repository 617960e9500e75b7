/**
 * Float64 re-implementations of the forward passes of the differentiable ops, on plain row-major arrays: the
 * ground truth that the gradient checks differentiate by finite differences. They are written for clarity and
 * small shapes, not speed, and share no code with the ops they check.
 */

/** A float64 array with a shape: the reference implementations' value type. */
export interface Array64 {
  /** Row-major values. */
  readonly values: Float64Array;
  /** Extents, outermost first; `[]` for a scalar. */
  readonly shape: readonly number[];
}

/** Number of elements of `shape`. */
export const sizeOf = (shape: readonly number[]): number =>
  shape.reduce((product, extent) => product * extent, 1);

/** Strides of a row-major shape. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let axis = shape.length - 2; axis >= 0; axis--) strides[axis] = strides[axis + 1]! * shape[axis + 1]!;
  return strides;
}

/** Multi-index of flat position `index` in `shape`. */
function unravel(index: number, shape: readonly number[]): number[] {
  const coordinates = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    coordinates[axis] = index % shape[axis]!;
    index = Math.floor(index / shape[axis]!);
  }
  return coordinates;
}

/** `combine(a, b)` elementwise with NumPy broadcasting (trailing axes aligned, extent-1 axes repeated). */
export function broadcastBinary(a: Array64, b: Array64, combine: (x: number, y: number) => number): Array64 {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (shape: readonly number[]) => [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const aShape = pad(a.shape);
  const bShape = pad(b.shape);
  const shape = aShape.map((extent, axis) => Math.max(extent, bShape[axis]!));
  const aStrides = stridesOf(aShape);
  const bStrides = stridesOf(bShape);
  const values = new Float64Array(sizeOf(shape));
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, shape);
    let aIndex = 0;
    let bIndex = 0;
    coordinates.forEach((coordinate, axis) => {
      if (aShape[axis] !== 1) aIndex += coordinate * aStrides[axis]!;
      if (bShape[axis] !== 1) bIndex += coordinate * bStrides[axis]!;
    });
    values[index] = combine(a.values[aIndex]!, b.values[bIndex]!);
  }
  return { values, shape };
}

/** `f` elementwise. */
export const map = (a: Array64, f: (x: number) => number): Array64 => ({
  values: a.values.map(f),
  shape: a.shape,
});

/** The logistic function 1 / (1 + e^−x). */
export const sigmoid64 = (value: number): number => 1 / (1 + Math.exp(-value));

/**
 * `op(a) · op(b)` over the last two axes, with a batch of either operand broadcast (a 2-D operand is shared by
 * every batch item of the other).
 */
export function referenceMatmul(a: Array64, b: Array64, transposeA: boolean, transposeB: boolean): Array64 {
  const [aRows, aColumns] = a.shape.slice(-2) as [number, number];
  const [bRows, bColumns] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? aColumns : aRows;
  const k = transposeA ? aRows : aColumns;
  const n = transposeB ? bRows : bColumns;
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const batchShape = a.shape.length > 2 ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const values = new Float64Array(batch * m * n);
  for (let item = 0; item < batch; item++) {
    const aOffset = (batchA === 1 ? 0 : item) * aRows * aColumns;
    const bOffset = (batchB === 1 ? 0 : item) * bRows * bColumns;
    for (let row = 0; row < m; row++) {
      for (let column = 0; column < n; column++) {
        let total = 0;
        for (let inner = 0; inner < k; inner++) {
          const aValue = a.values[aOffset + (transposeA ? inner * aColumns + row : row * aColumns + inner)]!;
          const bValue =
            b.values[bOffset + (transposeB ? column * bColumns + inner : inner * bColumns + column)]!;
          total += aValue * bValue;
        }
        values[(item * m + row) * n + column] = total;
      }
    }
  }
  return { values, shape: [...batchShape, m, n] };
}

/** Reduces `axis` (or every element when undefined) with `combine` over each slice's values. */
export function referenceReduce(
  a: Array64,
  axis: number | undefined,
  combine: (slice: number[]) => number,
  keepDims = false,
): Array64 {
  const outer = axis === undefined ? 1 : sizeOf(a.shape.slice(0, axis));
  const reduced = axis === undefined ? sizeOf(a.shape) : a.shape[axis]!;
  const inner = axis === undefined ? 1 : sizeOf(a.shape.slice(axis + 1));
  const values = new Float64Array(outer * inner);
  for (let outerIndex = 0; outerIndex < outer; outerIndex++) {
    for (let innerIndex = 0; innerIndex < inner; innerIndex++) {
      const items: number[] = [];
      for (let index = 0; index < reduced; index++)
        items.push(a.values[(outerIndex * reduced + index) * inner + innerIndex]!);
      values[outerIndex * inner + innerIndex] = combine(items);
    }
  }
  const shape =
    axis === undefined
      ? keepDims
        ? a.shape.map(() => 1)
        : []
      : keepDims
        ? a.shape.map((extent, index) => (index === axis ? 1 : extent))
        : a.shape.filter((_, index) => index !== axis);
  return { values, shape };
}

/** Applies `f` to each row of the last axis. */
function rowwise(a: Array64, f: (row: Float64Array, rowIndex: number) => Float64Array): Array64 {
  const columns = a.shape[a.shape.length - 1]!;
  const values = new Float64Array(a.values.length);
  for (let row = 0; row * columns < a.values.length; row++) {
    values.set(f(a.values.subarray(row * columns, (row + 1) * columns), row), row * columns);
  }
  return { values, shape: a.shape };
}

/** Softmax over the last axis: e^(x − max) / Σ e^(x − max). */
export const referenceSoftmax = (a: Array64): Array64 =>
  rowwise(a, (row) => {
    const largest = Math.max(...row);
    const exponentials = row.map((value) => Math.exp(value - largest));
    const total = exponentials.reduce((sum, value) => sum + value, 0);
    return exponentials.map((value) => value / total);
  });

/**
 * The fused attention softmax: softmax(scale·x + mask) over the last axis, `mask` repeating over the leading
 * rows, with key j excluded from query i (of `[..., queries, keys]`) when `causal` and j > i + keys − queries.
 */
export function referenceMaskedSoftmax(
  x: Array64,
  scale: number,
  mask: Array64 | undefined,
  causal: boolean,
): Array64 {
  const columns = x.shape[x.shape.length - 1]!;
  const queries = x.shape[x.shape.length - 2]!;
  const maskRows = mask === undefined ? 1 : mask.values.length / columns;
  const scores = Float64Array.from(x.values, (value, index) => {
    const row = Math.floor(index / columns);
    const column = index % columns;
    if (causal && column > (row % queries) + columns - queries) return Number.NEGATIVE_INFINITY;
    return scale * value + (mask === undefined ? 0 : mask.values[(row % maskRows) * columns + column]!);
  });
  return referenceSoftmax({ values: scores, shape: x.shape });
}

/** RMS norm over the last axis: x / √(mean(x²) + ε) ⊙ weight. */
export function referenceRmsNorm(x: Array64, weight: Array64, epsilon: number): Array64 {
  return rowwise(x, (row) => {
    const meanSquare = row.reduce((sum, value) => sum + value * value, 0) / row.length;
    const reciprocal = 1 / Math.sqrt(meanSquare + epsilon);
    return row.map((value, index) => value * reciprocal * weight.values[index]!);
  });
}

/**
 * Rotate-half rotary embedding of `x` (`[..., sequence, headDim]`) with `[sequence, headDim]` tables:
 * x ⊙ cos + rotateHalf(x) ⊙ sin, rotateHalf([x₁, x₂]) = [−x₂, x₁].
 */
export function referenceRotary(x: Array64, cos: Array64, sin: Array64): Array64 {
  const [sequence, headDim] = x.shape.slice(-2) as [number, number];
  const half = headDim / 2;
  return rowwise(x, (row, rowIndex) => {
    const position = rowIndex % sequence;
    return row.map((value, index) => {
      const rotated = index < half ? -row[index + half]! : row[index - half]!;
      return (
        value * cos.values[position * headDim + index]! + rotated * sin.values[position * headDim + index]!
      );
    });
  });
}

/** Axis permutation: output axis `i` is input axis `permutation[i]`. */
export function referenceTranspose(a: Array64, permutation: readonly number[]): Array64 {
  const shape = permutation.map((axis) => a.shape[axis]!);
  const strides = stridesOf(a.shape);
  const values = new Float64Array(a.values.length);
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, shape);
    let source = 0;
    coordinates.forEach((coordinate, axis) => {
      source += coordinate * strides[permutation[axis]!]!;
    });
    values[index] = a.values[source]!;
  }
  return { values, shape };
}

/** The box of extents `size` starting at `begin`. */
export function referenceSlice(a: Array64, begin: readonly number[], size: readonly number[]): Array64 {
  const strides = stridesOf(a.shape);
  const values = new Float64Array(sizeOf(size));
  for (let index = 0; index < values.length; index++) {
    const coordinates = unravel(index, size);
    let source = 0;
    coordinates.forEach((coordinate, axis) => {
      source += (coordinate + begin[axis]!) * strides[axis]!;
    });
    values[index] = a.values[source]!;
  }
  return { values, shape: size };
}

/** Concatenation along `axis`. */
export function referenceConcat(parts: readonly Array64[], axis: number): Array64 {
  const outer = sizeOf(parts[0]!.shape.slice(0, axis));
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((sum, part) => sum + part.shape[axis]!, 0);
  const values: number[] = [];
  for (let outerIndex = 0; outerIndex < outer; outerIndex++) {
    for (const part of parts) {
      const width = part.values.length / outer;
      values.push(...part.values.subarray(outerIndex * width, (outerIndex + 1) * width));
    }
  }
  return { values: Float64Array.from(values), shape };
}

/** Rows `indices` of a 2-D `table`, shaped `[...indexShape, columns]`. */
export function referenceGather(
  table: Array64,
  indices: readonly number[],
  indexShape: readonly number[],
): Array64 {
  const columns = table.shape[1]!;
  const values = new Float64Array(indices.length * columns);
  indices.forEach((row, index) => {
    values.set(table.values.subarray(row * columns, (row + 1) * columns), index * columns);
  });
  return { values, shape: [...indexShape, columns] };
}

/** Mean over counted rows of −log_softmax(logits)[row, label]; rows labelled `ignoreIndex` are skipped. */
export function referenceCrossEntropy(
  logits: Array64,
  labels: readonly number[],
  ignoreIndex = -100,
): Array64 {
  let total = 0;
  let counted = 0;
  const logProbabilities = rowwise(logits, (row) => {
    const largest = Math.max(...row);
    const logSum = Math.log(row.reduce((sum, value) => sum + Math.exp(value - largest), 0));
    return row.map((value) => value - largest - logSum);
  });
  const classes = logits.shape[1]!;
  labels.forEach((label, row) => {
    if (label === ignoreIndex) return;
    total -= logProbabilities.values[row * classes + label]!;
    counted++;
  });
  return { values: Float64Array.of(total / counted), shape: [] };
}
