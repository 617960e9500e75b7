import { readFile } from "node:fs/promises";
import { fileSource } from "@peftjs/io/node";
import { ModelFileNotFoundError } from "../hub-errors.js";
import { formatHubModelId, type HubModelId, parseHubModelId } from "../hub-id.js";
import type { ModelSource } from "../model-source.js";
import { type CachedHubFile, type NodeHubOptions, resolveHubFile } from "./hub-download.js";

/** A {@link ModelSource} over a Hub repository, with the Hugging Face disk cache: see {@link openCachedHubSource}. */
export interface CachedHubSource extends ModelSource {
  readonly id: HubModelId;
  /** The commit the revision resolved to, once a file has been resolved (later files are read at it). */
  readonly commit: string | undefined;
  readonly localFile: (file: string) => Promise<string>;
}

/**
 * Opens a Hub repository (`org/name` or `org/name@revision`) as a model source that keeps its files in the
 * Hugging Face cache, shared with Python (`huggingface_hub`, transformers): files already there are not
 * downloaded again, and offline mode reads only the cache. Files are fetched one by one as they are read;
 * after the first, the source reads every file at the commit that one resolved to (as transformers does), so
 * a load never mixes two commits, and cached files of that commit need no request at all.
 *
 * @throws HubModelIdError for an invalid id; reads throw the errors of {@link resolveHubFile}.
 */
export function openCachedHubSource(id: string | HubModelId, options: NodeHubOptions = {}): CachedHubSource {
  const modelId = typeof id === "string" ? parseHubModelId(id, { revision: options.revision }) : id;
  const description = formatHubModelId(modelId);
  let commit: string | undefined;
  const resolved = new Map<string, Promise<CachedHubFile | undefined>>();

  const resolve = (file: string): Promise<CachedHubFile | undefined> => {
    let entry = resolved.get(file);
    if (entry === undefined) {
      const request = { repository: modelId.repository, revision: commit ?? modelId.revision, file };
      entry = resolveHubFile(request, options, true).then((found) => {
        if (found !== undefined) commit ??= found.commit;
        return found;
      });
      resolved.set(file, entry);
      entry.catch(() => resolved.delete(file));
    }
    return entry;
  };
  const localFile = async (file: string): Promise<string> => {
    const found = await resolve(file);
    if (found !== undefined) return found.path;
    // Absent, or (offline) not cached: ask again strictly for the precise error (answered from the cache).
    await resolveHubFile(
      { repository: modelId.repository, revision: commit ?? modelId.revision, file },
      options,
    );
    throw new ModelFileNotFoundError(description, file);
  };

  return {
    id: modelId,
    get commit() {
      return commit;
    },
    description,
    has: async (file) => (await resolve(file)) !== undefined,
    readBytes: async (file) => new Uint8Array(await readFile(await localFile(file))),
    openBytes: async (file) => fileSource(await localFile(file)),
    localFile,
  };
}
