/**
 * A model source: the files of a model or adapter folder, wherever they live (a folder on disk, an HTTP(S)
 * folder, a Hub repository, files in memory). Loaders read through this interface only, so one loader serves
 * every location.
 */
import { type ByteSource, bytesSource } from "@peftjs/io";
import { ModelSourceError } from "../errors.js";
import { ModelFileNotFoundError } from "./hub-errors.js";

/** The files of a model, adapter or tokenizer folder, wherever they live. */
export interface ModelSource {
  /** Names the source in messages: a path, a URL, `org/name@revision`. */
  readonly description: string;
  /** True when the folder has the file (a file name relative to the folder, `/`-separated). */
  has(file: string): Promise<boolean>;
  /** The whole file. @throws ModelFileNotFoundError when it is missing. */
  readBytes(file: string): Promise<Uint8Array>;
  /**
   * Random access to the file (read lazily where the location allows it: a file handle, HTTP range requests),
   * for `@peftjs/io`'s `openSafetensorsSource`. @throws ModelFileNotFoundError when it is missing.
   */
  openBytes(file: string): Promise<ByteSource>;
  /**
   * Node only: a path on disk holding the file (for a Hub source, in the Hugging Face cache after the download).
   * Undefined for sources that are not on disk.
   */
  readonly localFile?: (file: string) => Promise<string>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A file of a source as text (UTF-8). @throws ModelSourceError for invalid UTF-8. */
export async function readSourceText(source: ModelSource, file: string): Promise<string> {
  const bytes = await source.readBytes(file);
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new ModelSourceError(`${file} of ${source.description} is not valid UTF-8`, { cause: error });
  }
}

/** A file of a source parsed as JSON. @throws ModelSourceError for invalid JSON. */
export async function readSourceJson(source: ModelSource, file: string): Promise<unknown> {
  const text = await readSourceText(source, file);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelSourceError(
      `${file} of ${source.description} is not valid JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** A JSON file that may be absent: undefined when the source has no such file. */
export async function readOptionalSourceJson(source: ModelSource, file: string): Promise<unknown> {
  return (await source.has(file)) ? readSourceJson(source, file) : undefined;
}

/** The content of one in-memory file: bytes, a Blob/File (browser file inputs), or text. */
export type ModelFileContent = Uint8Array | ArrayBuffer | Blob | string;

/**
 * A source over files already in memory, e.g. from a browser file input or bundled assets:
 * `filesModelSource({ "tokenizer.json": file, "tokenizer_config.json": text })`.
 */
export function filesModelSource(
  files: Readonly<Record<string, ModelFileContent>>,
  description = "in-memory files",
): ModelSource {
  const bytesOf = async (file: string): Promise<Uint8Array> => {
    const content = Object.hasOwn(files, file) ? files[file] : undefined;
    if (content === undefined) throw new ModelFileNotFoundError(description, file);
    if (typeof content === "string") return new TextEncoder().encode(content);
    if (content instanceof Uint8Array) return content;
    if (content instanceof ArrayBuffer) return new Uint8Array(content);
    return new Uint8Array(await content.arrayBuffer());
  };
  return {
    description,
    has: async (file) => Object.hasOwn(files, file),
    readBytes: bytesOf,
    openBytes: async (file) => bytesSource(await bytesOf(file), `${file} of ${description}`),
  };
}
