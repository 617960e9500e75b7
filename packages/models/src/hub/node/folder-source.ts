import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileSource } from "@peftjs/io/node";
import { ModelFileNotFoundError } from "../hub-errors.js";
import type { ModelSource } from "../model-source.js";

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A model folder on disk as a {@link ModelSource}; `localFile` gives the file's path. */
export function folderModelSource(folder: string): ModelSource {
  const root = resolve(folder);
  const pathOf = (file: string) => join(root, ...file.split("/"));
  const existing = async (file: string): Promise<string> => {
    const path = pathOf(file);
    if (!(await isFile(path))) throw new ModelFileNotFoundError(folder, file);
    return path;
  };
  return {
    description: folder,
    has: (file) => isFile(pathOf(file)),
    readBytes: async (file) => new Uint8Array(await readFile(await existing(file))),
    openBytes: async (file) => fileSource(await existing(file)),
    localFile: existing,
  };
}
