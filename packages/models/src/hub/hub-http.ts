/**
 * The Hub's HTTP conventions, as huggingface_hub's `file_download.py` relies on them: a `HEAD` on
 * `/{repo}/resolve/{revision}/{file}` answers with `X-Repo-Commit` (the commit the revision points to), an
 * `ETag` (git blob sha1) or, for large (LFS/Xet) files, a redirect to a CDN carrying `X-Linked-Etag` (sha256)
 * and `X-Linked-Size`; errors carry `X-Error-Code` (`RepoNotFound`, `GatedRepo`, `RevisionNotFound`,
 * `EntryNotFound`) and `X-Error-Message`.
 */
import {
  HubAuthenticationError,
  type HubErrorContext,
  HubGatedRepositoryError,
  HubRepositoryNotFoundError,
  HubRequestError,
  HubRevisionNotFoundError,
  ModelFileNotFoundError,
} from "./hub-errors.js";

/** What a `HEAD` on a resolve URL tells about a file. */
export interface HubFileMetadata {
  /** The commit the requested revision resolves to (`X-Repo-Commit`). */
  readonly commit: string;
  /** The file's content id (`X-Linked-Etag` or `ETag`, quotes and `W/` removed): the blob's name in the cache. */
  readonly etag: string;
  /** The size in bytes (`X-Linked-Size`, or `Content-Length` when not redirected). */
  readonly size: number;
  /** Where to download from: the CDN `Location` of a redirect, else the resolve URL. */
  readonly location: string;
}

/** A `HEAD` answer that the file does not exist at this commit (`EntryNotFound`, with `X-Repo-Commit` if sent). */
export interface HubFileAbsence {
  readonly absent: true;
  readonly commit: string | undefined;
}

/** huggingface_hub's `_normalize_etag`: drops a weak-validator prefix and the quotes. */
export function normalizeEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  return etag.replace(/^W\//, "").replace(/^"+|"+$/g, "");
}

/**
 * The typed error for a failed Hub response: repository/revision/file not found, gated, bad token; anything
 * else is a {@link HubRequestError} naming the status.
 */
export function hubResponseError(response: Response, context: HubErrorContext, endpoint: string): Error {
  const code = response.headers.get("x-error-code");
  const message = response.headers.get("x-error-message");
  if (code === "RevisionNotFound") {
    return new HubRevisionNotFoundError({ ...context, revision: context.revision ?? "main" }, endpoint);
  }
  if (code === "EntryNotFound") {
    return new ModelFileNotFoundError(
      `${context.repository}@${context.revision ?? "main"}`,
      context.file ?? "(file)",
      `not found on ${endpoint} (HTTP ${response.status})`,
    );
  }
  if (code === "GatedRepo") return new HubGatedRepositoryError(context, endpoint);
  if (response.status === 401 && message === "Invalid credentials in Authorization header") {
    return new HubAuthenticationError(context, endpoint);
  }
  if (code === "RepoNotFound" || response.status === 401) {
    return new HubRepositoryNotFoundError(context, endpoint, response.status);
  }
  return new HubRequestError(
    context,
    `${endpoint} answered HTTP ${response.status}${message === null ? "" : ` (${message})`}`,
    { status: response.status },
  );
}

/** True for the errors after which huggingface_hub still looks in the cache (no connection, server errors, auth). */
export function isCacheFallbackError(error: unknown): boolean {
  return !(error instanceof HubRevisionNotFoundError || error instanceof ModelFileNotFoundError);
}

const maximumRelativeRedirects = 10;

/**
 * `HEAD` of a resolve URL, following relative redirects only (renamed repositories), as huggingface_hub's
 * `get_hf_file_metadata`: an absolute redirect (the CDN of a large file) is not followed, its `Location` is
 * where to download from.
 *
 * @returns the metadata, or a {@link HubFileAbsence} for `EntryNotFound` (the repository and revision exist).
 * @throws the other errors of {@link hubResponseError}; HubRequestError when the request fails or the
 *   response lacks `X-Repo-Commit`, an ETag or a size.
 */
export async function fetchHubFileMetadata(
  url: string,
  context: HubErrorContext,
  endpoint: string,
  options: { fetch: typeof fetch; headers: Record<string, string> },
): Promise<HubFileMetadata | HubFileAbsence> {
  let current = url;
  let response: Response;
  for (let redirects = 0; ; redirects++) {
    try {
      response = await options.fetch(current, {
        method: "HEAD",
        redirect: "manual",
        headers: { ...options.headers, "Accept-Encoding": "identity" },
      });
    } catch (error) {
      throw new HubRequestError(context, `cannot reach ${endpoint}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const location = response.headers.get("location");
    const isRedirect = response.status >= 300 && response.status < 400;
    if (!isRedirect || location === null || /^[a-z][a-z0-9+.-]*:\/\//i.test(location)) break;
    if (redirects >= maximumRelativeRedirects) {
      throw new HubRequestError(context, `more than ${maximumRelativeRedirects} redirects from ${url}`);
    }
    current = new URL(location, current).toString();
  }
  const isRedirect = response.status >= 300 && response.status < 400;
  if (response.status === 404 && response.headers.get("x-error-code") === "EntryNotFound") {
    return { absent: true, commit: response.headers.get("x-repo-commit") ?? undefined };
  }
  if (!response.ok && !isRedirect) throw hubResponseError(response, context, endpoint);
  const commit = response.headers.get("x-repo-commit");
  const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
  const sizeText =
    response.headers.get("x-linked-size") ?? (isRedirect ? null : response.headers.get("content-length"));
  const size = sizeText === null ? Number.NaN : Number(sizeText);
  if (commit === null) {
    throw new HubRequestError(
      context,
      `${current} has no X-Repo-Commit header: ${endpoint} does not look like a Hugging Face Hub`,
    );
  }
  if (etag === undefined || etag === "") throw new HubRequestError(context, `${current} has no ETag header`);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new HubRequestError(context, `${current} gives no valid size (X-Linked-Size / Content-Length)`);
  }
  return { commit, etag, size, location: response.headers.get("location") ?? current };
}
