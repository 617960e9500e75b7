/**
 * Reading GGUF files. The header (metadata, tensor infos, data offset) is parsed by `@huggingface/gguf`,
 * which fetches it in byte ranges; here it is fed from any `@peftjs/io` {@link ByteSource} (bytes, a Blob, a
 * file, an HTTP URL), and tensor bytes are read straight from the source at the offsets it reports.
 */
import { gguf } from "@huggingface/gguf";
import type { ByteSource, RawTensor } from "@peftjs/io";
import { GgufFormatError } from "../errors.js";
import type { GgufMetadata, GgufMetadataEntry } from "./metadata.js";
import { type GgufTensorType, ggmlTypeName, ggufElementSize, tensorTypeOfGgmlId } from "./tensor-types.js";

/** One tensor's entry in a GGUF file. */
export interface GgufTensorInfo {
  /** The tensor name. */
  readonly name: string;
  /** The GGML type id (see {@link GgufTensorInfo.type} for the readable float types). */
  readonly ggmlType: number;
  /** F32, F16 or BF16; undefined for quantized and integer types (which peftjs does not read). */
  readonly type: GgufTensorType | undefined;
  /** The shape, outermost first (PyTorch order; the file stores it reversed). */
  readonly shape: readonly number[];
  /** The absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
}

/** An opened GGUF file: metadata and tensor infos in memory, tensor data read on demand. */
export interface GgufFile {
  /** The GGUF version (1, 2 or 3). */
  readonly version: number;
  /** Every metadata entry with its type, in file order. */
  readonly metadata: GgufMetadata;
  /** Every tensor, in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** The entry of a tensor, or undefined. */
  tensor(name: string): GgufTensorInfo | undefined;
  /** Reads one F32/F16/BF16 tensor as a `RawTensor` (shape outermost first). */
  readTensor(name: string): Promise<RawTensor>;
  /** Closes the underlying source. */
  close(): Promise<void>;
}

/**
 * A `fetch` that answers `Range` requests from a byte source, so that `@huggingface/gguf` (which reads over
 * HTTP or from a local path) can parse any source, in Node and in browsers alike.
 */
function rangeFetchOver(source: ByteSource): typeof fetch {
  return (async (_input: unknown, init?: { headers?: Record<string, string> }) => {
    const range = /bytes=(\d+)-(\d+)/.exec(init?.headers?.Range ?? "");
    if (range === null) return new Response(null, { status: 416 });
    const first = Math.min(Number(range[1]), source.size);
    const last = Math.min(Number(range[2]), source.size - 1);
    const bytes = last >= first ? await source.read(first, last - first + 1) : new Uint8Array(0);
    return new Response(bytes.slice() as Uint8Array<ArrayBuffer>, {
      status: 206,
      headers: { "content-range": `bytes ${first}-${Math.max(first, last)}/${source.size}` },
    });
  }) as typeof fetch;
}

/**
 * Opens a GGUF file from a byte source (`bytesSource`, `blobSource` or `httpSource` of `@peftjs/io`, or
 * `fileSource` of `@peftjs/io/node`). The source stays open until {@link GgufFile.close}.
 * @throws GgufFormatError when the bytes are not a valid GGUF file
 */
export async function readGguf(source: ByteSource): Promise<GgufFile> {
  let parsed: Awaited<ReturnType<typeof gguf>> & { typedMetadata: Record<string, GgufMetadataEntry> };
  try {
    // The URI only has to look like http(s) for the library to use the given fetch; nothing goes on the network.
    parsed = (await gguf(`https://peftjs.invalid/${encodeURIComponent(source.description)}`, {
      fetch: rangeFetchOver(source),
      typedMetadata: true,
    })) as typeof parsed;
  } catch (error) {
    throw new GgufFormatError(
      `${source.description} is not a readable GGUF file: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const metadata = new Map<string, GgufMetadataEntry>();
  for (const [key, entry] of Object.entries(parsed.typedMetadata)) {
    if (key !== "version" && key !== "tensor_count" && key !== "kv_count") metadata.set(key, entry);
  }
  const dataOffset = Number(parsed.tensorDataOffset);
  const tensors: GgufTensorInfo[] = parsed.tensorInfos.map((info) => ({
    name: info.name,
    ggmlType: info.dtype,
    type: tensorTypeOfGgmlId(info.dtype),
    shape: info.shape.map(Number).reverse(),
    offset: dataOffset + Number(info.offset),
  }));
  const byName = new Map(tensors.map((info) => [info.name, info]));
  return {
    version: Number(parsed.typedMetadata.version?.value ?? parsed.metadata.version),
    metadata,
    tensors,
    tensor: (name) => byName.get(name),
    async readTensor(name) {
      const info = byName.get(name);
      if (info === undefined) throw new GgufFormatError(`${source.description} has no tensor "${name}"`);
      if (info.type === undefined) {
        throw new GgufFormatError(
          `tensor "${name}" is ${ggmlTypeName(info.ggmlType)}; peftjs reads F32, F16 and BF16 tensors only`,
        );
      }
      const length =
        info.shape.reduce((product, dimension) => product * dimension, 1) * ggufElementSize[info.type];
      if (info.offset + length > source.size) {
        throw new GgufFormatError(
          `tensor "${name}" needs bytes ${info.offset}..${info.offset + length} but ${source.description} has ${source.size}`,
        );
      }
      const data = (await source.read(info.offset, length)).slice();
      return { dtype: info.type, shape: [...info.shape], data };
    },
    close: () => source.close(),
  };
}
