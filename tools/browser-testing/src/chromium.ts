import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's `chromium` package installs the browser (overridable with `PEFTJS_CHROMIUM`). */
export const defaultChromiumPath = "/usr/bin/chromium";

/** The Chromium executable the harness launches: `$PEFTJS_CHROMIUM` or {@link defaultChromiumPath}. */
export function chromiumExecutable(): string {
  return process.env.PEFTJS_CHROMIUM ?? defaultChromiumPath;
}

/** True when the Chromium executable exists on this machine. */
export function isChromiumAvailable(): boolean {
  return existsSync(chromiumExecutable());
}

/**
 * The project's rule for browser tests, in one place: with Chromium present they run; without it they fail
 * under CI (where `.ci/run` installs it) and are skipped elsewhere with a printed reason. Call it at the top of
 * a test file and pass the result to `describe.skipIf`.
 *
 * @returns true when the caller should skip its browser tests.
 * @throws Error when Chromium is missing and `CI` is set.
 */
export function skipWithoutChromium(testFile: string): boolean {
  if (isChromiumAvailable()) return false;
  const reason = `headless Chromium not found at ${chromiumExecutable()} (install Debian's chromium, or set PEFTJS_CHROMIUM)`;
  if (process.env.CI !== undefined)
    throw new Error(`${reason}; CI must run the browser tests of ${testFile}`);
  console.warn(`${testFile} skipped: ${reason}`);
  return true;
}

/** Flags for a quiet, isolated headless Chromium that never talks to the network on its own. */
export const baseChromiumFlags: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/**
 * Flags that give headless Chromium a WebGPU adapter on the CPU (SwiftShader through Vulkan). WebGL2 needs no
 * flag: headless Chromium falls back to SwiftShader GL on its own.
 */
export const webGpuChromiumFlags: readonly string[] = [
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
];

/** Options of {@link withChromium}. */
export interface ChromiumOptions {
  /** Add {@link webGpuChromiumFlags}. */
  readonly webGpu?: boolean;
  /** More flags. */
  readonly extraFlags?: readonly string[];
  /** Console messages of these types are collected (default `["error"]`). */
  readonly consoleTypes?: readonly string[];
  /** Let the page download files (default false). */
  readonly acceptDownloads?: boolean;
  /** Viewport size (default Playwright's 1280 × 720). */
  readonly viewport?: { readonly width: number; readonly height: number };
}

/** Options of {@link withChromiumPage}. */
export interface ChromiumPageOptions extends ChromiumOptions {
  /** The page to open (e.g. from `serveDirectory`); WebGPU needs a secure context such as `http://127.0.0.1`. */
  readonly url: string;
  /** Page-load timeout in milliseconds (default 60 000). */
  readonly timeoutMs?: number;
}

/** What {@link withChromium} and {@link withChromiumPage} hand to their callback. */
export interface ChromiumSession {
  /** The page. */
  readonly page: Page;
  /** Its browser context (a fresh profile in a temporary folder). */
  readonly context: BrowserContext;
  /**
   * Console messages of the collected types (`"<type> on <url>: <text>"`) and uncaught page errors
   * (`"pageerror on <url>: <message>"`), in order; callers may empty it between checks.
   */
  readonly consoleMessages: string[];
}

/**
 * Launches headless Chromium with a fresh profile, runs `fn` with one blank page, and always closes the
 * browser and deletes the profile. Console messages and uncaught exceptions are collected in
 * `session.consoleMessages` for the caller to assert on.
 */
export async function withChromium<T>(
  options: ChromiumOptions,
  fn: (session: ChromiumSession) => Promise<T>,
): Promise<T> {
  const profile = await mkdtemp(join(tmpdir(), "peftjs-chromium-"));
  const flags = [
    ...baseChromiumFlags,
    ...(options.webGpu ? webGpuChromiumFlags : []),
    ...(options.extraFlags ?? []),
  ];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumExecutable(),
    headless: true,
    args: flags,
    acceptDownloads: options.acceptDownloads ?? false,
    ...(options.viewport ? { viewport: { ...options.viewport } } : {}),
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const consoleMessages: string[] = [];
    const consoleTypes = new Set(options.consoleTypes ?? ["error"]);
    page.on("console", (message) => {
      if (consoleTypes.has(message.type())) {
        consoleMessages.push(`${message.type()} on ${page.url()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => {
      consoleMessages.push(`pageerror on ${page.url()}: ${error.message}`);
    });
    return await fn({ page, context, consoleMessages });
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/** {@link withChromium}, with `options.url` opened (waiting for `load`) before `fn` runs. */
export function withChromiumPage<T>(
  options: ChromiumPageOptions,
  fn: (session: ChromiumSession) => Promise<T>,
): Promise<T> {
  return withChromium(options, async (session) => {
    await session.page.goto(options.url, { timeout: options.timeoutMs ?? 60_000, waitUntil: "load" });
    return fn(session);
  });
}
