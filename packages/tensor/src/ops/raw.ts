import { type Dtype, fromFloat32, type RawTensor, toFloat32, toTypedArray } from "@peftjs/io";
import type { DType, HalfDType } from "../backend/backend.js";
import { isHalfDType } from "../dtype/dtypes.js";
import { narrowToHalf } from "../dtype/half-precision.js";
import { makeTensor, readStorage } from "../engine/engine.js";
import type { Tensor } from "../engine/tensor.js";
import { TensorArgumentError } from "../errors.js";
import { assertDtypeName } from "./creation.js";
import { formatShape, sizeOfShape } from "./shape-utils.js";

/** The safetensors dtype whose bit patterns a 16-bit tensor stores. */
const rawHalfDtypes: Record<HalfDType, Dtype> = { float16: "F16", bfloat16: "BF16" };

const integerDtypes = new Set<Dtype>(["I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "BOOL"]);
const int32Minimum = -(2 ** 31);
const int32Maximum = 2 ** 31 - 1;

/** Options of {@link fromRaw}. */
export interface FromRawOptions {
  /**
   * The tensor's dtype. Default: `"int32"` for integer and BOOL storage (exact; throws if a value does not fit),
   * `"float32"` for floating-point storage (F64 rounds to nearest; F16/BF16/F8 widen exactly). `"bfloat16"` /
   * `"float16"` keep BF16 / F16 bytes as they are (half the memory of float32) and round anything else to
   * nearest even from its float32 value, as torch.
   */
  readonly dtype?: DType;
}

/** Exact int32 values of an integer/BOOL raw tensor, or a description of the first value that does not fit. */
function integerValues(raw: RawTensor): Int32Array {
  const size = sizeOfShape(raw.shape);
  const output = new Int32Array(size);
  const source: ArrayLike<number | bigint> =
    raw.dtype === "BOOL" ? Uint8Array.from(raw.data, (byte) => (byte === 0 ? 0 : 1)) : toTypedArray(raw);
  for (let index = 0; index < size; index++) {
    const value = Number(source[index]!);
    if (
      !(value >= int32Minimum && value <= int32Maximum) ||
      (typeof source[index] === "bigint" && BigInt(value) !== source[index])
    ) {
      throw new TensorArgumentError(
        `fromRaw: ${raw.dtype} value ${source[index]} at index ${index} of ${formatShape(raw.shape)} does not fit int32; pass {dtype: "float32"}`,
      );
    }
    output[index] = value;
  }
  return output;
}

/**
 * A tensor from a safetensors {@link RawTensor} of any numeric dtype (see {@link FromRawOptions} for the
 * compute dtype). The raw bytes are converted, never aliased.
 *
 * @throws TensorArgumentError when an integer does not fit int32 (pass `{dtype: "float32"}`), or when the bytes
 *   do not match the shape.
 */
export function fromRaw(raw: RawTensor, options: FromRawOptions = {}): Tensor {
  const size = sizeOfShape(raw.shape);
  const dtype = options.dtype ?? (integerDtypes.has(raw.dtype) ? "int32" : "float32");
  assertDtypeName("fromRaw", dtype);
  if (isHalfDType(dtype) && raw.dtype === rawHalfDtypes[dtype]) {
    const bits = toTypedArray(raw) as Uint16Array;
    if (bits.length !== size) {
      throw new TensorArgumentError(
        `fromRaw: ${bits.length} ${raw.dtype} values do not fill shape ${formatShape(raw.shape)}`,
      );
    }
    // toTypedArray may alias the raw bytes: copy, so the tensor never shares memory with the caller's buffer.
    return makeTensor(bits.slice(), raw.shape, dtype);
  }
  if (dtype === "int32") {
    if (!integerDtypes.has(raw.dtype)) {
      throw new TensorArgumentError(
        `fromRaw: ${raw.dtype} values of ${formatShape(raw.shape)} are not integers; use dtype float32`,
      );
    }
    return makeTensor(integerValues(raw), raw.shape, "int32");
  }
  const values = toFloat32(raw);
  if (values.length !== size) {
    throw new TensorArgumentError(
      `fromRaw: ${values.length} ${raw.dtype} values do not fill shape ${formatShape(raw.shape)}`,
    );
  }
  return makeTensor(isHalfDType(dtype) ? narrowToHalf(values, dtype) : values, raw.shape, dtype);
}

/**
 * Encodes a tensor as a safetensors {@link RawTensor} of `dtype` (little-endian bytes). Floats round to nearest
 * even as torch (F16, BF16, F8); int32 tensors convert exactly to integer dtypes and to F64; float32 → integer
 * truncates toward zero. A float16/bfloat16 tensor written as its own format (F16/BF16) gives its bit patterns
 * unchanged. Reads the tensor back to the CPU.
 *
 * @throws SafetensorsConversionError (from `@peftjs/io`) when a value does not fit an integer dtype.
 */
export function toRaw(tensor: Tensor, dtype: Dtype): RawTensor {
  if (isHalfDType(tensor.dtype) && rawHalfDtypes[tensor.dtype] === dtype) {
    const bits = readStorage(tensor) as Uint16Array;
    return {
      dtype,
      shape: [...tensor.shape],
      data: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength),
    };
  }
  const values = tensor.dataSync();
  let data: Uint8Array;
  if (dtype === "F64") {
    const wide = Float64Array.from(values);
    data = new Uint8Array(wide.buffer);
  } else {
    data = fromFloat32(values, dtype);
  }
  return { dtype, shape: [...tensor.shape], data };
}
