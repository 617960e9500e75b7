import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, resolve, sep } from "node:path";

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".safetensors": "application/octet-stream",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
  ".md": "text/markdown; charset=utf-8",
};

/** Options of {@link serveDirectory}. */
export interface ServeOptions {
  /** Send `Cross-Origin-Opener-Policy`/`-Embedder-Policy`, so pages are cross-origin isolated (default true). */
  readonly crossOriginIsolation?: boolean;
}

/** A running static file server. */
export interface StaticServer {
  /** Base URL, e.g. `http://127.0.0.1:41234/` (127.0.0.1 is a secure context, as WebGPU requires). */
  readonly url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The file a request path maps to, as a VitePress `cleanUrls` host does: `/a/b` → `a/b.html`, `/a/` → `a/index.html`. */
async function resolveFile(root: string, pathname: string): Promise<string | undefined> {
  const candidates = pathname.endsWith("/")
    ? [`${pathname}index.html`]
    : [pathname, `${pathname}.html`, `${pathname}/index.html`];
  for (const candidate of candidates) {
    const file = normalize(join(root, candidate));
    if (!file.startsWith(root + sep)) return undefined;
    if (await isFile(file)) return file;
  }
  return undefined;
}

/**
 * Serves the files under `directory` on 127.0.0.1 at a random free port (GET and HEAD; HTTP range requests,
 * which `@peftjs/io` uses to read safetensors lazily), resolving VitePress clean URLs. Unknown paths are 404.
 */
export async function serveDirectory(directory: string, options: ServeOptions = {}): Promise<StaticServer> {
  const root = resolve(directory);
  const isolation = options.crossOriginIsolation ?? true;
  const server = createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? "/", "http://127.0.0.1").pathname);
    const respond = async (): Promise<void> => {
      const file =
        request.method === "GET" || request.method === "HEAD" ? await resolveFile(root, pathname) : undefined;
      if (file === undefined) {
        response.writeHead(404).end();
        return;
      }
      const body = await readFile(file);
      const headers: Record<string, string> = {
        "content-type": contentTypes[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
        "accept-ranges": "bytes",
      };
      if (isolation) {
        headers["cross-origin-opener-policy"] = "same-origin";
        headers["cross-origin-embedder-policy"] = "require-corp";
      }
      const range = /^bytes=(\d*)-(\d*)$/.exec(request.headers.range ?? "");
      if (range !== null) {
        const start = range[1] === "" ? Math.max(0, body.length - Number(range[2])) : Number(range[1]);
        const end =
          range[1] === "" || range[2] === "" ? body.length - 1 : Math.min(Number(range[2]), body.length - 1);
        if (start > end || start >= body.length) {
          response.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
          return;
        }
        response.writeHead(206, { ...headers, "content-range": `bytes ${start}-${end}/${body.length}` });
        response.end(request.method === "HEAD" ? undefined : body.subarray(start, end + 1));
        return;
      }
      response.writeHead(200, headers);
      response.end(request.method === "HEAD" ? undefined : body);
    };
    respond().catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
