import { fileURLToPath } from "node:url";
import { buildPage, serveDirectory, skipWithoutChromium, withChromiumPage } from "@peftjs/browser-testing";
import { describe, expect, it } from "vitest";

// Headless Chromium (Debian's `chromium`, installed by .ci/run) on a cross-origin-isolated page.
describe.skipIf(skipWithoutChromium("wasm-browser.test.ts"))("wasm backend in headless Chromium", () => {
  it("runs threaded products on a Web Worker from a Blob URL while the main thread spins", async () => {
    const directory = await buildPage({ root: fileURLToPath(new URL("./browser-page", import.meta.url)) });
    const server = await serveDirectory(directory);
    try {
      const { result, consoleMessages } = await withChromiumPage(
        { url: server.url },
        async ({ page, consoleMessages }) => {
          await page.waitForFunction(
            () => (window as unknown as { wasmCheck?: unknown }).wasmCheck !== undefined,
            undefined,
            {
              timeout: 60_000,
            },
          );
          return {
            result: await page.evaluate(
              () => (window as unknown as { wasmCheck: Record<string, unknown> }).wasmCheck,
            ),
            consoleMessages,
          };
        },
      );
      expect(consoleMessages).toEqual([]);
      expect(result.error).toBeUndefined();
      expect(result.crossOriginIsolated).toBe(true);
      expect(result.mainThreadCanBlock).toBe(false);
      // Chromium validates relaxed SIMD, so this also checks the fused-multiply-add binary end to end.
      expect(result.details).toMatchObject({ threads: 2, sharedMemory: true, relaxedSimd: true });
      // Float32 products of depth ≤ 300 over values in [-1, 1): 1e-4 relative is ~10× the rounding bound.
      expect(result.largestError).toBeLessThan(1e-4);
    } finally {
      await server.close();
    }
  }, 120_000);
});
