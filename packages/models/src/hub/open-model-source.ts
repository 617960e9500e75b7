import { ModelSourceError } from "../errors.js";
import { isHubRepository } from "./hub-id.js";
import { type HubModelSourceOptions, openHubModelSource } from "./hub-source.js";
import { filesModelSource, type ModelFileContent, type ModelSource } from "./model-source.js";
import { type UrlModelSourceOptions, urlModelSource } from "./url-source.js";

/** Where a model's files are: a source, an http(s) URL, a Hub id (`org/name[@revision]`), or files in memory. */
export type ModelLocation =
  | ModelSource
  | string
  | URL
  | { readonly files: Readonly<Record<string, ModelFileContent>> };

/** Options of {@link openModelSource}: the Hub's for ids, the URL source's for URLs. */
export interface OpenModelSourceOptions extends HubModelSourceOptions {
  /** Extra request headers for URL locations. */
  readonly headers?: UrlModelSourceOptions["headers"];
}

function isModelSource(value: unknown): value is ModelSource {
  return typeof value === "object" && value !== null && "readBytes" in value && "has" in value;
}

/**
 * Opens a model, adapter or tokenizer location as a {@link ModelSource} (browser-safe; in Node,
 * `@peftjs/models/node` exports a version that also takes folders and uses the Hugging Face disk cache):
 *
 * - an `http(s)://` URL: the folder at that URL;
 * - `org/name` or `org/name@revision`: a Hub repository (Cache API cache where available);
 * - `{ files: { "tokenizer.json": bytes, ... } }`: files in memory (e.g. from a file input);
 * - a ModelSource: returned as it is.
 *
 * @throws ModelSourceError for a string that is neither a URL nor a Hub id.
 */
export async function openModelSource(
  location: ModelLocation,
  options: OpenModelSourceOptions = {},
): Promise<ModelSource> {
  if (isModelSource(location)) return location;
  if (location instanceof URL || (typeof location === "string" && /^https?:\/\//i.test(location))) {
    return urlModelSource(location, {
      fetch: options.fetch,
      headers: options.headers,
      onProgress: options.onProgress,
    });
  }
  if (typeof location === "string") {
    const repository = location.split("@")[0] ?? "";
    if (isHubRepository(repository)) return openHubModelSource(location, options);
    throw new ModelSourceError(
      `${JSON.stringify(location)} is neither an http(s) URL nor a Hub model id (org/name[@revision])`,
    );
  }
  return filesModelSource(location.files);
}
