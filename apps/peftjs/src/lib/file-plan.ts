import { constants, existsSync } from "node:fs";
import { access, lstat, readdir, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { embeddedModelDir } from "../assets.js";
import { CliUsageError } from "../cli-error.js";
import type { FlagValues } from "../commands/command.js";
import { parseAdapterSpec } from "./adapter-spec.js";
import { isHubId } from "./model-location.js";

/**
 * What a flag (or the positional arguments) names on disk. Every command declares its files this way, and
 * {@link checkFilePlan} checks them all before the command does any work:
 * - `model`: a model folder, `embedded` (the stories260K shipped with peftjs), or a Hub id;
 * - `input`: an existing file or folder the command reads (`embedded` allowed where `embedded` is set);
 * - `adapters`: adapter folders or Hub ids given as `[NAME=]DIR[:WEIGHT]`, possibly repeated;
 * - `output-folder`: a folder the command creates (it may exist if empty);
 * - `output-file`: a file the command creates (it must not exist).
 */
export type FileRole =
  | { readonly kind: "model" }
  | { readonly kind: "input"; readonly embedded?: boolean }
  | { readonly kind: "adapters" }
  | {
      readonly kind: "output-folder";
      /** Whether an existing non-empty folder may be replaced (the demo replaces its own earlier output). */
      readonly mayReplace?: (folder: string) => Promise<boolean>;
    }
  | { readonly kind: "output-file" };

/** The files of a command: roles by flag name, and the role of the positional arguments. */
export interface FileRoles {
  readonly flags?: Readonly<Record<string, FileRole>>;
  readonly positionals?: FileRole;
}

interface NamedPath {
  /** `--flag` or "the path" for a positional argument. */
  readonly label: string;
  readonly path: string;
}

interface PlannedOutput extends NamedPath {
  readonly kind: "output-folder" | "output-file";
  /** Where it will be, with every existing link on the way resolved. */
  readonly target: string;
}

/** The checked files of one invocation. */
export interface FilePlan {
  /** Real paths of everything the command reads (folders and the files directly in them). */
  readonly inputs: ReadonlyMap<string, string>;
  /** Output paths by flag, resolved. */
  readonly outputs: ReadonlyMap<string, string>;
  /**
   * Hub ids (`org/name[@revision]`) the command reads, with their flags: inputs that are not local paths
   * (a `model` or `adapters` value that is no existing path but reads as a Hub id).
   */
  readonly hubInputs: ReadonlyMap<string, string>;
}

function valuesOf(values: FlagValues, flag: string): string[] {
  const value = values[flag];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter(
    (entry): entry is string => typeof entry === "string",
  );
}

/** The real path of `path`, or where it would be: its nearest existing ancestor resolved, plus the rest. */
async function prospectiveRealPath(path: string): Promise<{ target: string; ancestor: string }> {
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(existing);
      return { target: join(real, ...rest), ancestor: real };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
      const parent = dirname(existing);
      if (parent === existing) return { target: resolve(path), ancestor: existing };
      rest.unshift(basename(existing));
      existing = parent;
    }
  }
}

/** `inner` is `outer` or lies inside it. */
function isWithin(inner: string, outer: string): boolean {
  const path = relative(outer, inner);
  return path === "" || (!path.startsWith(`..${sep}`) && path !== ".." && !path.startsWith(sep));
}

async function addInput(inputs: Map<string, string>, label: string, path: string): Promise<void> {
  if (!existsSync(path)) throw new CliUsageError(`${label} ${path} does not exist`);
  const real = await realpath(path);
  if (!inputs.has(real)) inputs.set(real, label);
  if (!(await stat(real)).isDirectory()) return;
  for (const entry of await readdir(real)) {
    const child = await realpath(join(real, entry)).catch(() => undefined);
    if (child !== undefined && !inputs.has(child)) inputs.set(child, label);
  }
}

/** Checks one output's own path: where it goes must be creatable, and what is there must be usable. */
async function checkOutputPath(output: PlannedOutput, ancestor: string): Promise<void> {
  const { label, path, kind } = output;
  const info = await lstat(path).catch(() => undefined);
  if (info !== undefined) {
    if (kind === "output-file") {
      throw new CliUsageError(
        `${label} ${path} already exists; peftjs never overwrites a file: remove it or choose another path`,
      );
    }
    if (info.isSymbolicLink() || !info.isDirectory()) {
      throw new CliUsageError(
        `${label} ${path} already exists and is not a folder${info.isSymbolicLink() ? " (it is a link)" : ""}`,
      );
    }
    if (isWithin(process.cwd(), output.target)) {
      throw new CliUsageError(`${label} ${path} is the current folder (or contains it); choose a new folder`);
    }
    return;
  }
  const ancestorInfo = await stat(ancestor);
  if (!ancestorInfo.isDirectory()) {
    throw new CliUsageError(`${label} ${path} cannot be created: ${ancestor} is a file, not a folder`);
  }
  try {
    await access(ancestor, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new CliUsageError(
      `${label} ${path} cannot be created: no permission to write in ${ancestor} (${(error as NodeJS.ErrnoException).code})`,
    );
  }
}

/**
 * Checks every file a command names before it starts working, so that a long run never fails at the end
 * because of a path, and nothing is ever overwritten:
 * - inputs exist (a Hub id is an input that is not a local path: the Hub or the cache answers for it);
 * - an output is not an input and holds none (paths compared with links resolved), and two outputs are not
 *   the same path and not inside one another;
 * - an output file does not exist; an output folder does not exist or is empty (or `mayReplace` allows it),
 *   and is not the current folder;
 * - the folder an output goes into exists or can be created, and is writable.
 * @throws CliUsageError naming the flag and the path
 */
export async function checkFilePlan(
  roles: FileRoles,
  values: FlagValues,
  positionals: readonly string[],
): Promise<FilePlan> {
  const inputs = new Map<string, string>();
  const hubInputs = new Map<string, string>();
  const outputs: PlannedOutput[] = [];
  const named: [FileRole, NamedPath][] = [];
  for (const [flag, role] of Object.entries(roles.flags ?? {})) {
    for (const path of valuesOf(values, flag)) named.push([role, { label: `--${flag}`, path }]);
  }
  if (roles.positionals !== undefined) {
    for (const path of positionals) named.push([roles.positionals, { label: "the path", path }]);
  }
  for (const [role, { label, path }] of named) {
    const location = role.kind === "adapters" ? parseAdapterSpec(path, label.slice(2)).path : path;
    if ((role.kind === "model" || role.kind === "adapters") && isHubId(location)) {
      hubInputs.set(location, label);
    } else if (role.kind === "model" || role.kind === "input") {
      const embedded = role.kind === "model" || role.embedded === true;
      await addInput(inputs, label, embedded && path === "embedded" ? embeddedModelDir : path);
    } else if (role.kind === "adapters") {
      await addInput(inputs, label, location);
    }
  }
  for (const [role, { label, path }] of named) {
    if (role.kind !== "output-folder" && role.kind !== "output-file") continue;
    if (path === "") throw new CliUsageError(`${label} is empty`);
    const { target, ancestor } = await prospectiveRealPath(path);
    const output: PlannedOutput = { label, path, kind: role.kind, target };
    for (const [input, inputLabel] of inputs) {
      if (isWithin(input, target)) {
        throw new CliUsageError(
          input === target
            ? `${label} ${path} is also an input of this command (${inputLabel}); peftjs never writes onto its inputs`
            : `${label} ${path} holds ${input}, an input of this command (${inputLabel}); peftjs never writes onto its inputs`,
        );
      }
    }
    for (const other of outputs) {
      if (isWithin(target, other.target) || isWithin(other.target, target)) {
        throw new CliUsageError(
          target === other.target
            ? `${other.label} and ${label} are the same path (${path}); give each output its own`
            : `${other.label} ${other.path} and ${label} ${path} are inside one another; give each output its own place`,
        );
      }
    }
    const existingFolder = role.kind === "output-folder" && (await isNonEmptyFolder(path));
    if (existingFolder && !(role.mayReplace !== undefined && (await role.mayReplace(path)))) {
      throw new CliUsageError(
        `${label} ${path} already exists and is not empty; peftjs never overwrites: remove it or choose another folder`,
      );
    }
    await checkOutputPath(output, ancestor);
    outputs.push(output);
  }
  return {
    inputs,
    hubInputs,
    outputs: new Map(outputs.map((output) => [output.label.replace(/^--/, ""), output.target])),
  };
}

async function isNonEmptyFolder(path: string): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) return false;
  return (await readdir(path)).length > 0;
}
