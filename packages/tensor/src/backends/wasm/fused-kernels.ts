/**
 * The wasm backend's fused kernels (attention softmax, the softmax / SwiGLU / RMS-norm gradients, SwiGLU,
 * rotary embedding, cross-entropy and its gradient) and layout kernels (transpose, slice, concat, gather), all
 * WebAssembly from `scripts/wasm/fused-wat.mjs`. Row kernels of enough work are split by rows across the
 * thread pool.
 */
import type { KernelAttributeMap, KernelName, KernelTable, TensorInfo } from "../../backend/backend.js";
import { bytesPerElement } from "../../dtype/dtypes.js";
import { TensorArgumentError } from "../../errors.js";
import { rowMajorStrides, simplifyLayout } from "../strided-layout.js";
import { jobKinds } from "./generated/kernels-binary.js";
import { runElements, runRows } from "./parallel.js";
import { floatSlot } from "./thread-pool.js";
import type { WasmBackend } from "./wasm-backend.js";
import type { WasmHandle } from "./wasm-kernels.js";

/** Ranks the strided copy handles after merging contiguous axes. */
const copyRank = 4;

type WasmKernel<K extends KernelName> = (
  inputs: readonly TensorInfo[],
  attributes: KernelAttributeMap[K],
  backend: WasmBackend,
) => TensorInfo;

function pointer(info: TensorInfo | undefined): number {
  return info === undefined ? 0 : (info.handle as WasmHandle).offset;
}

function at(inputs: readonly TensorInfo[], index: number): TensorInfo {
  const info = inputs[index];
  if (info === undefined) throw new RangeError(`wasm kernel input ${index} is missing`);
  return info;
}

function elementCount(shape: readonly number[]): number {
  let size = 1;
  for (const extent of shape) size *= extent;
  return size;
}

const maskedSoftmax: WasmKernel<"maskedSoftmax"> = (inputs, attributes, backend) => {
  const x = at(inputs, 0);
  const mask = inputs[1];
  const [rows, columns] = x.shape as [number, number];
  const output = backend.allocateOutput(x.shape, "float32");
  runRows(backend, rows, columns, (first, count) => [
    jobKinds.maskedSoftmax,
    pointer(x),
    pointer(output),
    first,
    count,
    columns,
    floatSlot(attributes.scale),
    attributes.queries,
    pointer(mask),
    mask?.shape[0] ?? 1,
  ]);
  return output;
};

const softmaxGradient: WasmKernel<"softmaxGradient"> = (inputs, attributes, backend) => {
  const y = at(inputs, 0);
  const [rows, columns] = y.shape as [number, number];
  const output = backend.allocateOutput(y.shape, "float32");
  runRows(backend, rows, columns, (first, count) => [
    jobKinds.softmaxGradient,
    pointer(y),
    pointer(at(inputs, 1)),
    pointer(output),
    first,
    count,
    columns,
    floatSlot(attributes.scale),
  ]);
  return output;
};

const rmsNormGradient: WasmKernel<"rmsNormGradient"> = (inputs, attributes, backend) => {
  const x = at(inputs, 0);
  const [rows, columns] = x.shape as [number, number];
  const output = backend.allocateOutput(x.shape, "float32");
  runRows(backend, rows, columns, (first, count) => [
    jobKinds.rmsNormGradient,
    pointer(x),
    pointer(at(inputs, 1)),
    pointer(at(inputs, 2)),
    pointer(output),
    first,
    count,
    columns,
    floatSlot(attributes.epsilon),
  ]);
  return output;
};

const rotaryEmbedding: WasmKernel<"rotaryEmbedding"> = (inputs, _attributes, backend) => {
  const x = at(inputs, 0);
  const [outer, sequence, headDim] = x.shape as [number, number, number];
  const output = backend.allocateOutput(x.shape, "float32");
  runRows(backend, outer * sequence, headDim, (first, count) => [
    jobKinds.rotaryEmbedding,
    pointer(x),
    pointer(at(inputs, 1)),
    pointer(at(inputs, 2)),
    pointer(output),
    first,
    count,
    sequence,
    headDim,
  ]);
  return output;
};

const crossEntropyRows: WasmKernel<"crossEntropyRows"> = (inputs, attributes, backend) => {
  const logits = at(inputs, 0);
  const [rows, classes] = logits.shape as [number, number];
  const output = backend.allocateOutput([rows], "float32");
  runRows(backend, rows, classes, (first, count) => [
    jobKinds.crossEntropyRows,
    pointer(logits),
    pointer(at(inputs, 1)),
    pointer(output),
    first,
    count,
    classes,
    attributes.ignoreIndex,
  ]);
  return output;
};

const crossEntropyGradient: WasmKernel<"crossEntropyGradient"> = (inputs, attributes, backend) => {
  const logits = at(inputs, 0);
  const [rows, classes] = logits.shape as [number, number];
  const output = backend.allocateOutput(logits.shape, "float32");
  runRows(backend, rows, classes, (first, count) => [
    jobKinds.crossEntropyGradient,
    pointer(logits),
    pointer(at(inputs, 1)),
    pointer(at(inputs, 2)),
    pointer(output),
    first,
    count,
    classes,
    attributes.ignoreIndex,
  ]);
  return output;
};

const swiGlu: WasmKernel<"swiGlu"> = (inputs, _attributes, backend) => {
  const gate = at(inputs, 0);
  const output = backend.allocateOutput(gate.shape, "float32");
  runElements(backend, elementCount(gate.shape), (offset, count) => [
    jobKinds.swiGlu,
    pointer(gate) + offset * 4,
    pointer(at(inputs, 1)) + offset * 4,
    pointer(output) + offset * 4,
    count,
  ]);
  return output;
};

const swiGluGradient: WasmKernel<"swiGluGradient"> = (inputs, attributes, backend) => {
  const gate = at(inputs, 0);
  const output = backend.allocateOutput(gate.shape, "float32");
  const kind = attributes.input === 0 ? jobKinds.swiGluGradientGate : jobKinds.swiGluGradientUp;
  runElements(backend, elementCount(gate.shape), (offset, count) => [
    kind,
    pointer(gate) + offset * 4,
    pointer(at(inputs, 1)) + offset * 4,
    pointer(at(inputs, 2)) + offset * 4,
    pointer(output) + offset * 4,
    count,
  ]);
  return output;
};

/** A strided copy of `a` (any dtype) into a new contiguous tensor of `shape`: element i from offset + Σ iₐ·sₐ. */
function stridedCopy(
  backend: WasmBackend,
  a: TensorInfo,
  shape: readonly number[],
  offset: number,
  strides: readonly number[],
): TensorInfo | undefined {
  const layout = simplifyLayout({ extents: [...shape], operandStrides: [[...strides]] }, copyRank);
  if (layout === undefined) return undefined;
  const output = backend.allocateOutput(shape, a.dtype);
  if (elementCount(shape) === 0) return output;
  const bytes = bytesPerElement(a.dtype);
  const [e0, e1, e2, e3] = layout.extents as [number, number, number, number];
  const [s0, s1, s2, s3] = layout.operandStrides[0] as [number, number, number, number];
  backend.wasm.stridedCopy(
    pointer(a) + offset * bytes,
    pointer(output),
    bytes,
    e0,
    e1,
    e2,
    e3,
    s0,
    s1,
    s2,
    s3,
  );
  return output;
}

const transpose: WasmKernel<"transpose"> = (inputs, attributes, backend) => {
  const a = at(inputs, 0);
  const strides = rowMajorStrides(a.shape);
  const shape = attributes.permutation.map((axis) => a.shape[axis]!);
  return (
    stridedCopy(
      backend,
      a,
      shape,
      0,
      attributes.permutation.map((axis) => strides[axis]!),
    ) ?? backend.referenceKernel("transpose", inputs, attributes)
  );
};

const slice: WasmKernel<"slice"> = (inputs, attributes, backend) => {
  const a = at(inputs, 0);
  const strides = rowMajorStrides(a.shape);
  const offset = attributes.begin.reduce((sum, begin, axis) => sum + begin * strides[axis]!, 0);
  return (
    stridedCopy(backend, a, attributes.size, offset, strides) ??
    backend.referenceKernel("slice", inputs, attributes)
  );
};

const concat: WasmKernel<"concat"> = (inputs, _attributes, backend) => {
  const first = at(inputs, 0);
  const outer = first.shape[0]!;
  const bytes = bytesPerElement(first.dtype);
  const width = inputs.reduce((sum, info) => sum + info.shape[1]!, 0);
  const output = backend.allocateOutput([outer, width], first.dtype);
  let column = 0;
  for (const part of inputs) {
    const columns = part.shape[1]!;
    if (columns > 0 && outer > 0) {
      backend.wasm.copyRows(
        pointer(part),
        columns * bytes,
        pointer(output) + column * bytes,
        width * bytes,
        outer,
        columns * bytes,
      );
    }
    column += columns;
  }
  return output;
};

const gather: WasmKernel<"gather"> = (inputs, _attributes, backend) => {
  const table = at(inputs, 0);
  const indices = at(inputs, 1);
  const [rows, columns] = table.shape as [number, number];
  const count = indices.shape[0]!;
  const values = backend.read(indices.handle, "int32", count);
  for (let position = 0; position < count; position++) {
    const row = values[position]!;
    if (!(row >= 0 && row < rows)) {
      throw new TensorArgumentError(
        `gather index ${row} at position ${position} is outside the table's ${rows} rows`,
      );
    }
  }
  const output = backend.allocateOutput([count, columns], table.dtype);
  const bytes = bytesPerElement(table.dtype);
  if (count > 0 && columns > 0)
    backend.wasm.gatherRows(pointer(table), pointer(indices), count, columns * bytes, pointer(output));
  return output;
};

const argmax: WasmKernel<"argmax"> = (inputs, attributes, backend) => {
  const a = at(inputs, 0);
  const [outer, reduced, inner] = a.shape as [number, number, number];
  // Over the last axis (a row per outer index): SIMD; other axes are strided, left to the js kernel on views.
  if (inner !== 1 || a.dtype !== "float32" || reduced === 0)
    return backend.referenceKernel("argmax", inputs, attributes);
  const output = backend.allocateOutput([outer, inner], "int32");
  backend.wasm.argmaxRows(pointer(a), pointer(output), outer, reduced);
  return output;
};

/** The fused and layout kernels of the wasm backend. */
export function fusedKernels(): KernelTable<WasmBackend> {
  return {
    maskedSoftmax,
    softmaxGradient,
    rmsNormGradient,
    rotaryEmbedding,
    crossEntropyRows,
    crossEntropyGradient,
    swiGlu,
    swiGluGradient,
    transpose,
    slice,
    concat,
    gather,
    argmax,
  };
}
