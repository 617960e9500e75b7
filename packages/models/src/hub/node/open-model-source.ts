import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { ModelSourceError } from "../../errors.js";
import { isHubRepository } from "../hub-id.js";
import type { ModelSource } from "../model-source.js";
import {
  type ModelLocation,
  type OpenModelSourceOptions,
  openModelSource as openBrowserModelSource,
} from "../open-model-source.js";
import { folderModelSource } from "./folder-source.js";
import { openCachedHubSource } from "./hub-cache-source.js";
import type { NodeHubOptions } from "./hub-download.js";

/** Options of Node's {@link openModelSource}: the Hub's (with the cache folder) and URL headers. */
export interface NodeOpenModelSourceOptions extends NodeHubOptions {
  /** Extra request headers for URL locations. */
  readonly headers?: OpenModelSourceOptions["headers"];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Opens a model, adapter or tokenizer location as a {@link ModelSource}, in Node:
 *
 * - an existing folder (or a `file:` URL) — checked first, as transformers does for local paths;
 * - an `http(s)://` URL: the folder at that URL;
 * - `org/name` or `org/name@revision`: a Hub repository through the Hugging Face disk cache;
 * - `{ files: {...} }` in memory, or a ModelSource as it is.
 *
 * @throws ModelSourceError for a string that is none of these (naming it).
 */
export async function openModelSource(
  location: ModelLocation,
  options: NodeOpenModelSourceOptions = {},
): Promise<ModelSource> {
  if (location instanceof URL && location.protocol === "file:")
    return folderModelSource(fileURLToPath(location));
  if (typeof location === "string") {
    if (await isDirectory(location)) return folderModelSource(location);
    if (!/^https?:\/\//i.test(location)) {
      if (isHubRepository(location.split("@")[0] ?? "")) return openCachedHubSource(location, options);
      throw new ModelSourceError(
        `${JSON.stringify(location)} is not a folder, an http(s) URL or a Hub model id (org/name[@revision])`,
      );
    }
  }
  return openBrowserModelSource(location, { ...options, cache: false });
}
