/**
 * Hub loading in headless Chromium (Debian's `chromium`, through `@peftjs/browser-testing`): the page bundles
 * the built `dist` and loads by Hub id from the local Hub with the browser's fetch — CORS, the cross-origin
 * redirect of large files to the CDN (on `localhost`, another origin), range requests — and the real Cache
 * API: the second load downloads nothing, offline mode reads the cache only, errors are typed. Run
 * `pnpm build` first.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildPage,
  type StaticServer,
  serveDirectory,
  skipWithoutChromium,
  withChromiumPage,
} from "@peftjs/browser-testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalHub, startLocalHub } from "../src/node.js";
import type { HubStepResult, HubSteps } from "./browser/hub-page/main.js";

const skipBrowser = skipWithoutChromium("hub-browser.test.ts");
const packageRoot = fileURLToPath(new URL("../", import.meta.url));
const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

describe.skipIf(skipBrowser)("Hub loading in headless Chromium", () => {
  const root = mkdtempSync(join(tmpdir(), "peftjs-hub-browser-"));
  let hub: LocalHub;
  let page: StaticServer;

  beforeAll(async () => {
    const distIndex = `${packageRoot}dist/index.js`;
    if (!existsSync(distIndex))
      throw new Error(`${distIndex} is missing: run \`pnpm build\` in packages/models first`);
    const repository = (name: string, files: Record<string, string>) => {
      mkdirSync(join(root, "hub", name), { recursive: true });
      for (const [file, from] of Object.entries(files))
        writeFileSync(join(root, "hub", name, file), readFileSync(from));
    };
    repository("test-org/tiny-tokenizer", {
      "tokenizer.json": join(fixtures, "hf-tokenizers/sp_bpe/tokenizer.json"),
      "tokenizer_config.json": join(fixtures, "hf-tokenizers/sp_bpe/tokenizer_config.json"),
    });
    writeFileSync(
      join(root, "hub/test-org/tiny-tokenizer/generation_config.json"),
      '{"eos_token_id": [2, 0]}',
    );
    repository("test-org/stories", {
      "config.json": join(fixtures, "stories260k/config.json"),
      "model.safetensors": join(fixtures, "stories260k/model.safetensors"),
    });
    hub = await startLocalHub(join(root, "hub"), {
      // tokenizer.json behind the CDN redirect too, so the cached path crosses origins.
      isLargeFile: (file) => file.endsWith(".safetensors") || file === "tokenizer.json",
    });
    page = await serveDirectory(
      await buildPage({
        root: fileURLToPath(new URL("./browser/hub-page/", import.meta.url)),
        alias: { "@peftjs/models": distIndex },
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await page?.close();
    await hub?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it("loads by id through the Cache API, downloads once, works offline, reads weights by range", async () => {
    const outcome = await withChromiumPage(
      { url: page.url },
      async ({ page: browserPage, consoleMessages }) => {
        const call = <T>(step: keyof HubSteps, ...args: unknown[]) =>
          browserPage.evaluate(
            ([name, values]) =>
              (window as unknown as { peftjsHub: Record<string, (...a: unknown[]) => Promise<unknown>> })
                .peftjsHub[name as string]!(...(values as unknown[])),
            [step, args] as const,
          ) as Promise<T>;
        const first = await call<HubStepResult>("tokenizer", hub.url, false);
        const getsAfterFirst = hub.requests.filter((request) => request.method === "GET").length;
        const second = await call<HubStepResult>("tokenizer", hub.url, false);
        const getsAfterSecond = hub.requests.filter((request) => request.method === "GET").length;
        const requestsBeforeOffline = hub.requests.length;
        const offline = await call<HubStepResult>("tokenizer", hub.url, true);
        const offlineRequests = hub.requests.length - requestsBeforeOffline;
        const vocabSize = await call<number>("model", hub.url);
        const missing = await call<string>("missing", hub.url);
        return {
          first,
          second,
          offline,
          getsAfterFirst,
          getsAfterSecond,
          offlineRequests,
          vocabSize,
          missing,
          console: [...consoleMessages],
        };
      },
    );
    expect(outcome.first.ids).toEqual([1, 392, 410, 325, 328, 1060]);
    expect(outcome.first.eos).toEqual([2, 0]);
    expect(outcome.first.cachedUrls).toEqual(
      ["generation_config.json", "tokenizer.json", "tokenizer_config.json"].map(
        (file) => `${hub.url}/test-org/tiny-tokenizer/resolve/main/${file}`,
      ),
    );
    expect(outcome.getsAfterFirst).toBeGreaterThan(0);
    expect(outcome.getsAfterSecond).toBe(outcome.getsAfterFirst);
    expect(outcome.second.ids).toEqual(outcome.first.ids);
    expect(outcome.offline.ids).toEqual(outcome.first.ids);
    expect(outcome.offlineRequests).toBe(0);
    // The browser followed the redirect to the CDN origin and never sent a token there.
    expect(hub.requests.some((request) => request.server === "cdn" && request.status === 200)).toBe(true);
    expect(outcome.vocabSize).toBe(512);
    expect(hub.requests.some((request) => request.server === "cdn" && request.status === 206)).toBe(true);
    expect(outcome.missing).toMatch(
      /^HubRepositoryNotFoundError: tokenizer.json of test-org\/no-such-model@main: /,
    );
    expect(outcome.console.filter((message) => !message.includes("Failed to load resource"))).toEqual([]);
  });
});
