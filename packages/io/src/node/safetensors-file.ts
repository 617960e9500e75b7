import type { Dtype } from "../dtype.js";
import { planLayout } from "../layout.js";
import type { RawTensor } from "../raw-tensor.js";
import { openSafetensorsSource, type SafetensorsReader } from "../reader.js";
import { SafetensorsInvalidTensorError } from "../safetensors-errors.js";
import { type DeserializedSafetensors, deserialize } from "../serialize.js";
import { type SequentialWriter, writeAtomically } from "./atomic-file.js";
import { fileSource } from "./file-source.js";

/** Bytes of a tensor produced on demand: all at once, or as a sequence of chunks. */
export type TensorDataProducer = () =>
  | Uint8Array
  | Promise<Uint8Array>
  | Iterable<Uint8Array>
  | AsyncIterable<Uint8Array>;

/**
 * A tensor to write whose bytes are produced only when the writer reaches it, so a streaming write holds at
 * most one tensor (or one chunk) in memory.
 */
export interface LazyTensor {
  dtype: Dtype;
  shape: number[];
  /** Called once, when the tensor is written; must produce exactly product(shape) × item size bytes. */
  data: TensorDataProducer;
}

/** A tensor for the streaming writers: bytes in memory or produced on demand. */
export type WritableTensor = RawTensor | LazyTensor;

/** Tensors for the streaming writers, by name. */
export type WritableTensorMap = Record<string, WritableTensor> | Map<string, WritableTensor>;

/**
 * Opens a safetensors file lazily (header only; tensors read on demand, each from its own byte range).
 * Close the reader when done to release the file handle.
 */
export async function openSafetensorsFile(path: string): Promise<SafetensorsReader> {
  return openSafetensorsSource(await fileSource(path));
}

/**
 * Reads a whole safetensors file into one buffer and parses it; tensors are zero-copy views of that buffer
 * (aligned for their typed arrays whenever the writer aligned them, as the official writer does).
 */
export async function readSafetensorsFile(path: string): Promise<DeserializedSafetensors> {
  const source = await fileSource(path);
  try {
    return deserialize(await source.read(0, source.size));
  } finally {
    await source.close();
  }
}

/**
 * Writes a safetensors file, byte-identical to the official `save_file`, streaming: tensors are written one
 * after the other, lazy tensors produced only when their turn comes. The write is atomic: a temporary file
 * in the same folder, fsync, rename; if anything fails (or the process dies) the previous file stays intact.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: WritableTensorMap,
  metadata?: Record<string, string> | Map<string, string> | null,
): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const layout = planLayout(entries, metadata);
  await writeAtomically(path, async (writer) => {
    await writer.write(layout.headerBytes);
    for (const entry of layout.entries) {
      await writeTensorData(writer, entry.name, entry.tensor, entry.end - entry.begin);
    }
  });
}

async function writeTensorData(
  writer: SequentialWriter,
  name: string,
  tensor: WritableTensor,
  expected: number,
): Promise<void> {
  const produced = typeof tensor.data === "function" ? await tensor.data() : tensor.data;
  let written = 0;
  const fail = (got: string) =>
    new SafetensorsInvalidTensorError(
      `tensor ${JSON.stringify(name)}: ${tensor.dtype} [${tensor.shape.join(", ")}] needs ${expected} bytes, got ${got}`,
    );
  if (produced instanceof Uint8Array) {
    if (produced.byteLength !== expected) throw fail(`${produced.byteLength}`);
    await writer.write(produced);
    return;
  }
  if (
    produced === null ||
    typeof produced !== "object" ||
    !(Symbol.asyncIterator in produced || Symbol.iterator in produced)
  ) {
    throw fail(typeof produced);
  }
  for await (const chunk of produced as AsyncIterable<Uint8Array>) {
    if (!(chunk instanceof Uint8Array)) throw fail(`a chunk of type ${typeof chunk}`);
    written += chunk.byteLength;
    if (written > expected) throw fail(`more (at least ${written})`);
    await writer.write(chunk);
  }
  if (written !== expected) throw fail(`${written}`);
}
