import { PeftjsError } from "@peftjs/io";

/** A model repository on the Hugging Face Hub and the revision (branch, tag or commit) to read. */
export interface HubModelId {
  /** `namespace/name` (or a bare legacy name such as `gpt2`). */
  readonly repository: string;
  /** A branch, tag or 40-character commit hash; `main` by default. */
  readonly revision: string;
}

/** A string that is not a valid Hub model id. */
export class HubModelIdError extends PeftjsError {
  constructor(message: string) {
    super("hub_model_id", message);
  }
}

/** The Hub's default branch. */
export const DEFAULT_REVISION = "main";

/** huggingface_hub's `validate_repo_id`: `[namespace/]name`, word characters, `-`, `_`, `.`; ≤ 96 per part. */
const repositoryPattern = /^(?:\b[\w\-.]+\b\/)?\b[\w\-.]{1,96}\b$/u;
/** A full commit hash (huggingface_hub's `REGEX_COMMIT_HASH`). */
export const COMMIT_HASH_PATTERN = /^[0-9a-f]{40}$/;

/** True when `text` is a valid repository id (`namespace/name` or a bare name), without a revision. */
export function isHubRepository(text: string): boolean {
  return (
    repositoryPattern.test(text) && !text.includes("--") && !text.includes("..") && !text.endsWith(".git")
  );
}

/**
 * Parses `namespace/name` or `namespace/name@revision` (the revision may contain `/`, e.g.
 * `org/model@refs/pr/1`). `options.revision` applies when the text has none; both at once must agree.
 *
 * @throws HubModelIdError for an invalid id or contradicting revisions.
 */
export function parseHubModelId(text: string, options: { revision?: string } = {}): HubModelId {
  const at = text.indexOf("@");
  const repository = at < 0 ? text : text.slice(0, at);
  const inlineRevision = at < 0 ? undefined : text.slice(at + 1);
  if (!isHubRepository(repository)) {
    throw new HubModelIdError(
      `${JSON.stringify(text)} is not a Hub model id: expected namespace/name (letters, digits, "-", "_", "."; no "--" or "..") with an optional @revision`,
    );
  }
  if (inlineRevision === "")
    throw new HubModelIdError(`${JSON.stringify(text)} has an empty revision after "@"`);
  if (inlineRevision !== undefined && options.revision !== undefined && inlineRevision !== options.revision) {
    throw new HubModelIdError(
      `${JSON.stringify(text)} names revision ${inlineRevision} but the revision option is ${options.revision}`,
    );
  }
  return { repository, revision: inlineRevision ?? options.revision ?? DEFAULT_REVISION };
}

/** `namespace/name@revision` (the revision left out when it is `main`). */
export function formatHubModelId(id: HubModelId): string {
  return id.revision === DEFAULT_REVISION ? id.repository : `${id.repository}@${id.revision}`;
}
