import { parseHeader, readHeaderLength } from "./header.js";
import { planLayout } from "./layout.js";
import { type RawTensor, type TensorMap, tensorEntries } from "./raw-tensor.js";
import { SafetensorsInvalidTensorError } from "./safetensors-errors.js";

/**
 * Serializes tensors to the bytes of a safetensors file, byte-identical to the official library's
 * `serialize`/`save_file` for the same tensors and metadata (ordering by dtype then name, header padded
 * with spaces to a multiple of 8). Metadata keys keep the given order (the official writer uses a hash map,
 * so its metadata order is arbitrary with more than one key).
 * @param metadata - optional `__metadata__`; omitted from the header when undefined or null
 * @throws SafetensorsInvalidTensorError when a tensor's data length does not match its dtype and shape
 */
export function serialize(
  tensors: TensorMap,
  metadata?: Record<string, string> | Map<string, string> | null,
): Uint8Array {
  const layout = planLayout(tensorEntries(tensors), metadata);
  const output = new Uint8Array(layout.byteLength);
  output.set(layout.headerBytes, 0);
  const dataStart = layout.headerBytes.length;
  for (const entry of layout.entries) {
    checkDataLength(entry.name, entry.tensor, entry.end - entry.begin);
    output.set(entry.tensor.data, dataStart + entry.begin);
  }
  return output;
}

/** Throws unless `tensor.data` holds exactly `expected` bytes. */
export function checkDataLength(name: string, tensor: RawTensor, expected: number): void {
  if (!(tensor.data instanceof Uint8Array) || tensor.data.byteLength !== expected) {
    throw new SafetensorsInvalidTensorError(
      `tensor ${JSON.stringify(name)}: ${tensor.dtype} [${tensor.shape.join(", ")}] needs ${expected} bytes, got ${
        tensor.data instanceof Uint8Array ? tensor.data.byteLength : typeof tensor.data
      }`,
    );
  }
}

/** The result of {@link deserialize}. */
export interface DeserializedSafetensors {
  /** The tensors in file order; each `data` is a view into the input bytes (no copy). */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` map, or null. */
  metadata: Record<string, string> | null;
}

/**
 * Parses the bytes of a whole safetensors file, validating it as strictly as the official library. Tensor
 * data are zero-copy views of `bytes`.
 * @throws a SafetensorsError subclass describing the first problem found
 */
export function deserialize(bytes: Uint8Array): DeserializedSafetensors {
  const headerLength = readHeaderLength(bytes, bytes.length);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length);
  const tensors = new Map<string, RawTensor>();
  for (const info of header.tensors) {
    const [begin, end] = info.dataOffsets;
    tensors.set(info.name, {
      dtype: info.dtype,
      shape: info.shape,
      data: bytes.subarray(header.dataStart + begin, header.dataStart + end),
    });
  }
  return { tensors, metadata: header.metadata };
}
