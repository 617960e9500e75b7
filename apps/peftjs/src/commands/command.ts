import type { ParseArgsConfig } from "node:util";
import type { FileRoles } from "../lib/file-plan.js";

/** Parsed flag values, as `node:util` `parseArgs` returns them. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** One sub-command of the `peftjs` command line. */
export interface Command {
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** Flags, in `node:util` `parseArgs` form. */
  readonly options: NonNullable<ParseArgsConfig["options"]>;
  /** How many positional arguments the command takes (default none; more are refused). */
  readonly positionals?: { readonly min: number; readonly max: number; readonly name: string };
  /**
   * The files the command reads and writes, by flag: all are checked before the command runs (inputs exist,
   * outputs are creatable, no output aliases an input or another output). See `lib/file-plan.ts`.
   */
  readonly files?: FileRoles;
  /** Runs the command; throws a peftjs error for user mistakes. */
  run(values: FlagValues, positionals: string[]): Promise<void>;
}
