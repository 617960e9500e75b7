/**
 * huggingface_hub's `hf_hub_download` into the shared cache, in Node: the same requests, the same files on
 * disk, the same fallbacks (see `hub-cache-paths.ts` for the layout).
 *
 * 1. A commit revision whose file is already in `snapshots/<commit>/` is returned without any request.
 * 2. Offline: the revision resolves through `refs/<revision>` to a cached snapshot file, or fails.
 * 3. Otherwise a `HEAD` gives the commit, the ETag and the size; a cached snapshot file or blob is reused
 *    (no download), else the file is downloaded (from the CDN `Location` of large files, without the token
 *    when the host differs) to `blobs/<etag>.<random>.incomplete`, checked against the size, renamed to
 *    `blobs/<etag>` and linked from `snapshots/<commit>/<file>` by a relative symlink; `refs/<revision>` is
 *    updated. A file the Hub says is absent gets a `.no_exist/<commit>/<file>` marker.
 * 4. When the `HEAD` fails for another reason than "no such revision / file" (no connection, server error,
 *    refused token) a cached copy of the revision is used if there is one.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { copyFile, lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, relative } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HubOfflineError, HubRequestError, ModelFileNotFoundError } from "../hub-errors.js";
import { fetchHubFileMetadata, type HubFileMetadata, isCacheFallbackError } from "../hub-http.js";
import { COMMIT_HASH_PATTERN, formatHubModelId } from "../hub-id.js";
import {
  type DownloadProgress,
  environmentToken,
  type HubOptions,
  hubEndpoint,
  hubFileUrl,
  isOffline,
} from "../hub-options.js";
import { defaultHubCacheDirectory, RepositoryCachePaths, tokenFilePath } from "./hub-cache-paths.js";

/** Options of the Node Hub loaders: {@link HubOptions} plus the cache folder. */
export interface NodeHubOptions extends HubOptions {
  /** The Hugging Face cache (default `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  readonly cacheDirectory?: string;
}

/** One file of one revision of a repository. */
export interface HubFileRequest {
  readonly repository: string;
  readonly revision: string;
  readonly file: string;
}

/** A file in the cache: its snapshot path and the commit it belongs to. */
export interface CachedHubFile {
  readonly path: string;
  readonly commit: string;
}

/** The answer for a file that does not exist in the revision. */
const absent = Symbol("absent");

const cacheDirectoryTag =
  "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by peftjs (Hugging Face cache layout).\n# For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n";

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** huggingface_hub's `_validate_relative_filename`: no absolute paths, no `..` segments. */
function checkRelativeFile(file: string): void {
  if (file === "" || file.startsWith("/") || file.includes("\\") || file.split("/").includes("..")) {
    throw new ModelFileNotFoundError("the Hub", file, "not a relative file path inside a repository");
  }
}

/** The token: the option, `HF_TOKEN`, else the token file of `hf auth login`. */
async function resolveToken(options: NodeHubOptions): Promise<string | undefined> {
  const token = environmentToken(options);
  if (token !== undefined || options.token === false) return token;
  try {
    const stored = (await readFile(tokenFilePath(), "utf8")).trim();
    return stored === "" ? undefined : stored;
  } catch {
    return undefined;
  }
}

/** Writes `refs/<revision>` = commit (atomically), unless the revision is the commit or the ref is current. */
async function recordRef(paths: RepositoryCachePaths, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const path = paths.ref(revision);
  try {
    if ((await readFile(path, "utf8")) === commit) return;
  } catch {
    // no ref yet
  }
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, commit);
  await rename(temporary, path);
}

/** The commit of a revision with a snapshot in the cache (a commit revision, or through `refs/`), if any. */
async function cachedCommit(paths: RepositoryCachePaths, revision: string): Promise<string | undefined> {
  let commit = revision;
  if (!COMMIT_HASH_PATTERN.test(revision)) {
    try {
      commit = (await readFile(paths.ref(revision), "utf8")).trim();
    } catch {
      return undefined;
    }
  }
  return (await exists(paths.snapshot(commit))) ? commit : undefined;
}

/** The cached answer for a revision: the snapshot file, `absent` (a `.no_exist` marker), or undefined. */
async function cachedFile(
  paths: RepositoryCachePaths,
  revision: string,
  file: string,
): Promise<CachedHubFile | typeof absent | undefined> {
  let commit: string | undefined = COMMIT_HASH_PATTERN.test(revision) ? revision : undefined;
  if (commit === undefined) {
    try {
      commit = (await readFile(paths.ref(revision), "utf8")).trim();
    } catch {
      return undefined;
    }
  }
  if (await exists(paths.noExist(commit, file))) return absent;
  const pointer = paths.pointer(commit, file);
  return (await exists(pointer)) ? { path: pointer, commit } : undefined;
}

/** Points `snapshots/<commit>/<file>` at the blob with a relative symlink (a copy where symlinks fail). */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  await rm(pointer, { force: true });
  try {
    await symlink(relative(dirname(pointer), blob), pointer);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST" && (await lstat(pointer)).isSymbolicLink()) return; // linked concurrently
    await copyFile(blob, pointer);
  }
}

/** Downloads `metadata.location` to a unique temporary file, checks the size, renames it to the blob. */
async function downloadBlob(
  request: HubFileRequest,
  metadata: HubFileMetadata,
  resolveUrl: string,
  blob: string,
  headers: Record<string, string>,
  options: NodeHubOptions,
): Promise<void> {
  const context = request;
  const sameHost = new URL(metadata.location, resolveUrl).host === new URL(resolveUrl).host;
  const { Authorization: authorization, ...anonymous } = headers;
  let response: Response;
  try {
    response = await (options.fetch ?? globalThis.fetch)(metadata.location, {
      headers: {
        ...(sameHost && authorization !== undefined ? { Authorization: authorization } : {}),
        ...anonymous,
        "Accept-Encoding": "identity",
      },
    });
  } catch (error) {
    throw new HubRequestError(
      context,
      `downloading ${metadata.location} failed: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new HubRequestError(context, `downloading ${metadata.location} answered HTTP ${response.status}`, {
      status: response.status,
    });
  }
  const temporary = `${blob}.${randomBytes(4).toString("hex")}.incomplete`;
  let loaded = 0;
  const report = (progress: DownloadProgress) => options.onProgress?.(progress);
  report({ file: request.file, loaded, total: metadata.size });
  const counter = async function* (chunks: AsyncIterable<Uint8Array>) {
    for await (const chunk of chunks) {
      loaded += chunk.byteLength;
      report({ file: request.file, loaded, total: metadata.size });
      yield chunk;
    }
  };
  try {
    await pipeline(
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>),
      counter,
      createWriteStream(temporary),
    );
    if (loaded !== metadata.size) {
      throw new HubRequestError(
        context,
        `the download from ${metadata.location} has ${loaded} bytes, the Hub announced ${metadata.size}; retry`,
      );
    }
    await rename(temporary, blob);
  } finally {
    await rm(temporary, { force: true });
  }
}

/**
 * Returns the cached path of a repository file, downloading it first when needed (see the module comment).
 * With `optional`, a file that does not exist in the revision gives undefined instead of an error (offline:
 * a file that is not cached counts as absent).
 *
 * @throws ModelFileNotFoundError (file absent, unless optional), HubOfflineError, and the Hub's typed errors
 *   (repository, revision, gated, token, request).
 */
export async function resolveHubFile(
  request: HubFileRequest,
  options: NodeHubOptions = {},
  optional = false,
): Promise<CachedHubFile | undefined> {
  const { repository, revision, file } = request;
  checkRelativeFile(file);
  const cacheDirectory = options.cacheDirectory ?? defaultHubCacheDirectory();
  const paths = new RepositoryCachePaths(cacheDirectory, repository);
  const missing = (): undefined => {
    if (optional) return undefined;
    throw new ModelFileNotFoundError(
      formatHubModelId({ repository, revision }),
      file,
      "not in this revision on the Hub",
    );
  };

  if (COMMIT_HASH_PATTERN.test(revision)) {
    const cached = await cachedFile(paths, revision, file);
    if (cached === absent) return missing();
    if (cached !== undefined) return cached;
  }
  if (isOffline(options)) {
    const cached = await cachedFile(paths, revision, file);
    if (cached === absent) return missing();
    if (cached !== undefined) return cached;
    // A file missing from a cached snapshot counts as absent when optional (as transformers offline); a
    // revision that was never cached is an error either way.
    if (optional && (await cachedCommit(paths, revision)) !== undefined) return undefined;
    throw new HubOfflineError(request, cacheDirectory);
  }

  const endpoint = hubEndpoint(options);
  const url = hubFileUrl(endpoint, repository, revision, file);
  const token = await resolveToken(options);
  const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  let metadata: Awaited<ReturnType<typeof fetchHubFileMetadata>>;
  try {
    metadata = await fetchHubFileMetadata(url, request, endpoint, {
      fetch: options.fetch ?? globalThis.fetch,
      headers,
    });
  } catch (error) {
    if (!isCacheFallbackError(error)) throw error;
    const cached = await cachedFile(paths, revision, file);
    if (cached === absent) return missing();
    if (cached !== undefined) return cached;
    throw error;
  }

  if ("absent" in metadata) {
    if (metadata.commit !== undefined) {
      const marker = paths.noExist(metadata.commit, file);
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, "");
      await recordRef(paths, revision, metadata.commit);
    }
    return missing();
  }

  const pointer = paths.pointer(metadata.commit, file);
  if (await exists(pointer)) {
    await recordRef(paths, revision, metadata.commit).catch(() => undefined); // a read-only cache still works
    return { path: pointer, commit: metadata.commit };
  }
  const blob = paths.blob(metadata.etag);
  await mkdir(dirname(blob), { recursive: true });
  if (!(await exists(`${cacheDirectory}/CACHEDIR.TAG`))) {
    await writeFile(`${cacheDirectory}/CACHEDIR.TAG`, cacheDirectoryTag).catch(() => undefined);
  }
  await recordRef(paths, revision, metadata.commit);
  if (!(await exists(blob))) await downloadBlob(request, metadata, url, blob, headers, options);
  await linkPointer(blob, pointer);
  return { path: pointer, commit: metadata.commit };
}
