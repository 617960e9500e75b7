/**
 * The Hugging Face cache layout, exactly as huggingface_hub writes it (`file_download.py`), so that Python and
 * peftjs share one cache:
 *
 * ```
 * <cache>/models--<org>--<name>/
 *   blobs/<etag>                         file contents, named by ETag (git sha1, or sha256 for LFS files)
 *   snapshots/<commit>/<file>            relative symlinks to ../../blobs/<etag>
 *   refs/<revision>                      the commit a branch or tag pointed to at the last download
 *   .no_exist/<commit>/<file>            empty markers for files known to be absent at that commit
 * ```
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { environmentVariables } from "../hub-options.js";

/** `~` and `~/...` expanded as Python's `os.path.expanduser` does (other forms are left alone). */
function expandUser(path: string): string {
  return path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
}

/** `HF_HOME`: default `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function huggingFaceHome(): string {
  const environment = environmentVariables();
  return expandUser(
    environment.HF_HOME ?? join(environment.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface"),
  );
}

/** The hub cache: `HF_HUB_CACHE`, else the legacy `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`. */
export function defaultHubCacheDirectory(): string {
  const environment = environmentVariables();
  return expandUser(
    environment.HF_HUB_CACHE ?? environment.HUGGINGFACE_HUB_CACHE ?? join(huggingFaceHome(), "hub"),
  );
}

/** Where `hf auth login` keeps the token: `HF_TOKEN_PATH`, else `$HF_HOME/token`. */
export function tokenFilePath(): string {
  return expandUser(environmentVariables().HF_TOKEN_PATH ?? join(huggingFaceHome(), "token"));
}

/** `models--org--name`: huggingface_hub's `repo_folder_name` for a model repository. */
export function repositoryFolderName(repository: string): string {
  return ["models", ...repository.split("/")].join("--");
}

/** The paths of one repository in the cache. */
export class RepositoryCachePaths {
  /** `<cache>/models--org--name`. */
  readonly root: string;

  constructor(
    readonly cacheDirectory: string,
    readonly repository: string,
  ) {
    this.root = join(cacheDirectory, repositoryFolderName(repository));
  }

  blob(etag: string): string {
    return join(this.root, "blobs", etag);
  }

  pointer(commit: string, file: string): string {
    return join(this.root, "snapshots", commit, ...file.split("/"));
  }

  snapshot(commit: string): string {
    return join(this.root, "snapshots", commit);
  }

  ref(revision: string): string {
    return join(this.root, "refs", ...revision.split("/"));
  }

  noExist(commit: string, file: string): string {
    return join(this.root, ".no_exist", commit, ...file.split("/"));
  }
}
