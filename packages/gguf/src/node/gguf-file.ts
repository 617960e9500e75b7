import { fileSource, writeAtomically } from "@peftjs/io/node";
import { type GgufFile, readGguf } from "../format/reader.js";
import { type GgufContents, ggufChunks } from "../format/writer.js";

/**
 * Writes a GGUF file: the chunks stream to a temporary file in the target's folder, which is fsynced and renamed
 * over `path` only when everything was written (a failure leaves `path` as it was).
 * @returns the file size in bytes
 */
export async function writeGgufFile(path: string, contents: GgufContents): Promise<number> {
  let size = 0;
  await writeAtomically(path, async (writer) => {
    for await (const chunk of ggufChunks(contents)) {
      await writer.write(chunk);
      size += chunk.byteLength;
    }
  });
  return size;
}

/** Opens a GGUF file on disk (metadata now, tensors on demand); close it when done. */
export async function openGgufFile(path: string): Promise<GgufFile> {
  const source = await fileSource(path);
  try {
    return await readGguf(source);
  } catch (error) {
    await source.close();
    throw error;
  }
}
