/**
 * Writing GGUF files (version 3, little-endian). The metadata section is serialized by `@huggingface/gguf`;
 * what that library does not write — the tensor infos and the aligned data section — is here:
 *
 *   magic "GGUF" · u32 version · u64 tensor count · u64 metadata count · metadata ·
 *   per tensor: string name · u32 n_dims · u64 ne[n_dims] (innermost first) · u32 ggml type · u64 offset ·
 *   zero padding to the alignment · tensor data, each tensor starting at a multiple of the alignment.
 */
import { GGUFValueType, serializeGgufMetadata } from "@huggingface/gguf";
import { type Dtype, toFloat32 } from "@peftjs/io";
import { GgufFormatError } from "../errors.js";
import type { GgufMetadata, GgufMetadataEntry } from "./metadata.js";
import { type GgufTensorType, ggmlTypeIds, ggufElementSize } from "./tensor-types.js";

/** GGUF's default alignment of the data section and of every tensor in it (`general.alignment`). */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** The GGUF version written. */
export const GGUF_VERSION = 3;
/** llama.cpp's `GGML_MAX_NAME` (64 bytes including the terminating zero). */
const maximumNameBytes = 63;
/** ggml tensors have at most four dimensions. */
const maximumDimensions = 4;

/** One tensor to write. */
export interface GgufTensorSource {
  /** The tensor name, e.g. `blk.0.attn_q.weight` (at most 63 UTF-8 bytes). */
  readonly name: string;
  /** The element type. */
  readonly type: GgufTensorType;
  /**
   * The shape, outermost dimension first, as in PyTorch and safetensors (`[out, in]` for a weight); the file
   * stores it reversed (ggml's `ne`, innermost first).
   */
  readonly shape: readonly number[];
  /** The little-endian row-major bytes, or a function producing them when the writer reaches this tensor. */
  readonly data: Uint8Array | (() => Promise<Uint8Array>);
}

/** Everything a GGUF file holds. */
export interface GgufContents {
  /** Metadata entries, in the order they are written. */
  readonly metadata: GgufMetadata;
  /** Tensors, in the order they are written. */
  readonly tensors: readonly GgufTensorSource[];
}

/** The planned layout of a file: its header bytes and where each tensor's data goes. */
export interface GgufLayout {
  /** Magic, counts, metadata, tensor infos and padding: everything before the data section. */
  readonly header: Uint8Array;
  /** Each tensor's byte length (unpadded), in tensor order. */
  readonly byteLengths: readonly number[];
  /** The alignment of the data section and of each tensor. */
  readonly alignment: number;
  /** The total file size in bytes. */
  readonly fileSize: number;
}

const reservedKeys = new Set(["version", "tensor_count", "kv_count"]);

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function alignmentOf(metadata: GgufMetadata): number {
  const entry = metadata.get("general.alignment");
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const value = Number(entry.value);
  if (entry.type !== GGUFValueType.UINT32 || !Number.isInteger(value) || value <= 0 || value % 8 !== 0) {
    throw new GgufFormatError(
      `general.alignment must be a UINT32 multiple of 8, got ${String(entry.value)} (type ${entry.type})`,
    );
  }
  return value;
}

function checkMetadataKeys(metadata: GgufMetadata): void {
  for (const key of metadata.keys()) {
    // `@huggingface/gguf` keeps its counters beside the entries under these names, and a key that looks like
    // an array index would be reordered by JavaScript's property order.
    if (reservedKeys.has(key) || /^\d+$/.test(key)) {
      throw new GgufFormatError(`metadata key "${key}" cannot be written (reserved or numeric)`);
    }
  }
}

function elementCountOf(tensor: GgufTensorSource): number {
  const { name, shape } = tensor;
  if (shape.length < 1 || shape.length > maximumDimensions) {
    throw new GgufFormatError(`tensor "${name}" has ${shape.length} dimensions; GGUF takes 1 to 4`);
  }
  let count = 1;
  for (const dimension of shape) {
    if (!Number.isSafeInteger(dimension) || dimension < 1) {
      throw new GgufFormatError(`tensor "${name}" has shape [${shape.join(", ")}]; dimensions must be ≥ 1`);
    }
    count *= dimension;
  }
  return count;
}

function encodeTensorInfos(
  tensors: readonly GgufTensorSource[],
  byteLengths: readonly number[],
  alignment: number,
): Uint8Array {
  const encoder = new TextEncoder();
  const names = tensors.map((tensor) => encoder.encode(tensor.name));
  let size = 0;
  for (const [index, tensor] of tensors.entries())
    size += 8 + names[index]!.length + 4 + 8 * tensor.shape.length + 4 + 8;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let position = 0;
  let dataOffset = 0;
  for (const [index, tensor] of tensors.entries()) {
    const name = names[index]!;
    view.setBigUint64(position, BigInt(name.length), true);
    bytes.set(name, position + 8);
    position += 8 + name.length;
    view.setUint32(position, tensor.shape.length, true);
    position += 4;
    for (const dimension of [...tensor.shape].reverse()) {
      view.setBigUint64(position, BigInt(dimension), true);
      position += 8;
    }
    view.setUint32(position, ggmlTypeIds[tensor.type], true);
    view.setBigUint64(position + 4, BigInt(dataOffset), true);
    position += 12;
    dataOffset += alignUp(byteLengths[index]!, alignment);
  }
  return bytes;
}

/**
 * Plans a file: validates the metadata keys, tensor names (unique, at most 63 bytes) and shapes, and encodes
 * everything before the data section.
 * @throws GgufFormatError naming the offending key, tensor or value
 */
export function planGgufLayout(contents: GgufContents): GgufLayout {
  checkMetadataKeys(contents.metadata);
  const alignment = alignmentOf(contents.metadata);
  const seen = new Set<string>();
  const byteLengths = contents.tensors.map((tensor) => {
    const nameBytes = new TextEncoder().encode(tensor.name).length;
    if (nameBytes === 0 || nameBytes > maximumNameBytes) {
      throw new GgufFormatError(
        `tensor name "${tensor.name}" is ${nameBytes} bytes; llama.cpp takes 1 to 63`,
      );
    }
    if (seen.has(tensor.name)) throw new GgufFormatError(`tensor "${tensor.name}" appears twice`);
    seen.add(tensor.name);
    if (!(tensor.type in ggmlTypeIds)) {
      throw new GgufFormatError(
        `tensor "${tensor.name}" has type ${String(tensor.type)}; peftjs writes F32, F16, BF16`,
      );
    }
    return elementCountOf(tensor) * ggufElementSize[tensor.type];
  });
  const typedMetadata: Record<string, GgufMetadataEntry> = {
    version: { type: GGUFValueType.UINT32, value: GGUF_VERSION },
    tensor_count: { type: GGUFValueType.UINT64, value: BigInt(contents.tensors.length) },
    kv_count: { type: GGUFValueType.UINT64, value: BigInt(contents.metadata.size) },
  };
  for (const [key, entry] of contents.metadata) typedMetadata[key] = entry;
  // alignment 1: no padding after the metadata, the tensor infos follow it directly.
  const metadataBytes = serializeGgufMetadata(typedMetadata as Parameters<typeof serializeGgufMetadata>[0], {
    alignment: 1,
  });
  const infos = encodeTensorInfos(contents.tensors, byteLengths, alignment);
  const header = new Uint8Array(alignUp(metadataBytes.length + infos.length, alignment));
  header.set(metadataBytes, 0);
  header.set(infos, metadataBytes.length);
  let fileSize = header.length;
  for (const length of byteLengths) fileSize += alignUp(length, alignment);
  return { header, byteLengths, alignment, fileSize };
}

/** Throws when a tensor's bytes have the wrong length or hold a NaN or an infinity. */
function checkTensorData(tensor: GgufTensorSource, data: Uint8Array, expectedLength: number): void {
  if (data.byteLength !== expectedLength) {
    throw new GgufFormatError(
      `tensor "${tensor.name}" [${tensor.shape.join(", ")}] ${tensor.type} needs ${expectedLength} bytes, got ${data.byteLength}`,
    );
  }
  const values = toFloat32({ dtype: tensor.type as Dtype, shape: [...tensor.shape], data });
  for (let index = 0; index < values.length; index++) {
    if (!Number.isFinite(values[index] as number)) {
      throw new GgufFormatError(`tensor "${tensor.name}" holds ${values[index]} at element ${index}`);
    }
  }
}

/**
 * The bytes of a GGUF file in order, one chunk per header or tensor (plus padding), producing each lazy tensor
 * only when it is reached, so a large model never has to be in memory at once.
 * @throws GgufFormatError for invalid contents, a tensor of the wrong size or a non-finite value
 */
export async function* ggufChunks(contents: GgufContents): AsyncGenerator<Uint8Array> {
  const layout = planGgufLayout(contents);
  yield layout.header;
  for (const [index, tensor] of contents.tensors.entries()) {
    const data = typeof tensor.data === "function" ? await tensor.data() : tensor.data;
    const length = layout.byteLengths[index]!;
    checkTensorData(tensor, data, length);
    yield data;
    const padding = alignUp(length, layout.alignment) - length;
    if (padding > 0) yield new Uint8Array(padding);
  }
}

/** The whole file as one byte array (for small files and tests; use `writeGgufFile` or a Blob for models). */
export async function ggufToBytes(contents: GgufContents): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of ggufChunks(contents)) chunks.push(chunk);
  let size = 0;
  for (const chunk of chunks) size += chunk.length;
  const bytes = new Uint8Array(size);
  let position = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, position);
    position += chunk.length;
  }
  return bytes;
}

/** The file as a `Blob` (browsers: download it, or hand it to wllama), assembled chunk by chunk. */
export async function ggufToBlob(contents: GgufContents): Promise<Blob> {
  const parts: BlobPart[] = [];
  for await (const chunk of ggufChunks(contents)) parts.push(chunk as Uint8Array<ArrayBuffer>);
  return new Blob(parts, { type: "application/octet-stream" });
}
