/**
 * Random-access byte sources: everything a reader needs is the total size and "give me these bytes".
 * The browser-safe ones live here; the Node file source is in `node/file-source.ts`.
 */
import { SafetensorsSourceError } from "./safetensors-errors.js";

/** Random access to the bytes of one file, wherever it lives. */
export interface ByteSource {
  /** The total size in bytes. */
  readonly size: number;
  /** A short human-readable name (a path, a URL) for error messages. */
  readonly description: string;
  /**
   * Exactly `length` bytes starting at `offset` (the caller keeps within `size`). Implementations return a
   * view of their own memory when they have the bytes already, otherwise a fresh buffer of exactly this size.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the source holds (a file handle); further reads fail. */
  close(): Promise<void>;
}

/** A source over bytes already in memory; reads are zero-copy views. */
export function bytesSource(bytes: Uint8Array | ArrayBuffer, description = "in-memory bytes"): ByteSource {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  return {
    size: view.byteLength,
    description,
    read: async (offset, length) => view.subarray(offset, offset + length),
    close: async () => {},
  };
}

/** A source over a `Blob` or `File`; each read slices the blob, so only the asked bytes are loaded. */
export function blobSource(blob: Blob, description = "blob"): ByteSource {
  return {
    size: blob.size,
    description,
    read: async (offset, length) => {
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new SafetensorsSourceError(
          `${description}: expected ${length} bytes at offset ${offset}, got ${bytes.byteLength}`,
        );
      }
      return bytes;
    },
    close: async () => {},
  };
}

/** Options for {@link httpSource}. */
export interface HttpSourceOptions {
  /** The fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Extra request headers, e.g. `Authorization`. */
  headers?: Record<string, string>;
}

/**
 * A source over an HTTP(S) URL, read with `Range` requests. The size comes from the first response's
 * `Content-Range`. A server that ignores ranges (status 200) is tolerated on the first request only: its
 * full body is then kept in memory and served from there.
 */
export async function httpSource(url: string | URL, options: HttpSourceOptions = {}): Promise<ByteSource> {
  const fetchFunction = options.fetch ?? globalThis.fetch;
  const description = String(url);
  const request = async (first: number, last: number): Promise<Response> => {
    try {
      return await fetchFunction(url, { headers: { ...options.headers, Range: `bytes=${first}-${last}` } });
    } catch (error) {
      throw new SafetensorsSourceError(`${description}: request for bytes ${first}-${last} failed`, {
        cause: error,
      });
    }
  };
  const firstResponse = await request(0, 7);
  if (firstResponse.status === 200) {
    const whole = new Uint8Array(await firstResponse.arrayBuffer());
    return bytesSource(whole, description);
  }
  const size = totalFromContentRange(firstResponse, description);
  // The first (at most 8) bytes are the header length that the reader asks for next: keep them.
  const prefix =
    firstResponse.status === 206 ? new Uint8Array(await firstResponse.arrayBuffer()) : new Uint8Array(0);
  if (firstResponse.status !== 206) await firstResponse.body?.cancel();
  return {
    size,
    description,
    read: async (offset, length) => {
      if (length === 0) return new Uint8Array(0);
      if (offset + length <= prefix.length) return prefix.subarray(offset, offset + length);
      const response = await request(offset, offset + length - 1);
      if (response.status !== 206) {
        await response.body?.cancel();
        throw new SafetensorsSourceError(
          `${description}: expected status 206 for bytes ${offset}-${offset + length - 1}, got ${response.status}`,
        );
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new SafetensorsSourceError(
          `${description}: expected ${length} bytes at offset ${offset}, got ${bytes.byteLength}`,
        );
      }
      return bytes;
    },
    close: async () => {},
  };
}

function totalFromContentRange(response: Response, description: string): number {
  const header = response.headers.get("content-range");
  const match = header === null ? null : /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(header.trim());
  if ((response.status !== 206 && response.status !== 416) || match === null) {
    throw new SafetensorsSourceError(
      `${description}: range request failed with status ${response.status} and Content-Range ${JSON.stringify(header)}`,
    );
  }
  return Number(match[1]);
}
