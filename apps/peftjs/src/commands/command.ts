import type { ParseArgsConfig } from "node:util";

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
  /** Runs the command; throws a peftjs error for user mistakes. */
  run(values: FlagValues, positionals: string[]): Promise<void>;
}
