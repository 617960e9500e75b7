/**
 * Resolves a `--model` / `--tokenizer` / `--adapter` argument that may be a folder or a Hugging Face Hub id,
 * and opens it as a model source. Hub access follows huggingface_hub's environment (`HF_ENDPOINT`, `HF_TOKEN`
 * or the `hf auth login` token file, `HF_HUB_OFFLINE`, `HF_HUB_CACHE` / `HF_HOME`), so files Python already
 * downloaded are reused and vice versa; download progress is drawn on stderr when it is a terminal.
 */
import { existsSync } from "node:fs";
import { isHubRepository, type ModelSource } from "@peftjs/models";
import { openModelSource } from "@peftjs/models/node";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import type { FlagValues } from "../commands/command.js";
import { ProgressBar } from "../terminal.js";
import { requiredString } from "./cli-options.js";

/**
 * The location a flag names: `embedded` (the stories260K model shipped with peftjs), an existing folder, or a
 * Hub id `org/name[@revision]` (a namespace is required, so that a mistyped folder never goes to the network).
 *
 * @throws CliUsageError for anything else, naming the flag and the value.
 */
export function modelLocation(values: FlagValues, flag: string): string {
  const value = requiredString(values, flag);
  if (value === "embedded") return embeddedModelDir;
  if (existsSync(value)) return value;
  const repository = value.split("@")[0] ?? "";
  if (repository.includes("/") && isHubRepository(repository)) return value;
  throw new CliUsageError(
    `--${flag} ${value} is neither an existing folder nor a Hub model id (org/name[@revision])`,
  );
}

/** Opens a location from {@link modelLocation}; Hub downloads show a progress bar per file on a terminal. */
export async function openModelLocation(location: string): Promise<ModelSource> {
  const bars = new Map<string, ProgressBar>();
  return openModelSource(location, {
    onProgress: ({ file, loaded, total }) => {
      if (total === undefined) return;
      let bar = bars.get(file);
      if (bar === undefined) {
        bar = new ProgressBar(`downloading ${file}`, total);
        bars.set(file, bar);
      }
      bar.update(loaded);
      if (loaded >= total) bar.finish();
    },
  });
}
