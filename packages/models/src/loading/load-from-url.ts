import { openSafetensors, parseCheckpointIndex, type RawTensor, SAFETENSORS_INDEX_NAME } from "@peftjs/io";
import { type CreateModelOptions, createModel, parseModelConfig } from "../architectures/registry.js";
import type { CausalLM } from "../causal-lm.js";
import { ModelSourceError } from "../errors.js";

/** Options of {@link loadModelFromUrl}. */
export interface LoadModelFromUrlOptions extends CreateModelOptions {
  /** The fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Extra request headers, e.g. `Authorization`. */
  headers?: Record<string, string>;
}

/**
 * Loads a Hugging Face model folder (any registered `model_type`) served over HTTP(S) — in a browser or in Node: `config.json`, then
 * `model.safetensors.index.json` if the server has it (sharded) or else `model.safetensors`. An index answer
 * that is not JSON (a dev server's SPA fallback returns its HTML page with status 200 for missing files)
 * counts as "not sharded". Safetensors files are read with range requests through `@peftjs/io`'s
 * `openSafetensors`.
 *
 * @param baseUrl the folder's URL (a trailing `/` is added when missing), e.g.
 *   `https://huggingface.co/<repo>/resolve/main/`.
 * @throws ModelSourceError when a request fails or returns an error status; the config and weight errors
 *   of `createModel`.
 */
export async function loadModelFromUrl(
  baseUrl: string | URL,
  options: LoadModelFromUrlOptions = {},
): Promise<CausalLM> {
  const text = String(baseUrl);
  const base = new URL(text.endsWith("/") ? text : `${text}/`);
  const fetchFunction = options.fetch ?? globalThis.fetch;
  const fetchJson = async (name: string, optional: boolean): Promise<unknown> => {
    const url = new URL(name, base);
    let response: Response;
    try {
      response = await fetchFunction(url, { headers: { ...options.headers } });
    } catch (error) {
      throw new ModelSourceError(`request for ${url} failed`, { cause: error });
    }
    if (optional && response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ModelSourceError(`${url} answered with status ${response.status}`);
    }
    const body = await response.text();
    try {
      return JSON.parse(body);
    } catch (error) {
      // A dev server or static host with an SPA fallback answers a missing file with its index.html and
      // status 200: for an optional probe, an answer that is not JSON means "not there".
      if (optional) return undefined;
      throw new ModelSourceError(`${url} is not valid JSON`, { cause: error });
    }
  };
  const config = parseModelConfig(await fetchJson("config.json", false));
  const indexJson = await fetchJson(SAFETENSORS_INDEX_NAME, true);
  const files =
    indexJson === undefined
      ? ["model.safetensors"]
      : [
          ...new Set(
            Object.values(
              parseCheckpointIndex(indexJson, String(new URL(SAFETENSORS_INDEX_NAME, base))).weight_map,
            ),
          ),
        ];
  const weights = new Map<string, RawTensor>();
  for (const file of files) {
    const reader = await openSafetensors(new URL(file, base), {
      fetch: fetchFunction,
      headers: options.headers,
    });
    try {
      for (const [name, raw] of await reader.readAll()) weights.set(name, raw);
    } finally {
      await reader.close();
    }
  }
  // Fetched bytes belong to this call alone: the weight store takes them over instead of copying them.
  return createModel(config, weights, { ...options, takeOverBytes: true });
}
