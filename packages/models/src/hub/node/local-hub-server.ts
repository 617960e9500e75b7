/**
 * A local stand-in for the Hugging Face Hub: serves a folder of repositories (`<folder>/<org>/<name>/...`)
 * with the Hub's URL layout and the headers huggingface_hub relies on, for tests, demos and offline mirrors
 * (`HF_ENDPOINT=<url>` points Python at it too):
 *
 * - `GET|HEAD /{org}/{name}/resolve/{revision}/{file}` with `revision` = `main` or the repository's commit;
 *   `X-Repo-Commit` on every answer; regular files answered directly with `ETag: "<git blob sha1>"`;
 *   large files (LFS: `*.safetensors`, `*.bin`, `*.gguf`, `*.pt`, ≥ 10 MiB, or by option) answered with a
 *   302 to a second "CDN" server (on `localhost`, another host name than the Hub's `127.0.0.1`) and `X-Linked-Etag:
 *   "<sha256>"`, `X-Linked-Size`; the CDN refuses requests that carry an `Authorization` header, as signed
 *   storage URLs do;
 * - errors as the Hub: 401 `RepoNotFound` (unknown repository, or a private one without its token), 401
 *   "Invalid credentials in Authorization header" (wrong token), 404 `RevisionNotFound`, 404 `EntryNotFound`;
 * - `Range` requests (206), CORS for browser pages; every request is logged in {@link LocalHub.requests}.
 *
 * A repository's commit is the sha1 of its file list and contents, computed on its first request.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative, sep } from "node:path";

/** Options of {@link startLocalHub}. */
export interface LocalHubOptions {
  /** Which files are served as LFS files (redirected to the CDN). Default: see the module comment. */
  readonly isLargeFile?: (file: string, size: number) => boolean;
  /** Private repositories and the one token each accepts (`{"org/name": "hf_secret"}`). */
  readonly privateRepositories?: Readonly<Record<string, string>>;
  /** Gated repositories: answered 403 `GatedRepo` to everyone. */
  readonly gatedRepositories?: readonly string[];
}

/** One request the local Hub answered. */
export interface LocalHubRequest {
  /** `hub` for resolve URLs, `cdn` for the large-file server. */
  readonly server: "hub" | "cdn";
  readonly method: string;
  /** The decoded path, e.g. `/org/name/resolve/main/config.json`. */
  readonly path: string;
  status: number;
  /** Whether the request carried an `Authorization` header. */
  readonly authorized: boolean;
}

/** A running local Hub. */
export interface LocalHub {
  /** The endpoint to use as `endpoint` / `HF_ENDPOINT`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Every request answered so far (clear it with `requests.length = 0`). */
  readonly requests: LocalHubRequest[];
  /** The commit hash the repository's `main` resolves to. */
  commitOf(repository: string): Promise<string>;
  /** Stops both servers. */
  close(): Promise<void>;
}

interface RepositoryFile {
  readonly path: string;
  readonly size: number;
  readonly gitSha1: string;
  readonly sha256: string;
  readonly large: boolean;
}

interface RepositorySnapshot {
  readonly commit: string;
  readonly files: ReadonlyMap<string, RepositoryFile>;
}

const largeFilePattern = /\.(safetensors|bin|gguf|pt|pth|ckpt|h5|onnx|msgpack)$/;
const tenMebibytes = 10 * 1024 * 1024;

const exposedHeaders =
  "X-Repo-Commit, X-Linked-Etag, X-Linked-Size, X-Error-Code, X-Error-Message, ETag, Content-Range, Content-Length, Accept-Ranges, Location";

async function listFiles(root: string, folder = root): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    else if (entry.isFile()) files.push(relative(root, path).split(sep).join("/"));
  }
  return files.sort();
}

function listen(server: Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve(`http://${host}:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Sends `bytes` (or the requested `Range` of it) with the given headers; HEAD sends the headers only. */
function sendBytes(
  request: IncomingMessage,
  response: ServerResponse,
  bytes: Uint8Array,
  headers: Record<string, string>,
) {
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? "");
  let body = bytes;
  let status = 200;
  const extra: Record<string, string> = { "Accept-Ranges": "bytes" };
  if (range !== null) {
    const first = Number(range[1]);
    const last = range[2] === "" ? bytes.length - 1 : Math.min(Number(range[2]), bytes.length - 1);
    if (first >= bytes.length || first > last) {
      response.writeHead(416, { ...headers, "Content-Range": `bytes */${bytes.length}` }).end();
      return 416;
    }
    body = bytes.subarray(first, last + 1);
    status = 206;
    extra["Content-Range"] = `bytes ${first}-${last}/${bytes.length}`;
  }
  response.writeHead(status, { ...headers, ...extra, "Content-Length": String(body.length) });
  response.end(request.method === "HEAD" ? undefined : body);
  return status;
}

/**
 * Starts a local Hub serving `folder` (`<folder>/<org>/<name>/<files>`) on 127.0.0.1, with its CDN on
 * localhost.
 */
export async function startLocalHub(folder: string, options: LocalHubOptions = {}): Promise<LocalHub> {
  const isLargeFile =
    options.isLargeFile ?? ((file, size) => largeFilePattern.test(file) || size >= tenMebibytes);
  const snapshots = new Map<string, Promise<RepositorySnapshot | undefined>>();
  const blobs = new Map<string, string>(); // sha256 → absolute path, for the CDN
  const requests: LocalHubRequest[] = [];

  const snapshotOf = (repository: string): Promise<RepositorySnapshot | undefined> => {
    let snapshot = snapshots.get(repository);
    if (snapshot === undefined) {
      snapshot = (async () => {
        const root = join(folder, ...repository.split("/"));
        try {
          if (!(await stat(root)).isDirectory()) return undefined;
        } catch {
          return undefined;
        }
        const files = new Map<string, RepositoryFile>();
        const tree = createHash("sha1");
        for (const file of await listFiles(root)) {
          const path = join(root, ...file.split("/"));
          const bytes = await readFile(path);
          const gitSha1 = createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
          const sha256 = createHash("sha256").update(bytes).digest("hex");
          files.set(file, {
            path,
            size: bytes.length,
            gitSha1,
            sha256,
            large: isLargeFile(file, bytes.length),
          });
          blobs.set(sha256, path);
          tree.update(`${file}\0${gitSha1}\n`);
        }
        return { commit: tree.digest("hex"), files };
      })();
      snapshots.set(repository, snapshot);
    }
    return snapshot;
  };

  const cors = { "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": exposedHeaders };
  const preflight = (response: ServerResponse) =>
    response
      .writeHead(204, {
        ...cors,
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Range, Content-Type",
      })
      .end();

  /** Logs a request when it arrives (so a client never sees its answer before the log does). */
  const log = (server: "hub" | "cdn", request: IncomingMessage, path: string) => {
    const entry = {
      server,
      method: request.method ?? "GET",
      path,
      status: 0,
      authorized: request.headers.authorization !== undefined,
    };
    requests.push(entry);
    return entry;
  };

  const cdn = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://cdn").pathname);
    const entry = log("cdn", request, path);
    let status: number;
    if (request.method === "OPTIONS") {
      preflight(response);
      status = 204;
    } else if (request.headers.authorization !== undefined) {
      status = 400;
      response.writeHead(status, cors).end("Only one auth mechanism allowed");
    } else {
      const file = blobs.get(path.slice(1));
      if (file === undefined) {
        status = 404;
        response.writeHead(status, cors).end();
      } else {
        const bytes = await readFile(file);
        status = sendBytes(request, response, bytes, { ...cors, ETag: `"${path.slice(1)}"` });
      }
    }
    entry.status = status;
  });
  // Another host name than the Hub's (huggingface_hub ≥ 1 follows redirects that keep the host name).
  const cdnUrl = await listen(cdn, "localhost");

  const hub = createServer(async (request, response) => {
    const rawPath = new URL(request.url ?? "/", "http://hub").pathname;
    const segments = rawPath.split("/").slice(1).map(decodeURIComponent);
    const path = `/${segments.join("/")}`;
    const entry = log("hub", request, path);
    const authorization = request.headers.authorization;
    const fail = (status: number, code: string | undefined, message: string, commit?: string) => {
      response
        .writeHead(status, {
          ...cors,
          ...(code === undefined ? {} : { "X-Error-Code": code }),
          "X-Error-Message": message,
          ...(commit === undefined ? {} : { "X-Repo-Commit": commit }),
          "Content-Type": "application/json",
        })
        .end(request.method === "HEAD" ? undefined : JSON.stringify({ error: message }));
      return status;
    };
    const answer = async (): Promise<number> => {
      if (request.method === "OPTIONS") {
        preflight(response);
        return 204;
      }
      if (
        segments.length < 5 ||
        segments[2] !== "resolve" ||
        (request.method !== "GET" && request.method !== "HEAD")
      ) {
        return fail(404, undefined, "Not found");
      }
      const repository = `${segments[0]}/${segments[1]}`;
      const revision = segments[3]!;
      const file = segments.slice(4).join("/");
      const snapshot = await snapshotOf(repository);
      const requiredToken = options.privateRepositories?.[repository];
      if (snapshot === undefined || (requiredToken !== undefined && authorization === undefined)) {
        return fail(401, "RepoNotFound", "Repository not found");
      }
      if (requiredToken !== undefined && authorization !== `Bearer ${requiredToken}`) {
        return fail(401, undefined, "Invalid credentials in Authorization header");
      }
      if (options.gatedRepositories?.includes(repository)) {
        return fail(403, "GatedRepo", "Access to this model is restricted");
      }
      if (revision !== "main" && revision !== snapshot.commit) {
        return fail(404, "RevisionNotFound", `Invalid rev id: ${revision}`);
      }
      const entry = snapshot.files.get(file);
      if (entry === undefined)
        return fail(404, "EntryNotFound", `${file} does not exist on "${revision}"`, snapshot.commit);
      const common = { ...cors, "X-Repo-Commit": snapshot.commit };
      if (entry.large) {
        response
          .writeHead(302, {
            ...common,
            Location: `${cdnUrl}/${entry.sha256}`,
            ETag: `"${entry.gitSha1}"`,
            "X-Linked-Etag": `"${entry.sha256}"`,
            "X-Linked-Size": String(entry.size),
            "Content-Length": "0",
          })
          .end();
        return 302;
      }
      return sendBytes(request, response, await readFile(entry.path), {
        ...common,
        ETag: `"${entry.gitSha1}"`,
      });
    };
    let status: number;
    try {
      status = await answer();
    } catch (error) {
      status = 500;
      if (!response.headersSent) response.writeHead(500, cors);
      response.end(String(error));
    }
    entry.status = status;
  });
  const hubUrl = await listen(hub, "127.0.0.1");

  return {
    url: hubUrl,
    requests,
    commitOf: async (repository) => {
      const snapshot = await snapshotOf(repository);
      if (snapshot === undefined)
        throw new Error(`the local Hub has no repository ${repository} in ${folder}`);
      return snapshot.commit;
    },
    close: async () => {
      await Promise.all([closeServer(hub), closeServer(cdn)]);
    },
  };
}
