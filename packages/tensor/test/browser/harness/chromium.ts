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

/** Options of {@link withChromiumPage}. */
export interface ChromiumPageOptions {
  /** The page to open (e.g. from `serveDirectory`); WebGPU needs a secure context such as `http://127.0.0.1`. */
  readonly url: string;
  /** Add {@link webGpuChromiumFlags}. */
  readonly webGpu?: boolean;
  /** More flags. */
  readonly extraFlags?: readonly string[];
  /** Console messages of these types are collected (default `["error"]`). */
  readonly consoleTypes?: readonly string[];
  /** Page-load timeout in milliseconds (default 60 000). */
  readonly timeoutMs?: number;
}

/** What {@link withChromiumPage} hands to its callback. */
export interface ChromiumSession {
  /** The loaded page. */
  readonly page: Page;
  /** Its browser context (a fresh profile in a temporary folder). */
  readonly context: BrowserContext;
  /** Console messages of the collected types, and uncaught page errors (`pageerror: ...`), in order. */
  readonly consoleMessages: string[];
}

/**
 * Launches headless Chromium with a fresh profile, opens `options.url`, runs `fn`, and always closes the
 * browser and deletes the profile. Console errors and uncaught exceptions are collected in
 * `session.consoleMessages` for the caller to assert on.
 */
export async function withChromiumPage<T>(
  options: ChromiumPageOptions,
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
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const consoleMessages: string[] = [];
    const consoleTypes = new Set(options.consoleTypes ?? ["error"]);
    page.on("console", (message) => {
      if (consoleTypes.has(message.type())) consoleMessages.push(`${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => {
      consoleMessages.push(`pageerror: ${error.message}`);
    });
    await page.goto(options.url, { timeout: options.timeoutMs ?? 60_000, waitUntil: "load" });
    return await fn({ page, context, consoleMessages });
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
