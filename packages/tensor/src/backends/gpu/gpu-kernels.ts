import type {
  DType,
  KernelAttributeMap,
  KernelName,
  KernelTable,
  TensorInfo,
} from "../../backend/backend.js";
import { broadcastStrides, elementCount, rowMajorStrides, simplifyLayout } from "../strided-layout.js";
import type { GpuDevice, GpuStorage } from "./gpu-device.js";
import { GpuKernelError } from "./gpu-errors.js";
import { binaryOperations, maxKernelRank, reduceOperations, unaryOperations } from "./kernel-sources.js";

/** What the kernels need from the backend: the device, and how much matmul work one dispatch may carry. */
export interface GpuKernelContext {
  /** The device of the initialised backend (throws before initialisation). */
  device(): GpuDevice;
  /**
   * Most multiply-adds per matmul dispatch. A larger product is computed as tiles of its flat output, one
   * dispatch each, then stitched on the device; this bounds the time of a single draw/dispatch (browsers reset
   * a GPU context whose single draw runs too long).
   */
  readonly maxMatmulWorkPerDispatch: number;
}

type GpuKernel<K extends KernelName> = (
  inputs: readonly TensorInfo[],
  attributes: KernelAttributeMap[K],
) => TensorInfo;

function storageOf(info: TensorInfo): GpuStorage {
  return info.handle as GpuStorage;
}

function inputAt(inputs: readonly TensorInfo[], index: number): TensorInfo {
  const info = inputs[index];
  if (info === undefined) throw new RangeError(`kernel input ${index} is missing`);
  return info;
}

function result(handle: GpuStorage, shape: readonly number[], dtype: DType): TensorInfo {
  return { handle, shape, dtype };
}

/** Runs `steps` that create intermediate storages and releases them all, whatever happens. */
function withTemporaries<T>(device: GpuDevice, steps: (keep: (storage: GpuStorage) => GpuStorage) => T): T {
  const temporaries: GpuStorage[] = [];
  try {
    return steps((storage) => {
      temporaries.push(storage);
      return storage;
    });
  } finally {
    for (const storage of temporaries) device.release(storage);
  }
}

function layoutOrThrow(extents: number[], operandStrides: number[][], what: string) {
  const layout = simplifyLayout({ extents, operandStrides }, maxKernelRank);
  if (layout === undefined) {
    throw new GpuKernelError(
      `${what} over shape [${extents.join(", ")}] needs more than ${maxKernelRank} axes after merging contiguous ones; the gpu kernels take at most ${maxKernelRank}`,
    );
  }
  return layout;
}

/** A copy through a strided view: output extents `extents`, reading `offset + Σ c_i·strides_i`. */
function stridedCopy(
  device: GpuDevice,
  source: GpuStorage,
  offset: number,
  extents: number[],
  strides: number[],
): GpuStorage {
  const layout = layoutOrThrow(extents, [strides], "a strided copy");
  return device.run(
    "strided",
    elementCount(extents),
    [source],
    [offset, ...layout.extents, ...layout.operandStrides[0]!],
  );
}

function unary(
  device: GpuDevice,
  input: GpuStorage,
  operation: number,
  parameters: readonly number[] = [],
): GpuStorage {
  const padded = [...parameters, 0, 0, 0, 0].slice(0, 4);
  return device.run("unary", input.length, [input], [operation, ...padded]);
}

/** A broadcasting binary op; `aShape` and `bShape` have the rank of `outputShape`. */
function binary(
  device: GpuDevice,
  a: GpuStorage,
  aShape: readonly number[],
  b: GpuStorage,
  bShape: readonly number[],
  outputShape: readonly number[],
  operation: number,
  parameter = 0,
): GpuStorage {
  const layout = layoutOrThrow(
    [...outputShape],
    [broadcastStrides(aShape), broadcastStrides(bShape)],
    "a broadcasting op",
  );
  return device.run(
    "binary",
    elementCount(outputShape),
    [a, b],
    [operation, parameter, ...layout.extents, ...layout.operandStrides[0]!, ...layout.operandStrides[1]!],
  );
}

/** Reduction over the middle axis of `[outer, reduced, inner]`; output `outer·inner` elements. */
function reduce(
  device: GpuDevice,
  input: GpuStorage,
  outer: number,
  reduced: number,
  inner: number,
  operation: number,
): GpuStorage {
  return device.run("reduce", outer * inner, [input], [operation, reduced, inner]);
}

function filled(device: GpuDevice, length: number, value: number): GpuStorage {
  return device.upload(new Float32Array(length).fill(value));
}

/** Parameters of the `roundToNarrowFloat` unary op: mantissa bits, smallest normal exponent, largest finite value. */
const narrowFormats = {
  bfloat16: [7, -126, 3.3895313892515355e38],
  float16: [10, -14, 65504],
} as const;

/**
 * The gpu backend's kernel table. Every kernel of the engine's contract is implemented on the device, so the
 * engine never falls back to `js` (a fallback would need a synchronous read-back, which WebGPU cannot do).
 */
export function createGpuKernels(context: GpuKernelContext): KernelTable {
  const device = () => context.device();

  const binaryOp =
    <K extends "add" | "sub" | "mul" | "div">(name: K): GpuKernel<K> =>
    (inputs, attributes) => {
      const a = inputAt(inputs, 0);
      const b = inputAt(inputs, 1);
      const dtype: DType = a.dtype === "int32" && b.dtype === "int32" ? "int32" : "float32";
      const operation =
        name === "div" && dtype === "int32" ? binaryOperations.intDiv : binaryOperations[name];
      const output = binary(
        device(),
        storageOf(a),
        a.shape,
        storageOf(b),
        b.shape,
        attributes.outputShape,
        operation,
      );
      return result(output, attributes.outputShape, dtype);
    };

  const floatUnary =
    <K extends "sqrt" | "exp" | "log" | "silu" | "sigmoid">(operation: number): GpuKernel<K> =>
    (inputs) => {
      const a = inputAt(inputs, 0);
      return result(unary(device(), storageOf(a), operation), a.shape, "float32");
    };

  const matmul: GpuKernel<"matmul"> = (inputs, attributes) => {
    const a = inputAt(inputs, 0);
    const b = inputAt(inputs, 1);
    const [batchA, rowsA, columnsA] = a.shape as [number, number, number];
    const [batchB, rowsB, columnsB] = b.shape as [number, number, number];
    const m = attributes.transposeA ? columnsA : rowsA;
    const depth = attributes.transposeA ? rowsA : columnsA;
    const n = attributes.transposeB ? rowsB : columnsB;
    const batch = Math.max(batchA, batchB);
    const shape = [batch, m, n];
    const length = batch * m * n;
    const gpu = device();
    if (depth === 0 || length === 0) return result(filled(gpu, length, 0), shape, "float32");
    // Both operands are first made contiguous along the depth axis (A as [batch, m, depth], B as
    // [batch, n, depth]): the inner loop then reads consecutive elements, which is ~1.5× faster on
    // SwiftShader's texture cache than striding by m or n; the copy costs O(mk + kn) against O(mnk).
    return withTemporaries(gpu, (temporary) => {
      const rowsOfA =
        attributes.transposeA && m > 1 && depth > 1
          ? temporary(stridedCopy(gpu, storageOf(a), 0, [batchA, m, depth], [m * depth, 1, m]))
          : storageOf(a);
      const rowsOfB =
        !attributes.transposeB && n > 1 && depth > 1
          ? temporary(stridedCopy(gpu, storageOf(b), 0, [batchB, n, depth], [depth * n, 1, n]))
          : storageOf(b);
      // Strides of A(i, p) and B(p, j) in those storages (see matmulSource); a batch of 1 broadcasts (stride 0).
      const rowA = attributes.transposeA && rowsOfA === storageOf(a) ? 1 : depth;
      const depthA = attributes.transposeA && rowsOfA === storageOf(a) ? m : 1;
      const depthB = !attributes.transposeB && rowsOfB === storageOf(b) ? n : 1;
      const columnB = !attributes.transposeB && rowsOfB === storageOf(b) ? 1 : depth;
      const batchStrideA = batchA === 1 ? 0 : m * depth;
      const batchStrideB = batchB === 1 ? 0 : depth * n;
      const tileLength = Math.max(1, Math.floor(context.maxMatmulWorkPerDispatch / depth));
      const tile = (offset: number, tileSize: number) =>
        gpu.run(
          "matmul",
          tileSize,
          [rowsOfA, rowsOfB],
          [m, n, depth, offset, batchStrideA, rowA, depthA, batchStrideB, depthB, columnB],
        );
      if (tileLength >= length) return result(tile(0, length), shape, "float32");
      // Tiles of the flat output, appended one by one: out = [tile0 | tile1 | ...].
      let stitched = tile(0, tileLength);
      for (let offset = tileLength; offset < length; offset += tileLength) {
        const size = Math.min(tileLength, length - offset);
        const next = tile(offset, size);
        const joined = gpu.run("concat", offset + size, [stitched, next], [offset, size]);
        gpu.release(stitched);
        gpu.release(next);
        stitched = joined;
      }
      return result(stitched, shape, "float32");
    });
  };

  const reduction =
    <K extends "sum" | "max" | "argmax">(operation: number, dtype: DType, emptyValue: number): GpuKernel<K> =>
    (inputs) => {
      const a = inputAt(inputs, 0);
      const [outer, reduced, inner] = a.shape as [number, number, number];
      const gpu = device();
      const output =
        reduced === 0
          ? filled(gpu, outer * inner, emptyValue)
          : reduce(gpu, storageOf(a), outer, reduced, inner, operation);
      return result(output, [outer, inner], dtype);
    };

  /** exp(x − max) / Σ exp(x − max) of `[rows, columns]`, each step a dispatch over rows or elements. */
  const rowSoftmax = (gpu: GpuDevice, a: GpuStorage, rows: number, columns: number): GpuStorage =>
    withTemporaries(gpu, (temporary) => {
      const maximum = temporary(reduce(gpu, a, rows, columns, 1, reduceOperations.max));
      const numerator = temporary(
        binary(gpu, a, [rows, columns], maximum, [rows, 1], [rows, columns], binaryOperations.expDifference),
      );
      const denominator = temporary(reduce(gpu, numerator, rows, columns, 1, reduceOperations.sum));
      return binary(
        gpu,
        numerator,
        [rows, columns],
        denominator,
        [rows, 1],
        [rows, columns],
        binaryOperations.div,
      );
    });

  const maskedSoftmax: GpuKernel<"maskedSoftmax"> = (inputs, attributes) => {
    const x = inputAt(inputs, 0);
    const mask = inputs[1];
    const [rows, columns] = x.shape as [number, number];
    const gpu = device();
    if (rows * columns === 0) return result(filled(gpu, 0, 0), x.shape, "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const maskStorage = mask === undefined ? temporary(filled(gpu, 1, 0)) : storageOf(mask);
      const scores = temporary(
        gpu.run(
          "maskedScores",
          rows * columns,
          [storageOf(x), maskStorage],
          [
            attributes.scale,
            mask === undefined ? 0 : 1,
            attributes.queries,
            mask?.shape[0] ?? 1,
            columns,
            3.4e38,
          ],
        ),
      );
      return rowSoftmax(gpu, scores, rows, columns);
    });
    return result(output, x.shape, "float32");
  };

  const softmaxGradient: GpuKernel<"softmaxGradient"> = (inputs, attributes) => {
    const y = inputAt(inputs, 0);
    const dy = inputAt(inputs, 1);
    const [rows, columns] = y.shape as [number, number];
    const gpu = device();
    if (rows * columns === 0) return result(filled(gpu, 0, 0), y.shape, "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const products = temporary(
        binary(gpu, storageOf(dy), y.shape, storageOf(y), y.shape, [rows, columns], binaryOperations.mul),
      );
      const dot = temporary(reduce(gpu, products, rows, columns, 1, reduceOperations.sum));
      return gpu.run(
        "softmaxGradient",
        rows * columns,
        [storageOf(y), storageOf(dy), dot],
        [columns, attributes.scale],
      );
    });
    return result(output, y.shape, "float32");
  };

  const rmsNormGradient: GpuKernel<"rmsNormGradient"> = (inputs, attributes) => {
    const x = inputAt(inputs, 0);
    const weight = inputAt(inputs, 1);
    const dy = inputAt(inputs, 2);
    const [rows, columns] = x.shape as [number, number];
    const gpu = device();
    if (rows * columns === 0) return result(filled(gpu, 0, 0), x.shape, "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const sumOfSquares = temporary(
        reduce(gpu, storageOf(x), rows, columns, 1, reduceOperations.sumOfSquares),
      );
      const weighted = temporary(
        binary(
          gpu,
          storageOf(dy),
          x.shape,
          storageOf(weight),
          [1, columns],
          [rows, columns],
          binaryOperations.mul,
        ),
      );
      const products = temporary(
        binary(gpu, weighted, x.shape, storageOf(x), x.shape, [rows, columns], binaryOperations.mul),
      );
      const dot = temporary(reduce(gpu, products, rows, columns, 1, reduceOperations.sum));
      return gpu.run(
        "rmsNormGradient",
        rows * columns,
        [storageOf(x), storageOf(weight), storageOf(dy), sumOfSquares, dot],
        [columns, attributes.epsilon],
      );
    });
    return result(output, x.shape, "float32");
  };

  const softmax: GpuKernel<"softmax"> = (inputs) => {
    const a = inputAt(inputs, 0);
    const [rows, columns] = a.shape as [number, number];
    const gpu = device();
    if (rows * columns === 0) return result(filled(gpu, 0, 0), a.shape, "float32");
    // exp(x − max) / Σ exp(x − max), each step a dispatch over rows or elements (not a loop per element).
    const output = withTemporaries(gpu, (temporary) => {
      const maximum = temporary(reduce(gpu, storageOf(a), rows, columns, 1, reduceOperations.max));
      const numerator = temporary(
        binary(
          gpu,
          storageOf(a),
          [rows, columns],
          maximum,
          [rows, 1],
          [rows, columns],
          binaryOperations.expDifference,
        ),
      );
      const denominator = temporary(reduce(gpu, numerator, rows, columns, 1, reduceOperations.sum));
      return binary(
        gpu,
        numerator,
        [rows, columns],
        denominator,
        [rows, 1],
        [rows, columns],
        binaryOperations.div,
      );
    });
    return result(output, a.shape, "float32");
  };

  /** Row maxima and Σ exp(x − max) of `[rows, classes]` logits (temporaries of the caller). */
  const rowStatistics = (gpu: GpuDevice, logits: GpuStorage, rows: number, classes: number) => {
    const maximum = reduce(gpu, logits, rows, classes, 1, reduceOperations.max);
    const exponentials = binary(
      gpu,
      logits,
      [rows, classes],
      maximum,
      [rows, 1],
      [rows, classes],
      binaryOperations.expDifference,
    );
    const sums = reduce(gpu, exponentials, rows, classes, 1, reduceOperations.sum);
    gpu.release(exponentials);
    return { maximum, sums };
  };

  const crossEntropyRows: GpuKernel<"crossEntropyRows"> = (inputs, attributes) => {
    const logits = inputAt(inputs, 0);
    const [rows, classes] = logits.shape as [number, number];
    const gpu = device();
    if (rows === 0) return result(filled(gpu, 0, 0), [0], "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const { maximum, sums } = rowStatistics(gpu, storageOf(logits), rows, classes);
      temporary(maximum);
      temporary(sums);
      return gpu.run(
        "crossEntropyRows",
        rows,
        [storageOf(logits), storageOf(inputAt(inputs, 1)), maximum, sums],
        [classes, attributes.ignoreIndex, 0],
      );
    });
    return result(output, [rows], "float32");
  };

  const crossEntropyGradient: GpuKernel<"crossEntropyGradient"> = (inputs, attributes) => {
    const logits = inputAt(inputs, 0);
    const [rows, classes] = logits.shape as [number, number];
    const gpu = device();
    if (rows * classes === 0) return result(filled(gpu, 0, 0), logits.shape, "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const { maximum, sums } = rowStatistics(gpu, storageOf(logits), rows, classes);
      temporary(maximum);
      temporary(sums);
      return gpu.run(
        "crossEntropyGradient",
        rows * classes,
        [storageOf(logits), storageOf(inputAt(inputs, 1)), maximum, sums, storageOf(inputAt(inputs, 2))],
        [classes, attributes.ignoreIndex, 0],
      );
    });
    return result(output, logits.shape, "float32");
  };

  const rmsNorm: GpuKernel<"rmsNorm"> = (inputs, attributes) => {
    const x = inputAt(inputs, 0);
    const weight = inputAt(inputs, 1);
    const [rows, columns] = x.shape as [number, number];
    const gpu = device();
    if (rows * columns === 0) return result(filled(gpu, 0, 0), x.shape, "float32");
    const output = withTemporaries(gpu, (temporary) => {
      const sumOfSquares = temporary(
        reduce(gpu, storageOf(x), rows, columns, 1, reduceOperations.sumOfSquares),
      );
      return gpu.run(
        "rmsNorm",
        rows * columns,
        [storageOf(x), sumOfSquares, storageOf(weight)],
        [columns, attributes.epsilon],
      );
    });
    return result(output, x.shape, "float32");
  };

  const rotaryEmbedding: GpuKernel<"rotaryEmbedding"> = (inputs) => {
    const x = inputAt(inputs, 0);
    const [, sequence, headDim] = x.shape as [number, number, number];
    const output = device().run(
      "rotary",
      elementCount(x.shape),
      [storageOf(x), storageOf(inputAt(inputs, 1)), storageOf(inputAt(inputs, 2))],
      [sequence, headDim],
    );
    return result(output, x.shape, "float32");
  };

  const gather: GpuKernel<"gather"> = (inputs) => {
    const table = inputAt(inputs, 0);
    const indices = inputAt(inputs, 1);
    const columns = table.shape[1]!;
    const count = indices.shape[0]!;
    const output = device().run("gather", count * columns, [storageOf(table), storageOf(indices)], [columns]);
    return result(output, [count, columns], table.dtype);
  };

  const transpose: GpuKernel<"transpose"> = (inputs, attributes) => {
    const a = inputAt(inputs, 0);
    const strides = rowMajorStrides(a.shape);
    const shape = attributes.permutation.map((axis) => a.shape[axis]!);
    const permutedStrides = attributes.permutation.map((axis) => strides[axis]!);
    return result(stridedCopy(device(), storageOf(a), 0, shape, permutedStrides), shape, a.dtype);
  };

  const slice: GpuKernel<"slice"> = (inputs, attributes) => {
    const a = inputAt(inputs, 0);
    const strides = rowMajorStrides(a.shape);
    const offset = attributes.begin.reduce((sum, begin, axis) => sum + begin * strides[axis]!, 0);
    return result(
      stridedCopy(device(), storageOf(a), offset, [...attributes.size], strides),
      attributes.size,
      a.dtype,
    );
  };

  const concat: GpuKernel<"concat"> = (inputs) => {
    const first = inputAt(inputs, 0);
    const outer = first.shape[0]!;
    const gpu = device();
    const parts = inputs.filter((info) => elementCount(info.shape) > 0);
    const width = inputs.reduce((sum, info) => sum + info.shape[1]!, 0);
    const shape = [outer, width];
    const head = parts[0];
    if (head === undefined) return result(filled(gpu, outer * width, 0), shape, first.dtype);
    // Pairwise: [outer, w0] ++ [outer, w1] → [outer, w0 + w1], then the next part, releasing each partial result.
    let joined = stridedCopy(gpu, storageOf(head), 0, [head.shape[0]!, head.shape[1]!], [head.shape[1]!, 1]);
    let joinedWidth = head.shape[1]!;
    for (const part of parts.slice(1)) {
      const partWidth = part.shape[1]!;
      const next = gpu.run(
        "concat",
        outer * (joinedWidth + partWidth),
        [joined, storageOf(part)],
        [joinedWidth, partWidth],
      );
      gpu.release(joined);
      joined = next;
      joinedWidth += partWidth;
    }
    return result(joined, shape, first.dtype);
  };

  const frobeniusNorm: GpuKernel<"frobeniusNorm"> = (inputs) => {
    const a = inputAt(inputs, 0);
    const size = elementCount(a.shape);
    const gpu = device();
    if (size === 0) return result(filled(gpu, 1, 0), [], "float32");
    // Two passes: Kahan sums of squares over blocks of 1024 in parallel, then one sum of the block sums.
    const block = 1024;
    const blocks = Math.ceil(size / block);
    const output = withTemporaries(gpu, (temporary) => {
      const partial = temporary(gpu.run("blockSumOfSquares", blocks, [storageOf(a)], [size, block]));
      const total = temporary(reduce(gpu, partial, 1, blocks, 1, reduceOperations.sum));
      return unary(gpu, total, unaryOperations.sqrt);
    });
    return result(output, [], "float32");
  };

  const kernels: { [K in KernelName]: GpuKernel<K> } = {
    matmul,
    add: binaryOp("add"),
    sub: binaryOp("sub"),
    mul: binaryOp("mul"),
    div: binaryOp("div"),
    scale: (inputs, attributes) => {
      const a = inputAt(inputs, 0);
      return result(
        unary(device(), storageOf(a), unaryOperations.scale, [attributes.factor]),
        a.shape,
        "float32",
      );
    },
    axpy: (inputs, attributes) => {
      const x = inputAt(inputs, 0);
      const y = inputAt(inputs, 1);
      const output = binary(
        device(),
        storageOf(x),
        x.shape,
        storageOf(y),
        y.shape,
        x.shape,
        binaryOperations.axpy,
        attributes.alpha,
      );
      return result(output, x.shape, "float32");
    },
    neg: (inputs) => {
      const a = inputAt(inputs, 0);
      return result(unary(device(), storageOf(a), unaryOperations.neg), a.shape, a.dtype);
    },
    sqrt: floatUnary(unaryOperations.sqrt),
    exp: floatUnary(unaryOperations.exp),
    log: floatUnary(unaryOperations.log),
    silu: floatUnary(unaryOperations.silu),
    sigmoid: floatUnary(unaryOperations.sigmoid),
    clamp: (inputs, attributes) => {
      const a = inputAt(inputs, 0);
      // Infinite bounds are switched off by flags: shader languages do not reliably accept infinite uniforms.
      const parameters = [
        Number.isFinite(attributes.min) ? attributes.min : 0,
        Number.isFinite(attributes.max) ? attributes.max : 0,
        attributes.min > Number.NEGATIVE_INFINITY ? 1 : 0,
        attributes.max < Number.POSITIVE_INFINITY ? 1 : 0,
      ];
      return result(unary(device(), storageOf(a), unaryOperations.clamp, parameters), a.shape, a.dtype);
    },
    sum: reduction(reduceOperations.sum, "float32", 0),
    max: reduction(reduceOperations.max, "float32", Number.NEGATIVE_INFINITY),
    argmax: reduction(reduceOperations.argmax, "int32", 0),
    softmax,
    rmsNorm,
    rotaryEmbedding,
    gather,
    transpose,
    slice,
    concat,
    crossEntropyRows,
    crossEntropyGradient,
    maskedSoftmax,
    softmaxGradient,
    swiGlu: (inputs) => {
      const gate = inputAt(inputs, 0);
      const up = inputAt(inputs, 1);
      const output = binary(
        device(),
        storageOf(gate),
        gate.shape,
        storageOf(up),
        up.shape,
        gate.shape,
        binaryOperations.swiGlu,
      );
      return result(output, gate.shape, "float32");
    },
    swiGluGradient: (inputs, attributes) => {
      const gate = inputAt(inputs, 0);
      const output = device().run(
        "swiGluGradient",
        elementCount(gate.shape),
        [storageOf(gate), storageOf(inputAt(inputs, 1)), storageOf(inputAt(inputs, 2))],
        [attributes.input],
      );
      return result(output, gate.shape, "float32");
    },
    rmsNormGradient,
    frobeniusNorm,
    isFinite: (inputs) => {
      const a = inputAt(inputs, 0);
      return result(unary(device(), storageOf(a), unaryOperations.isFinite), a.shape, "int32");
    },
    cast: (inputs, attributes) => {
      const a = inputAt(inputs, 0);
      const gpu = device();
      const target = attributes.dtype;
      let output: GpuStorage;
      if (target === "int32" && a.dtype !== "int32") {
        output = unary(gpu, storageOf(a), unaryOperations.truncate);
      } else if ((target === "bfloat16" || target === "float16") && a.dtype !== target) {
        // float16 → bfloat16 and int32 → 16-bit round once from the exact float32 value, as torch does.
        output = unary(gpu, storageOf(a), unaryOperations.roundToNarrowFloat, narrowFormats[target]);
      } else {
        // Widening to float32, or int32 → float32: the stored floats already are the values.
        output = stridedCopy(gpu, storageOf(a), 0, [elementCount(a.shape)], [1]);
      }
      return result(output, a.shape, target);
    },
  };
  return kernels as KernelTable;
}
