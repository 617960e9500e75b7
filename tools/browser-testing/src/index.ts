/**
 * `@peftjs/browser-testing` (private, never published): the harness for tests that must run in a real browser: bundle a page with Vite, serve it on
 * 127.0.0.1, drive headless Chromium (Debian's `chromium`) through playwright-core, collect console errors.
 *
 * ```ts
 * const directory = await buildPage({ root: pageFolder, alias: { "@peftjs/tensor": distIndex } });
 * const server = await serveDirectory(directory);
 * try {
 *   const value = await withChromiumPage({ url: server.url, webGpu: true }, ({ page }) => page.evaluate(...));
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export { type BuildPageOptions, buildPage } from "./build-page.js";
export {
  baseChromiumFlags,
  type ChromiumOptions,
  type ChromiumPageOptions,
  type ChromiumSession,
  chromiumExecutable,
  defaultChromiumPath,
  isChromiumAvailable,
  skipWithoutChromium,
  webGpuChromiumFlags,
  withChromium,
  withChromiumPage,
} from "./chromium.js";
export { type ServeOptions, type StaticServer, serveDirectory } from "./static-server.js";
