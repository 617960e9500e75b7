/**
 * A Hub repository as a model source on any platform (the browser's one): files come from
 * `{endpoint}/{repo}/resolve/{revision}/`, with the access token, typed Hub errors, progress, offline mode,
 * and the Cache API (`caches.open("peftjs-hub")`) as the cache where the platform has it. Node's loaders use
 * the Hugging Face disk cache instead (`@peftjs/models/node`).
 */

import { HubOfflineError } from "./hub-errors.js";
import { hubResponseError } from "./hub-http.js";
import { formatHubModelId, type HubModelId, parseHubModelId } from "./hub-id.js";
import { environmentToken, type HubOptions, hubEndpoint, hubFileUrl, isOffline } from "./hub-options.js";
import type { ModelSource } from "./model-source.js";
import { type ResponseCache, urlModelSource } from "./url-source.js";

/** The Cache API cache the browser Hub source uses by default. */
export const BROWSER_HUB_CACHE_NAME = "peftjs-hub";

/** Options of {@link openHubModelSource}. */
export interface HubModelSourceOptions extends HubOptions {
  /**
   * Where downloaded files are kept: a Cache API cache (default: `caches.open("peftjs-hub")` where the
   * platform has `caches`), or `false` for none (then weights are read with range requests).
   */
  readonly cache?: ResponseCache | false;
}

async function defaultCache(): Promise<ResponseCache | undefined> {
  const storage = (globalThis as { caches?: { open(name: string): Promise<ResponseCache> } }).caches;
  if (storage === undefined) return undefined;
  try {
    return await storage.open(BROWSER_HUB_CACHE_NAME);
  } catch {
    return undefined; // e.g. an opaque origin, where the Cache API throws
  }
}

/**
 * Opens a Hub repository (`org/name` or `org/name@revision`) as a {@link ModelSource} over its resolve URLs.
 * Cached files are keyed by URL, so a branch revision (`main`) keeps the files first downloaded; pin a commit
 * hash to be exact.
 *
 * @throws HubModelIdError for an invalid id. Reads throw the Hub's typed errors (repository not found, gated,
 *   bad token, revision not found, ModelFileNotFoundError, HubOfflineError).
 */
export async function openHubModelSource(
  id: string | HubModelId,
  options: HubModelSourceOptions = {},
): Promise<ModelSource> {
  const modelId = typeof id === "string" ? parseHubModelId(id, { revision: options.revision }) : id;
  const endpoint = hubEndpoint(options);
  const token = environmentToken(options);
  const cache = options.cache === false ? undefined : (options.cache ?? (await defaultCache()));
  const description = formatHubModelId(modelId);
  const context = (file: string) => ({ repository: modelId.repository, revision: modelId.revision, file });
  return urlModelSource(hubFileUrl(endpoint, modelId.repository, modelId.revision, ""), {
    fetch: options.fetch,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    cache,
    onProgress: options.onProgress,
    description,
    isMissing: (response) => {
      const code = response.headers.get("x-error-code");
      return response.status === 404 && (code === null || code === "EntryNotFound");
    },
    errorFor: (response, file) => hubResponseError(response, context(file), endpoint),
    offlineError: isOffline(options)
      ? (file) => new HubOfflineError(context(file), `Cache API "${BROWSER_HUB_CACHE_NAME}"`)
      : undefined,
  });
}
