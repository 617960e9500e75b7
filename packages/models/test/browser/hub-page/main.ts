/**
 * The browser side of `hub-browser.test.ts`: loads a tokenizer and a model by Hub id from the local Hub with
 * the browser's own fetch (CORS, redirects to the CDN origin) and Cache API, and exposes the steps on
 * `window.peftjsHub` for the Node side to call through playwright.
 */
import {
  BROWSER_HUB_CACHE_NAME,
  loadModelFromSource,
  loadTokenizerFromSource,
  openHubModelSource,
} from "@peftjs/models";

/** What one step returns to Node. */
export interface HubStepResult {
  readonly ids: number[];
  readonly eos: readonly number[];
  readonly cachedUrls: string[];
}

async function cachedUrls(): Promise<string[]> {
  const cache = await caches.open(BROWSER_HUB_CACHE_NAME);
  return (await cache.keys()).map((request) => request.url).sort();
}

const steps = {
  /** Tokenizer by id through the Cache API (the default cache); `offline` reads the cache only. */
  async tokenizer(endpoint: string, offline: boolean): Promise<HubStepResult> {
    const source = await openHubModelSource("test-org/tiny-tokenizer", { endpoint, offline });
    const tokenizer = await loadTokenizerFromSource(source);
    return {
      ids: tokenizer.encode("hello world"),
      eos: tokenizer.specialTokens.eos,
      cachedUrls: await cachedUrls(),
    };
  },
  /** A model whose weights sit behind the CDN redirect, read with range requests (no cache). */
  async model(endpoint: string): Promise<number> {
    const model = await loadModelFromSource(
      await openHubModelSource("test-org/stories", { endpoint, cache: false }),
    );
    const size = model.config.vocabSize;
    model.dispose();
    return size;
  },
  /** The typed error's name and message for a repository the Hub does not know. */
  async missing(endpoint: string): Promise<string> {
    try {
      await loadTokenizerFromSource(await openHubModelSource("test-org/no-such-model", { endpoint }));
      return "no error";
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
  },
};

export type HubSteps = typeof steps;
(window as unknown as { peftjsHub: HubSteps }).peftjsHub = steps;
