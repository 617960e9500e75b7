/**
 * A model source over an HTTP(S) folder (a static server, a Hub `resolve/<revision>/` URL), browser-safe:
 * `fetch` for whole files, range requests for random access, and optionally a Cache API cache (the browser's
 * `caches`) so that a second load reads nothing from the network.
 */
import { bytesSource, httpSource } from "@peftjs/io";
import { ModelSourceError } from "../errors.js";
import { ModelFileNotFoundError } from "./hub-errors.js";
import type { DownloadProgress } from "./hub-options.js";
import type { ModelSource } from "./model-source.js";

/** The part of the Cache API (`await caches.open(name)`) that the URL source uses. */
export interface ResponseCache {
  match(request: string): Promise<Response | undefined>;
  put(request: string, response: Response): Promise<void>;
}

/** Options of {@link urlModelSource}. */
export interface UrlModelSourceOptions {
  /** The fetch implementation (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
  /** Extra request headers, e.g. `Authorization`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Keep downloaded files here and read them from here first (whole files, keyed by URL). */
  readonly cache?: ResponseCache;
  /** Called as each download progresses. */
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Names the source in messages (default: the URL). */
  readonly description?: string;
  /** True for a response that means "no such file" (default: status 404). */
  readonly isMissing?: (response: Response) => boolean;
  /** Turns any other error response into a typed error; default: ModelSourceError. */
  readonly errorFor?: (response: Response, file: string) => Error;
  /**
   * Offline: never use the network, read only from the cache; a file that is not cached counts as absent for
   * `has` and throws this error when read.
   */
  readonly offlineError?: (file: string) => Error;
}

/** Reads a response body to the end, reporting progress. */
async function readBody(
  response: Response,
  file: string,
  onProgress: ((progress: DownloadProgress) => void) | undefined,
): Promise<Uint8Array<ArrayBuffer>> {
  const encoding = response.headers.get("content-encoding");
  const lengthText = response.headers.get("content-length");
  const total =
    lengthText !== null && (encoding === null || encoding === "identity") ? Number(lengthText) : undefined;
  if (response.body === null) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  onProgress?.({ file, loaded, total });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress?.({ file, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * A source over the HTTP(S) folder `baseUrl` (a trailing `/` is added): `has` asks with `HEAD` (404 = absent),
 * `readBytes` downloads the file (through the cache when one is given), `openBytes` reads with range requests
 * (or from the cache).
 */
export function urlModelSource(baseUrl: string | URL, options: UrlModelSourceOptions = {}): ModelSource {
  const text = String(baseUrl);
  const base = new URL(text.endsWith("/") ? text : `${text}/`);
  const description = options.description ?? String(base);
  const fetchFunction = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const headers = { ...options.headers };
  const errorFor =
    options.errorFor ??
    ((response: Response, file: string) =>
      new ModelSourceError(
        `${file} of ${description}: HTTP ${response.status} from ${response.url || base}`,
      ));
  const urlOf = (file: string) => new URL(file.split("/").map(encodeURIComponent).join("/"), base).toString();
  const isMissing = options.isMissing ?? ((response: Response) => response.status === 404);
  const presence = new Map<string, Promise<boolean>>();

  const request = async (file: string, method: "GET" | "HEAD"): Promise<Response> => {
    try {
      return await fetchFunction(urlOf(file), { method, headers });
    } catch (error) {
      throw new ModelSourceError(`${method} ${urlOf(file)} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };

  const has = (file: string): Promise<boolean> => {
    let known = presence.get(file);
    if (known === undefined) {
      known = (async () => {
        if ((await options.cache?.match(urlOf(file))) !== undefined) return true;
        if (options.offlineError !== undefined) return false;
        const response = await request(file, "HEAD");
        await response.body?.cancel();
        if (isMissing(response)) return false;
        if (!response.ok) throw errorFor(response, file);
        return true;
      })();
      presence.set(file, known);
      known.catch(() => presence.delete(file));
    }
    return known;
  };

  const readBytes = async (file: string): Promise<Uint8Array> => {
    const cached = await options.cache?.match(urlOf(file));
    if (cached !== undefined) return new Uint8Array(await cached.arrayBuffer());
    if (options.offlineError !== undefined) throw options.offlineError(file);
    const response = await request(file, "GET");
    if (isMissing(response)) {
      await response.body?.cancel();
      throw new ModelFileNotFoundError(description, file);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw errorFor(response, file);
    }
    const bytes = await readBody(response, file, options.onProgress);
    if (options.cache !== undefined) {
      await options.cache.put(
        urlOf(file),
        new Response(bytes, { headers: { "Content-Length": String(bytes.byteLength) } }),
      );
    }
    presence.set(file, Promise.resolve(true));
    return bytes;
  };

  return {
    description,
    has,
    readBytes,
    openBytes: async (file) => {
      if (options.cache !== undefined) return bytesSource(await readBytes(file), `${file} of ${description}`);
      if (!(await has(file))) {
        throw options.offlineError?.(file) ?? new ModelFileNotFoundError(description, file);
      }
      return httpSource(urlOf(file), { fetch: fetchFunction, headers });
    },
  };
}
