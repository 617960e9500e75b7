/**
 * The wasm backend's kernel table. Kernels with a SIMD implementation call the WebAssembly exports on byte
 * offsets; the cases they do not cover (integer tensors, general broadcasting) run the `js` reference kernel on
 * views of the wasm memory, so every entry handles every input the engine may pass.
 */
import type {
  DType,
  KernelAttributeMap,
  KernelName,
  KernelTable,
  TensorInfo,
} from "../../backend/backend.js";
import { fusedKernels } from "./fused-kernels.js";
import { jobKinds } from "./generated/kernels-binary.js";
import { matmulKernel } from "./matmul-kernel.js";
import { runElements, runRows } from "./parallel.js";
import { floatSlot } from "./thread-pool.js";
import type { WasmBackend } from "./wasm-backend.js";

/** Storage of one tensor: a block of the wasm heap. */
export interface WasmHandle {
  /** Byte offset of the first element in the kernels' memory. */
  readonly offset: number;
  /** Bytes of the elements (before the heap's 64-byte rounding). */
  readonly bytes: number;
}

function elementCount(shape: readonly number[]): number {
  let size = 1;
  for (const extent of shape) size *= extent;
  return size;
}

function pointer(info: TensorInfo): number {
  return (info.handle as WasmHandle).offset;
}

function at(inputs: readonly TensorInfo[], index: number): TensorInfo {
  const info = inputs[index];
  if (info === undefined) throw new RangeError(`wasm kernel input ${index} is missing`);
  return info;
}

/** Runs the `js` reference kernel on views of the inputs and uploads its result (see `WasmBackend.referenceKernel`). */
function reference<K extends KernelName>(
  backend: WasmBackend,
  name: K,
  inputs: readonly TensorInfo[],
  attributes: KernelAttributeMap[K],
): TensorInfo {
  return backend.referenceKernel(name, inputs, attributes);
}

function allFloat32(inputs: readonly TensorInfo[]): boolean {
  return inputs.every((info) => info.dtype === "float32");
}

type BinaryName = "add" | "sub" | "mul" | "div";

/**
 * True when `shape` (leading axes of extent 1 aside) is a suffix of `outputShape` with more than one element: it
 * repeats as a block along the leading axes (a bias row, an attention mask `[queries, keys]`).
 */
function isTrailingBlock(shape: readonly number[], outputShape: readonly number[]): boolean {
  const first = shape.findIndex((extent) => extent !== 1);
  if (first === -1) return false;
  const trimmed = shape.slice(first);
  const offset = outputShape.length - trimmed.length;
  return (
    offset >= 0 &&
    elementCount(trimmed) > 1 &&
    trimmed.every((extent, axis) => extent === outputShape[offset + axis])
  );
}

function binaryKernel(name: BinaryName, commutative: boolean) {
  return (
    inputs: readonly TensorInfo[],
    attributes: KernelAttributeMap[BinaryName],
    backend: WasmBackend,
  ): TensorInfo => {
    let a = at(inputs, 0);
    let b = at(inputs, 1);
    if (!allFloat32(inputs)) return reference(backend, name, inputs, attributes);
    const outputShape = attributes.outputShape;
    const size = elementCount(outputShape);
    if (commutative && elementCount(a.shape) !== size && elementCount(b.shape) === size) [a, b] = [b, a];
    if (elementCount(a.shape) !== size) return reference(backend, name, inputs, attributes);
    const bSize = elementCount(b.shape);
    if (bSize === size) {
      const output = backend.allocateOutput(outputShape, "float32");
      runElements(backend, size, (offset, count) => [
        jobKinds[`${name}Same`],
        pointer(a) + offset * 4,
        pointer(b) + offset * 4,
        pointer(output) + offset * 4,
        count,
      ]);
      return output;
    }
    if (bSize === 1) {
      const output = backend.allocateOutput(outputShape, "float32");
      const scalar = floatSlot(backend.read(b.handle, "float32", 1)[0]!);
      runElements(backend, size, (offset, count) => [
        jobKinds[`${name}Scalar`],
        pointer(a) + offset * 4,
        scalar,
        pointer(output) + offset * 4,
        count,
      ]);
      return output;
    }
    if (isTrailingBlock(b.shape, outputShape)) {
      const columns = bSize;
      const output = backend.allocateOutput(outputShape, "float32");
      runRows(backend, size / columns, columns, (first, count) => [
        jobKinds[`${name}Row`],
        pointer(a) + first * columns * 4,
        pointer(b),
        pointer(output) + first * columns * 4,
        count,
        columns,
      ]);
      return output;
    }
    return reference(backend, name, inputs, attributes);
  };
}

type UnaryName = "neg" | "sqrt" | "exp" | "log" | "sigmoid" | "silu";

/** A float32 map `out = f(a)`, split across threads when large; integer inputs go to the reference kernel. */
function unaryKernel<K extends UnaryName>(name: K) {
  return (
    inputs: readonly TensorInfo[],
    attributes: KernelAttributeMap[K],
    backend: WasmBackend,
  ): TensorInfo => {
    const a = at(inputs, 0);
    if (a.dtype !== "float32") return reference(backend, name, inputs, attributes);
    const output = backend.allocateOutput(a.shape, "float32");
    runElements(backend, elementCount(a.shape), (offset, count) => [
      jobKinds[name],
      pointer(a) + offset * 4,
      pointer(output) + offset * 4,
      count,
    ]);
    return output;
  };
}

/** The SIMD conversion export between float32 and a 16-bit type, if `from → to` is one. */
function halfConversion(
  from: DType,
  to: DType,
): "widenBfloat16" | "widenFloat16" | "narrowBfloat16" | "narrowFloat16" | undefined {
  if (from === "bfloat16" && to === "float32") return "widenBfloat16";
  if (from === "float16" && to === "float32") return "widenFloat16";
  if (from === "float32" && to === "bfloat16") return "narrowBfloat16";
  if (from === "float32" && to === "float16") return "narrowFloat16";
  return undefined;
}

/** The wasm kernel table (matmul, elementwise maps, softmax, RMS norm, sum and max reductions, Frobenius norm). */
export function wasmKernels(): KernelTable<WasmBackend> {
  return {
    matmul: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      const b = at(inputs, 1);
      if (a.dtype === "int32" || b.dtype === "int32") return reference(backend, "matmul", inputs, attributes);
      return matmulKernel(a, b, attributes, backend);
    },
    add: binaryKernel("add", true),
    sub: binaryKernel("sub", false),
    mul: binaryKernel("mul", true),
    div: binaryKernel("div", false),
    scale: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      if (a.dtype !== "float32") return reference(backend, "scale", inputs, attributes);
      const output = backend.allocateOutput(a.shape, "float32");
      backend.wasm.scale(pointer(a), attributes.factor, pointer(output), elementCount(a.shape));
      return output;
    },
    axpy: (inputs, attributes, backend) => {
      const x = at(inputs, 0);
      const y = at(inputs, 1);
      if (!allFloat32(inputs)) return reference(backend, "axpy", inputs, attributes);
      const output = backend.allocateOutput(x.shape, "float32");
      backend.wasm.axpy(pointer(x), pointer(y), attributes.alpha, pointer(output), elementCount(x.shape));
      return output;
    },
    neg: unaryKernel("neg"),
    sqrt: unaryKernel("sqrt"),
    exp: unaryKernel("exp"),
    log: unaryKernel("log"),
    sigmoid: unaryKernel("sigmoid"),
    silu: unaryKernel("silu"),
    clamp: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      if (a.dtype !== "float32") return reference(backend, "clamp", inputs, attributes);
      const output = backend.allocateOutput(a.shape, "float32");
      backend.wasm.clamp(pointer(a), attributes.min, attributes.max, pointer(output), elementCount(a.shape));
      return output;
    },
    sum: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      if (a.dtype !== "float32") return reference(backend, "sum", inputs, attributes);
      const [outer, reduced, inner] = a.shape as [number, number, number];
      const output = backend.allocateOutput([outer, inner], "float32");
      const scratch = backend.heap.allocate(inner * 8);
      try {
        backend.wasm.sumMiddle(pointer(a), pointer(output), outer, reduced, inner, scratch);
      } finally {
        backend.heap.free(scratch);
      }
      return output;
    },
    max: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      if (a.dtype !== "float32") return reference(backend, "max", inputs, attributes);
      const [outer, reduced, inner] = a.shape as [number, number, number];
      const output = backend.allocateOutput([outer, inner], "float32");
      backend.wasm.maxMiddle(pointer(a), pointer(output), outer, reduced, inner);
      return output;
    },
    softmax: (inputs, _attributes, backend) => {
      const a = at(inputs, 0);
      const [rows, columns] = a.shape as [number, number];
      const output = backend.allocateOutput(a.shape, "float32");
      backend.wasm.softmax(pointer(a), pointer(output), rows, columns);
      return output;
    },
    rmsNorm: (inputs, attributes, backend) => {
      const x = at(inputs, 0);
      const weight = at(inputs, 1);
      const [rows, columns] = x.shape as [number, number];
      const output = backend.allocateOutput(x.shape, "float32");
      backend.wasm.rmsNorm(pointer(x), pointer(weight), pointer(output), rows, columns, attributes.epsilon);
      return output;
    },
    ...fusedKernels(),
    cast: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      const size = elementCount(a.shape);
      const conversion = halfConversion(a.dtype, attributes.dtype);
      if (conversion === undefined) return reference(backend, "cast", inputs, attributes);
      const output = backend.allocateOutput(a.shape, attributes.dtype);
      backend.wasm[conversion](pointer(a), pointer(output), size);
      return output;
    },
    frobeniusNorm: (inputs, attributes, backend) => {
      const a = at(inputs, 0);
      if (a.dtype !== "float32") return reference(backend, "frobeniusNorm", inputs, attributes);
      const norm = backend.wasm.frobeniusNorm(pointer(a), elementCount(a.shape));
      const output = backend.allocateOutput([], "float32");
      backend.heap.float32[pointer(output) / 4] = norm;
      return output;
    },
  };
}
