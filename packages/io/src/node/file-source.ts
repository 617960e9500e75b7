import { constants } from "node:buffer";
import { type FileHandle, open } from "node:fs/promises";
import type { ByteSource } from "../byte-source.js";
import { FileSystemError, SafetensorsSourceError } from "../safetensors-errors.js";

/** Node limits one read to 2 GiB − 1 bytes; larger ranges are read in chunks of this size. */
const maximumChunk = 1 << 30;

/**
 * A {@link ByteSource} over a file: one open handle, positional reads into a fresh buffer per range (so the
 * bytes are aligned at offset 0 and nothing else of the file is held in memory).
 * @throws FileSystemError when the file cannot be opened
 */
export async function fileSource(path: string): Promise<ByteSource> {
  let handle: FileHandle;
  let size: number;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new FileSystemError(`cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw new FileSystemError(`cannot stat ${path}: ${(error as Error).message}`, { cause: error });
  }
  let closed = false;
  return {
    size,
    description: path,
    read: async (offset, length) => {
      if (closed) throw new SafetensorsSourceError(`${path} was closed`);
      const bytes = allocate(length, path);
      let filled = 0;
      while (filled < length) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await handle.read(
            bytes,
            filled,
            Math.min(length - filled, maximumChunk),
            offset + filled,
          ));
        } catch (error) {
          throw new SafetensorsSourceError(`cannot read ${path}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        if (bytesRead === 0) {
          throw new SafetensorsSourceError(
            `${path} ended at byte ${offset + filled} while reading ${length} bytes at ${offset} (was it truncated?)`,
          );
        }
        filled += bytesRead;
      }
      return bytes;
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/**
 * A buffer of its own for `length` bytes, viewed as a plain Uint8Array at offset 0 (so typed views of it are
 * aligned): uninitialised memory when Node's Buffer can hold it (every byte is overwritten by the read).
 */
function allocate(length: number, path: string): Uint8Array {
  try {
    if (length <= constants.MAX_LENGTH)
      return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    return new Uint8Array(length);
  } catch (error) {
    throw new SafetensorsSourceError(
      `cannot allocate ${length} bytes to read ${path}; read fewer tensors at a time with openSafetensorsFile`,
      { cause: error },
    );
  }
}
