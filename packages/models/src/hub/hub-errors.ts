import { PeftjsError } from "@peftjs/io";

/** Where a Hub failure happened: the repository, and the revision and file when they matter. */
export interface HubErrorContext {
  readonly repository: string;
  readonly revision?: string;
  readonly file?: string;
}

function where(context: HubErrorContext): string {
  const revision = context.revision === undefined ? "" : `@${context.revision}`;
  return context.file === undefined
    ? `${context.repository}${revision}`
    : `${context.file} of ${context.repository}${revision}`;
}

/** A model source (folder, URL, Hub repository, in-memory files) has no file by that name. */
export class ModelFileNotFoundError extends PeftjsError {
  /** The source, as its `description` names it. */
  readonly source: string;
  /** The missing file. */
  readonly file: string;

  constructor(source: string, file: string, detail = "") {
    super("model_file_not_found", `${source} has no ${file}${detail === "" ? "" : `: ${detail}`}`);
    this.source = source;
    this.file = file;
  }
}

/**
 * The Hub does not know the repository, or hides it (private without a valid token): HTTP 401/404 with
 * `X-Error-Code: RepoNotFound`.
 */
export class HubRepositoryNotFoundError extends PeftjsError {
  readonly repository: string;

  constructor(context: HubErrorContext, endpoint: string, status: number) {
    super(
      "hub_repository_not_found",
      `${where(context)}: repository ${context.repository} not found on ${endpoint} (HTTP ${status}); check the id, and pass an access token (token option or HF_TOKEN) if it is private`,
    );
    this.repository = context.repository;
  }
}

/** The repository is gated and the token (if any) has not been granted access: HTTP 403 `GatedRepo`. */
export class HubGatedRepositoryError extends PeftjsError {
  readonly repository: string;

  constructor(context: HubErrorContext, endpoint: string) {
    super(
      "hub_gated_repository",
      `${where(context)}: ${context.repository} is gated on ${endpoint}; accept its conditions on the Hub and pass a token of that account (token option or HF_TOKEN)`,
    );
    this.repository = context.repository;
  }
}

/** The Hub refused the access token ("Invalid credentials in Authorization header"). */
export class HubAuthenticationError extends PeftjsError {
  readonly repository: string;

  constructor(context: HubErrorContext, endpoint: string) {
    super(
      "hub_authentication",
      `${where(context)}: ${endpoint} refused the access token (invalid credentials); check the token option or HF_TOKEN`,
    );
    this.repository = context.repository;
  }
}

/** The repository exists but has no such branch, tag or commit: HTTP 404 `RevisionNotFound`. */
export class HubRevisionNotFoundError extends PeftjsError {
  readonly repository: string;
  readonly revision: string;

  constructor(context: HubErrorContext & { revision: string }, endpoint: string) {
    super(
      "hub_revision_not_found",
      `${where(context)}: revision ${JSON.stringify(context.revision)} not found in ${context.repository} on ${endpoint}`,
    );
    this.repository = context.repository;
    this.revision = context.revision;
  }
}

/** Offline mode (option or `HF_HUB_OFFLINE=1`) and the file is not in the cache. */
export class HubOfflineError extends PeftjsError {
  readonly repository: string;
  readonly file: string | undefined;

  constructor(context: HubErrorContext, cache: string) {
    super(
      "hub_offline",
      `${where(context)} is not in the cache ${cache} and offline mode is on (HF_HUB_OFFLINE); download it once online`,
    );
    this.repository = context.repository;
    this.file = context.file;
  }
}

/**
 * A Hub request failed otherwise: no connection, a server error, a response without the Hub's headers
 * (`X-Repo-Commit`, `ETag`), or a download of the wrong size. When the file was cached it is used instead.
 */
export class HubRequestError extends PeftjsError {
  readonly repository: string;
  /** The HTTP status, when there was a response. */
  readonly status: number | undefined;

  constructor(context: HubErrorContext, message: string, options: { cause?: unknown; status?: number } = {}) {
    super("hub_request", `${where(context)}: ${message}`, options);
    this.repository = context.repository;
    this.status = options.status;
  }
}
