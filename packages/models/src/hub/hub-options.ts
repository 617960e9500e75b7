/**
 * Options shared by every Hub loader, with huggingface_hub's environment variables as defaults
 * (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`; the cache folder ones are read by the Node cache).
 */

/** How far a download has come; `total` is unknown when the server does not say. */
export interface DownloadProgress {
  /** The repository file (or URL file name) being downloaded. */
  readonly file: string;
  /** Bytes received so far. */
  readonly loaded: number;
  /** The file's size in bytes, when known. */
  readonly total: number | undefined;
}

/** Options of the Hub model sources. */
export interface HubOptions {
  /** The Hub's address (default `HF_ENDPOINT`, else `https://huggingface.co`), e.g. a mirror or a test server. */
  readonly endpoint?: string;
  /**
   * The access token for private and gated repositories (default `HF_TOKEN`, and in Node the token file that
   * `hf auth login` writes); `false` never sends one.
   */
  readonly token?: string | false;
  /** A branch, tag or commit hash (default `main`; a `@revision` in the id wins only if this is unset). */
  readonly revision?: string;
  /** Use the cache only, never the network (default: `HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE` set to 1/ON/YES/TRUE). */
  readonly offline?: boolean;
  /** The fetch implementation (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
  /** Called as each download progresses. */
  readonly onProgress?: (progress: DownloadProgress) => void;
}

/** The process environment where there is one (Node), else empty (browsers). */
export function environmentVariables(): Readonly<Record<string, string | undefined>> {
  const host = globalThis as { process?: { env?: Record<string, string | undefined> } };
  return host.process?.env ?? {};
}

/** huggingface_hub's `_is_true`: 1, ON, YES, TRUE in any case. */
export function isTrueSetting(value: string | undefined): boolean {
  return value !== undefined && ["1", "ON", "YES", "TRUE"].includes(value.toUpperCase());
}

/** The Hub endpoint without a trailing slash: the option, `HF_ENDPOINT`, or `https://huggingface.co`. */
export function hubEndpoint(options: HubOptions): string {
  const endpoint = options.endpoint ?? environmentVariables().HF_ENDPOINT ?? "https://huggingface.co";
  return endpoint.replace(/\/+$/, "");
}

/** Offline mode: the option, else `HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`. */
export function isOffline(options: HubOptions): boolean {
  if (options.offline !== undefined) return options.offline;
  const environment = environmentVariables();
  return isTrueSetting(environment.HF_HUB_OFFLINE ?? environment.TRANSFORMERS_OFFLINE);
}

/** The token from the option or `HF_TOKEN` (the Node cache also reads the token file); undefined = none. */
export function environmentToken(options: HubOptions): string | undefined {
  if (options.token === false) return undefined;
  if (options.token !== undefined) return options.token;
  const environment = environmentVariables();
  const token = environment.HF_TOKEN ?? environment.HUGGING_FACE_HUB_TOKEN;
  return token === undefined || token.trim() === "" ? undefined : token.trim();
}

/**
 * The URL of a repository file, as huggingface_hub's `hf_hub_url`:
 * `{endpoint}/{repository}/resolve/{revision}/{file}` (revision fully escaped, the file path escaped per
 * segment).
 */
export function hubFileUrl(endpoint: string, repository: string, revision: string, file: string): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${repository}/resolve/${encodeURIComponent(revision)}/${path}`;
}
