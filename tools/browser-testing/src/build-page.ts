import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Options of {@link buildPage}. */
export interface BuildPageOptions {
  /** Folder holding the page's `index.html` (which loads the page's module script). */
  readonly root: string;
  /** Module specifiers mapped to files, e.g. `{"@peftjs/tensor": ".../dist/index.js"}` to bundle a built `dist`. */
  readonly alias?: Readonly<Record<string, string>>;
  /**
   * The format of bundled Web Workers (`new Worker(new URL(…, import.meta.url))`): Vite's default `"iife"`
   * cannot hold a worker that code-splits (dynamic imports); `"es"` can.
   */
  readonly workerFormat?: "es" | "iife";
  /** Output folder; a fresh temporary folder by default. */
  readonly outDir?: string;
}

/**
 * Bundles a static page with Vite's programmatic `build()` (no minification, no public dir, quiet) and
 * returns the output folder, ready for `serveDirectory`.
 */
export async function buildPage(options: BuildPageOptions): Promise<string> {
  const { build } = await import("vite");
  const outDir = options.outDir ?? (await mkdtemp(join(tmpdir(), "peftjs-page-")));
  await build({
    root: options.root,
    configFile: false,
    logLevel: "warn",
    publicDir: false,
    resolve: { alias: { ...options.alias } },
    ...(options.workerFormat === undefined ? {} : { worker: { format: options.workerFormat } }),
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      sourcemap: false,
      target: "es2022",
      reportCompressedSize: false,
      chunkSizeWarningLimit: 10_000,
    },
  });
  return outDir;
}
