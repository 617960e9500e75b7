/**
 * Resolves a `--model` / `--tokenizer` / `--adapter` argument that may be a folder or a Hugging Face Hub id,
 * and opens it as a model source. Hub access follows huggingface_hub's environment (`HF_ENDPOINT`, `HF_TOKEN`
 * or the `hf auth login` token file, `HF_HUB_OFFLINE`, `HF_HUB_CACHE` / `HF_HOME`), so files Python already
 * downloaded are reused and vice versa; `--token` and `--offline` override the environment. Download
 * progress is drawn on stderr only when it is a terminal.
 */
import { existsSync } from "node:fs";
import { isHubRepository, type ModelSource } from "@peftjs/models";
import { openModelSource } from "@peftjs/models/node";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import type { FlagValues } from "../commands/command.js";
import { ProgressBar } from "../terminal.js";
import { requiredString } from "./cli-options.js";

/** The Hub flags every command that reads `--model` or `--adapter` takes (added by the command line itself). */
export const hubFlagOptions = {
  token: { type: "string" },
  offline: { type: "boolean" },
} as const;

/** `--help` lines of {@link hubFlagOptions}. */
export const hubFlagHelp = `Hub ids: --model and --adapter also take org/name[@revision] (a branch, tag or commit), downloaded once into
the Hugging Face cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; shared with Python).
  --token TOKEN     access token for private or gated repositories (default HF_TOKEN, else the token file
                    of "hf auth login")
  --offline         read Hub ids from the cache only, never the network (default: HF_HUB_OFFLINE=1)`;

/** How Hub ids are fetched in this run: the flags of {@link hubFlagOptions}, else the environment. */
export interface HubAccess {
  readonly token?: string;
  readonly offline?: boolean;
}

let hubAccess: HubAccess = {};
const openSources = new Map<string, Promise<ModelSource>>();

/** Sets the Hub access of this run from `--token` / `--offline` (called once by the command line). */
export function configureHubAccess(values: FlagValues): void {
  const token = values.token;
  if (token !== undefined && (typeof token !== "string" || token.trim() === "")) {
    throw new CliUsageError("--token is empty");
  }
  hubAccess = {
    ...(typeof token === "string" ? { token: token.trim() } : {}),
    ...(values.offline === true ? { offline: true } : {}),
  };
  openSources.clear();
}

/**
 * True when `value` is not an existing path and reads as a Hub id `org/name[@revision]` (a namespace is
 * required, so that a mistyped folder name never goes to the network).
 */
export function isHubId(value: string): boolean {
  if (existsSync(value)) return false;
  const at = value.indexOf("@");
  const repository = at < 0 ? value : value.slice(0, at);
  if (at >= 0 && at === value.length - 1) return false;
  return repository.includes("/") && isHubRepository(repository);
}

/** The repository name of a Hub id (`org/name@rev` → `name`), e.g. as a default adapter name. */
export function hubRepositoryName(id: string): string {
  const at = id.indexOf("@");
  const repository = at < 0 ? id : id.slice(0, at);
  return repository.slice(repository.lastIndexOf("/") + 1);
}

/**
 * The location a flag names: `embedded` (the stories260K model shipped with peftjs), an existing folder, or a
 * Hub id `org/name[@revision]`.
 *
 * @throws CliUsageError for anything else, naming the flag and the value.
 */
export function modelLocation(values: FlagValues, flag: string): string {
  const value = requiredString(values, flag);
  if (value === "embedded") return embeddedModelDir;
  if (existsSync(value) || isHubId(value)) return value;
  throw new CliUsageError(
    `--${flag} ${value} is neither an existing folder nor a Hub model id (org/name[@revision])`,
  );
}

function progressReporter(): (progress: { file: string; loaded: number; total: number | undefined }) => void {
  const bars = new Map<string, ProgressBar>();
  return ({ file, loaded, total }) => {
    if (total === undefined) return;
    let bar = bars.get(file);
    if (bar === undefined) {
      bar = new ProgressBar(`downloading ${file}`, total);
      bars.set(file, bar);
    }
    bar.update(loaded);
    if (loaded >= total) bar.finish();
  };
}

/**
 * Opens a location from {@link modelLocation} (a folder or a Hub id) with this run's Hub access; Hub
 * downloads show a progress bar per file on a terminal. A location opened twice in one run (the model and
 * its tokenizer) is the same source, so its files are resolved once.
 */
export function openModelLocation(location: string): Promise<ModelSource> {
  let source = openSources.get(location);
  if (source === undefined) {
    source = openModelSource(location, { ...hubAccess, onProgress: progressReporter() });
    openSources.set(location, source);
  }
  return source;
}
