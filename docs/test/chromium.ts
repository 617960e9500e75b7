import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** The Chromium executable: `$PEFTJS_CHROMIUM` or Debian's `/usr/bin/chromium`. */
export function chromiumExecutable(): string {
  return process.env.PEFTJS_CHROMIUM ?? "/usr/bin/chromium";
}

/** True when the Chromium executable exists on this machine. */
export function isChromiumAvailable(): boolean {
  return existsSync(chromiumExecutable());
}

/** A quiet, isolated headless Chromium that never talks to the network on its own. */
const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** What {@link withChromium} hands to its callback. */
export interface ChromiumSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors and uncaught page errors so far, in order (callers may empty it between checks). */
  readonly errors: string[];
}

/**
 * Launches headless Chromium with a fresh profile (downloads allowed), runs `fn` with one page, and always
 * closes the browser and deletes the profile. Console errors and uncaught exceptions are collected.
 */
export async function withChromium<T>(fn: (session: ChromiumSession) => Promise<T>): Promise<T> {
  const profile = await mkdtemp(join(tmpdir(), "peftjs-docs-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumExecutable(),
    headless: true,
    args: chromiumFlags,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(`console error on ${page.url()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => errors.push(`page error on ${page.url()}: ${error.message}`));
    return await fn({ context, page, errors });
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
