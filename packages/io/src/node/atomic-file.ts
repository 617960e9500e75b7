/**
 * Atomic file replacement: write a temporary file in the target's folder, fsync it, rename it over the
 * target, fsync the folder. Readers see the old file or the new one, never a mix; a crash leaves the old
 * file intact and at worst a hidden `.<name>.<pid>.<random>.tmp` file, which no reader picks up and which
 * the next write of the same file removes once its process is gone. SIGINT, SIGTERM or SIGHUP during the
 * write remove the temporary file at once (see `temporary-paths.ts`).
 */
import { randomBytes } from "node:crypto";
import { type FileHandle, open, readdir, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FileSystemError } from "../safetensors-errors.js";
import { trackTemporaryPath } from "./temporary-paths.js";

/** Writes bytes to an open file sequentially, coalescing small writes into one buffer. */
export class SequentialWriter {
  private position = 0;
  private pending: Uint8Array = new Uint8Array(bufferSize);
  private pendingLength = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
  ) {}

  /** Appends `bytes` (copied into the buffer when small, written straight through when large). */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength < bufferSize / 4) {
      if (this.pendingLength + bytes.byteLength > bufferSize) await this.flush();
      this.pending.set(bytes, this.pendingLength);
      this.pendingLength += bytes.byteLength;
      return;
    }
    await this.flush();
    await this.writeThrough(bytes);
  }

  /** Writes out the buffered bytes. */
  async flush(): Promise<void> {
    if (this.pendingLength === 0) return;
    const pending = this.pending.subarray(0, this.pendingLength);
    this.pendingLength = 0;
    await this.writeThrough(pending);
  }

  private async writeThrough(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.byteLength) {
      try {
        const chunk = bytes.subarray(written, written + maximumChunk);
        const { bytesWritten } = await this.handle.write(chunk, 0, chunk.byteLength, this.position);
        written += bytesWritten;
        this.position += bytesWritten;
      } catch (error) {
        throw new FileSystemError(`cannot write ${this.path}: ${(error as Error).message}`, { cause: error });
      }
    }
  }
}

const bufferSize = 4 << 20;
const maximumChunk = 1 << 30;

/** The temporary file name used while writing `path`: hidden, same folder, never ending in the target's extension. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

/**
 * Runs `produce` against a writer on a fresh temporary file beside `path`, then fsyncs and renames it over
 * `path`. On any failure the temporary file is removed and `path` is untouched.
 * @throws FileSystemError for file-system failures; errors thrown by `produce` are rethrown as they are
 */
export async function writeAtomically(
  path: string,
  produce: (writer: SequentialWriter) => Promise<void>,
): Promise<void> {
  await removeAbandonedTemporaries(path);
  const temporaryPath = temporaryPathFor(path);
  // Registered before it exists, so a signal at any moment after this finds it.
  const release = trackTemporaryPath(temporaryPath);
  let handle: FileHandle;
  try {
    handle = await open(temporaryPath, "wx");
  } catch (error) {
    release();
    throw new FileSystemError(`cannot create ${temporaryPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let done = false;
  try {
    const writer = new SequentialWriter(handle, temporaryPath);
    await produce(writer);
    await writer.flush();
    await fileSystemStep(`fsync ${temporaryPath}`, () => handle.sync());
    await fileSystemStep(`close ${temporaryPath}`, () => handle.close());
    done = true;
    await fileSystemStep(`rename ${temporaryPath} to ${path}`, () => rename(temporaryPath, path));
  } catch (error) {
    if (!done) await handle.close().catch(() => {});
    await unlink(temporaryPath).catch(() => {});
    throw error;
  } finally {
    release();
  }
  await syncFolder(dirname(path));
}

/** Deletes temporary files of `path` left by writers that died (their process no longer exists). */
async function removeAbandonedTemporaries(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  let files: string[];
  try {
    files = await readdir(dirname(path));
  } catch {
    return; // a missing folder fails properly when the temporary file is created
  }
  for (const file of files) {
    const match = file.startsWith(prefix)
      ? /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(file.slice(prefix.length))
      : null;
    if (match !== null && !processIsAlive(Number(match[1]))) {
      await unlink(join(dirname(path), file)).catch(() => {});
    }
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

async function fileSystemStep(what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (error) {
    throw new FileSystemError(`cannot ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** Makes the rename durable; folders cannot be opened for fsync on some platforms (Windows), which is fine. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, "r");
    await handle.sync();
  } catch {
    // Best effort only: the data itself was fsynced before the rename.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Replaces `path` with `bytes` atomically (temporary file, fsync, rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  await writeAtomically(path, (writer) => writer.write(data));
}
