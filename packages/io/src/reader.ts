import {
  type ByteSource,
  blobSource,
  bytesSource,
  type HttpSourceOptions,
  httpSource,
} from "./byte-source.js";
import { parseHeader, readHeaderLength, type SafetensorsHeader } from "./header.js";
import type { RawTensor, TensorInfo } from "./raw-tensor.js";
import { SafetensorsSourceError, SafetensorsTensorNotFoundError } from "./safetensors-errors.js";

/** Lazy access to one safetensors file: the header at once, each tensor's bytes on demand. */
export interface SafetensorsReader {
  /** The validated header (tensors in file order, metadata). */
  readonly header: SafetensorsHeader;
  /** Tensor names in file order. */
  readonly names: string[];
  /** The header entry of a tensor, or undefined. */
  info(name: string): TensorInfo | undefined;
  /**
   * Reads one tensor: only its own byte range is fetched from the source.
   * @throws SafetensorsTensorNotFoundError for an unknown name
   */
  read(name: string): Promise<RawTensor>;
  /** Reads every tensor, one range at a time, in file order. */
  readAll(): Promise<Map<string, RawTensor>>;
  /** Releases the source (closes a file handle). */
  close(): Promise<void>;
}

/** What {@link openSafetensors} accepts: bytes, a Blob/File, or an http(s) URL. */
export type SafetensorsSourceInput = Uint8Array | ArrayBuffer | Blob | URL | string;

/** Options for {@link openSafetensors}. */
export type OpenSafetensorsOptions = HttpSourceOptions;

/**
 * Opens a safetensors file lazily: reads the 8-byte length and the JSON header only, validates them, and
 * returns a reader that fetches each tensor's bytes when asked. Works in browsers and Node; for file paths
 * use `openSafetensorsFile` from `@peftjs/io/node`.
 * @throws a SafetensorsError subclass when the header is invalid or the source unreadable
 */
export async function openSafetensors(
  input: SafetensorsSourceInput,
  options: OpenSafetensorsOptions = {},
): Promise<SafetensorsReader> {
  return openSafetensorsSource(await toByteSource(input, options));
}

async function toByteSource(
  input: SafetensorsSourceInput,
  options: OpenSafetensorsOptions,
): Promise<ByteSource> {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return bytesSource(input);
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    const name = (input as Partial<File>).name;
    return blobSource(input, typeof name === "string" ? name : "blob");
  }
  const url = input instanceof URL ? input : typeof input === "string" ? parseUrl(input) : undefined;
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new SafetensorsSourceError(
      `openSafetensors needs bytes, a Blob or an http(s) URL, got ${JSON.stringify(String(input))} (use openSafetensorsFile from @peftjs/io/node for paths)`,
    );
  }
  return httpSource(url, options);
}

/** Opens a reader over any {@link ByteSource}; closes the source if the header is invalid. */
export async function openSafetensorsSource(source: ByteSource): Promise<SafetensorsReader> {
  let header: SafetensorsHeader;
  try {
    const prefix = await source.read(0, Math.min(8, source.size));
    const headerLength = readHeaderLength(prefix, source.size);
    header = parseHeader(await source.read(8, headerLength), source.size);
  } catch (error) {
    await source.close();
    throw error;
  }
  const byName = new Map<string, TensorInfo>();
  for (const info of header.tensors) byName.set(info.name, info);
  const readInfo = async (info: TensorInfo): Promise<RawTensor> => {
    const [begin, end] = info.dataOffsets;
    const data = await source.read(header.dataStart + begin, end - begin);
    return { dtype: info.dtype, shape: [...info.shape], data };
  };
  return {
    header,
    names: header.tensors.map((info) => info.name),
    info: (name) => byName.get(name),
    read: async (name) => {
      const info = byName.get(name);
      if (info === undefined) {
        throw new SafetensorsTensorNotFoundError(
          `tensor ${JSON.stringify(name)} not found in ${source.description}`,
        );
      }
      return readInfo(info);
    },
    readAll: async () => {
      const tensors = new Map<string, RawTensor>();
      for (const info of header.tensors) tensors.set(info.name, await readInfo(info));
      return tensors;
    },
    close: () => source.close(),
  };
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
