import { existsSync } from "node:fs";
import { basename, resolve } from "node:path";
import { CliUsageError } from "../cli-error.js";
import { hubRepositoryName, isHubId } from "./model-location.js";

/** One `--adapter [NAME=]DIR[:WEIGHT]` value, taken apart. */
export interface AdapterSpec {
  /** The flag value as given. */
  readonly spec: string;
  /** The adapter's name: `NAME=` when given, else the folder's name. */
  readonly name: string;
  /** The adapter folder. */
  readonly path: string;
  /** The weight after the last `:`, or `undefined` when none was given. */
  readonly weight: number | undefined;
}

const namePattern = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)=(.+)$/s;

/**
 * Parses `[NAME=]DIR[:WEIGHT]` (DIR may be a Hub id `org/name[@revision]`, named `name` by default). The part after the last `:` is a weight only when it is a number (so
 * `runs:v2/adapter` is a folder), and `NAME=` is a name only when it looks like one; when the value as a
 * whole (or without the name) is an existing path, that path wins, so any folder can be named as it is.
 */
export function parseAdapterSpec(spec: string, flag = "adapter"): AdapterSpec {
  let rest = spec;
  let name: string | undefined;
  const named = namePattern.exec(spec);
  if (named !== null && !existsSync(spec)) {
    name = named[1] as string;
    rest = named[2] as string;
  }
  let path = rest;
  let weight: number | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > 0 && !existsSync(rest)) {
    const tail = rest.slice(colon + 1);
    if (tail.trim() !== "" && Number.isFinite(Number(tail))) {
      path = rest.slice(0, colon);
      weight = Number(tail);
    }
  }
  if (path === "") throw new CliUsageError(`--${flag} ${spec} names no folder`);
  const defaultName = isHubId(path) ? hubRepositoryName(path) : basename(resolve(path));
  return { spec, name: name ?? (defaultName || "adapter"), path, weight };
}

/**
 * Parses every value of a repeated `--adapter` flag. Names must differ (give `NAME=` to tell two folders of
 * the same name apart); `weights` says whether a weight may be given, and which one is the default.
 */
export function parseAdapterSpecs(
  specs: readonly string[],
  options: { flag?: string; weights: "required" | "optional" | "none" },
): (AdapterSpec & { weight: number })[] {
  const flag = options.flag ?? "adapter";
  const parsed = specs.map((spec) => parseAdapterSpec(spec, flag));
  const seen = new Map<string, string>();
  for (const entry of parsed) {
    const other = seen.get(entry.name);
    if (other !== undefined) {
      throw new CliUsageError(
        `--${flag} ${entry.spec} and --${flag} ${other} are both named "${entry.name}"; name them, e.g. --${flag} a=${entry.path}`,
      );
    }
    seen.set(entry.name, entry.spec);
    if (entry.weight === undefined && options.weights === "required") {
      throw new CliUsageError(
        `--${flag} ${entry.spec} needs a weight: write it as DIR:WEIGHT, e.g. ${entry.spec}:0.5`,
      );
    }
    if (entry.weight !== undefined && options.weights === "none") {
      throw new CliUsageError(
        `--${flag} ${entry.spec}: this command takes no adapter weight (and no folder ${entry.spec} exists)`,
      );
    }
  }
  return parsed.map((entry) => ({ ...entry, weight: entry.weight ?? 1 }));
}
